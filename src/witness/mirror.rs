//! The mirror: polls the log's checkpoint, fetches the new entries, recomputes the tree from
//! them (its own tiles, never the log's), stores them, and cosigns what it verified.
//!
//! A poll reads the log's signed checkpoint of size N, then catches up from the mirrored size
//! M in chunks of whole entry bundles. A chunk ending at k < N is verified by a consistency
//! proof from k to N built from the log's hash tiles (untrusted material checked against the
//! root the witness computed itself and the root the log signed); the chunk ending at N must
//! give the signed root exactly. Only verified chunks are committed (see `store::mirror`).
//! If the log's entries do not give what it signed, the poll stops and an alarm is recorded.
//!
//! Crash recovery: a chunk is one transaction, so after a crash the mirror resumes from the
//! last committed chunk; its right edge is rebuilt from its own stored tiles and checked
//! against its stored root.

use std::time::Duration;

use futures::StreamExt;

use crate::ledger::{
    Checkpoint, CompactRange, Hash, Note, TILE_WIDTH, Tile, TileEdge, TileSet, consistency_plan,
    empty_root, hashes_equal, leaf_hash, tile_width, tiles_for_nodes, tiles_for_plan,
    verify_consistency,
};
use crate::store::mirror::{self as store_mirror, MirrorChunk, MirrorState};
use crate::store::witness::{self as store_witness, NewAlarm};

use super::cosigner::{now_secs, record_alarm};
use super::error::WitnessError;
use super::log_client::LogClient;
use super::request::AddCheckpoint;
use super::server::WitnessNode;

/// Bundles fetched at once.
const FETCH_CONCURRENCY: usize = 8;

/// What one poll did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollOutcome {
    /// The log's checkpoint size.
    pub log_size: u64,
    /// The mirror's size after the poll.
    pub mirrored: u64,
    /// The size cosigned by this poll, if it cosigned.
    pub cosigned: Option<u64>,
}

/// Runs the mirror until `stop` fires: a poll at start, then every `interval`.
pub async fn run(
    node: std::sync::Arc<WitnessNode>,
    client: LogClient,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    tracing::info!(log = client.base(), "mirror started");
    loop {
        match poll_once(&node, &client).await {
            Ok(o) => {
                tracing::debug!(log_size = o.log_size, mirrored = o.mirrored, "mirror poll");
                node.metrics.mirrored(o.mirrored, now_secs());
            }
            Err(e) => {
                node.metrics.mirror_failed();
                tracing::warn!(error = %e, "mirror poll failed");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
    }
    tracing::info!("mirror stopped");
}

/// One poll: fetch the checkpoint, catch up, cosign.
///
/// # Errors
/// Fetch errors; [`WitnessError::Misbehaviour`] when the log's data contradict what it signed
/// (an alarm is recorded then); the cosigner's refusals; storage errors.
pub async fn poll_once(
    node: &WitnessNode,
    client: &LogClient,
) -> Result<PollOutcome, WitnessError> {
    let raw = client.checkpoint().await?;
    let (cp, log_note, _) = node.cosigner.open(&raw)?;
    let note_text = log_note.to_text();
    let state = {
        let conn = node.store.conn().await?;
        store_mirror::state(&**conn).await?
    };
    let (mut size, root) = match &state {
        Some(s) => (s.size, s.root),
        None => (0, empty_root()),
    };
    if cp.size < size {
        // A stale checkpoint: it must still describe a prefix of what we hold.
        let ours = root_at(node, cp.size, size).await?;
        if !hashes_equal(&ours, &cp.root) {
            return Err(mirror_alarm(node, &cp, &note_text, state.as_ref(), "split-view",
                "the log signed a checkpoint whose root differs from the mirrored tree at that size").await);
        }
        return Ok(PollOutcome {
            log_size: cp.size,
            mirrored: size,
            cosigned: None,
        });
    }
    if cp.size == size {
        if !hashes_equal(&root, &cp.root) {
            return Err(mirror_alarm(
                node,
                &cp,
                &note_text,
                state.as_ref(),
                "split-view",
                "the log signed the mirrored size with another root",
            )
            .await);
        }
        if state.is_none() {
            // The log is empty: record that, so the mirror has a state and a checkpoint.
            let mut conn = node.store.conn().await?;
            let tx = conn.transaction().await?;
            store_mirror::write_chunk(
                &tx,
                &MirrorChunk {
                    origin: &cp.origin,
                    start: 0,
                    entries: &[],
                    tiles: &[],
                    size: 0,
                    root,
                    note: Some(&note_text),
                },
            )
            .await?;
            tx.commit().await?;
        } else if state.as_ref().and_then(|s| s.note.as_deref()) != Some(note_text.as_str()) {
            let conn = node.store.conn().await?;
            store_mirror::set_note(&**conn, size, &root, &note_text).await?;
        }
    } else {
        let mut edge = load_edge(node, size, &root).await?;
        while size < cp.size {
            let (next, appended, entries) = fetch_chunk(node, client, &edge, cp.size).await?;
            verify_chunk(
                node,
                client,
                &cp,
                &note_text,
                state.as_ref(),
                next,
                &appended.root,
            )
            .await?;
            let final_chunk = next == cp.size;
            let mut conn = node.store.conn().await?;
            let tx = conn.transaction().await?;
            store_mirror::write_chunk(
                &tx,
                &MirrorChunk {
                    origin: &cp.origin,
                    start: size,
                    entries: &entries,
                    tiles: &appended.tiles,
                    size: next,
                    root: appended.root,
                    note: final_chunk.then_some(note_text.as_str()),
                },
            )
            .await?;
            tx.commit().await?;
            size = next;
            edge = appended.edge;
            node.metrics.mirrored(size, now_secs());
        }
    }
    let cosigned = cosign_mirrored(node, &cp, &log_note, &raw).await?;
    Ok(PollOutcome {
        log_size: cp.size,
        mirrored: size,
        cosigned,
    })
}

/// Fetches the entries from the edge's size up to the end of the next chunk (whole bundles,
/// at most the configured number, never beyond `target`). Returns the chunk's end, the
/// appended tiles and root, and the entries.
async fn fetch_chunk(
    node: &WitnessNode,
    client: &LogClient,
    edge: &TileEdge,
    target: u64,
) -> Result<(u64, crate::ledger::TileAppend, Vec<Vec<u8>>), WitnessError> {
    let start = edge.size();
    let bundles = node.config.mirror_chunk_bundles.max(1) as u64;
    let end = ((start / TILE_WIDTH).saturating_add(bundles))
        .saturating_mul(TILE_WIDTH)
        .min(target);
    let first = start / TILE_WIDTH;
    let last = (end - 1) / TILE_WIDTH;
    let tiles: Vec<Tile> = (first..=last)
        .map(|index| Tile {
            level: 0,
            index,
            width: tile_width(0, index, target).unwrap_or(TILE_WIDTH as u16),
        })
        .collect();
    // Each fetch owns a client handle (a cheap clone), so the stream is `Send` for any lifetime.
    let fetched: Vec<Result<Vec<Vec<u8>>, WitnessError>> = futures::stream::iter(tiles.clone())
        .map(|t| {
            let c = client.clone();
            async move { c.entries(t).await }
        })
        .buffered(FETCH_CONCURRENCY)
        .collect()
        .await;
    let mut entries = Vec::with_capacity((end - start) as usize);
    for (tile, bundle) in tiles.iter().zip(fetched) {
        let bundle = bundle?;
        let base = tile.index * TILE_WIDTH;
        for (i, e) in bundle.into_iter().enumerate() {
            let idx = base + i as u64;
            if idx >= start && idx < end {
                entries.push(e);
            }
        }
    }
    if entries.len() as u64 != end - start {
        return Err(WitnessError::Fetch(format!(
            "got {} entries for [{start}, {end})",
            entries.len()
        )));
    }
    let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    let appended = edge.append(&leaves)?;
    Ok((end, appended, entries))
}

/// Checks a chunk's root against the signed checkpoint: equal at its size, or through a
/// consistency proof built from the log's hash tiles. A failure is recorded as an alarm.
async fn verify_chunk(
    node: &WitnessNode,
    client: &LogClient,
    cp: &Checkpoint,
    note_text: &str,
    state: Option<&MirrorState>,
    size: u64,
    root: &Hash,
) -> Result<(), WitnessError> {
    if size == cp.size {
        if hashes_equal(root, &cp.root) {
            return Ok(());
        }
        return Err(mirror_alarm(
            node,
            cp,
            note_text,
            state,
            "mirror-mismatch",
            "the log's entries do not give the root it signed",
        )
        .await);
    }
    let plan = consistency_plan(size, cp.size).map_err(WitnessError::BadProof)?;
    let wanted = tiles_for_plan(&plan, cp.size)?;
    let mut set = TileSet::new();
    let fetched: Vec<(Tile, Result<Vec<u8>, WitnessError>)> = futures::stream::iter(wanted)
        .map(|t| {
            let c = client.clone();
            async move { (t, c.hash_tile(t).await) }
        })
        .buffered(FETCH_CONCURRENCY)
        .collect()
        .await;
    for (t, data) in fetched {
        set.insert(t, data?)?;
    }
    let proof = plan
        .assemble_with(|id| set.node(id))
        .map_err(WitnessError::BadProof)?;
    match verify_consistency(size, cp.size, &proof, root, &cp.root) {
        Ok(()) => Ok(()),
        Err(_) => Err(mirror_alarm(
            node,
            cp,
            note_text,
            state,
            "mirror-mismatch",
            "the log's entries are not a prefix of the tree it signed (by its own tiles)",
        )
        .await),
    }
}

/// Records a mirror alarm and returns the error to stop the poll with.
async fn mirror_alarm(
    node: &WitnessNode,
    cp: &Checkpoint,
    note_text: &str,
    state: Option<&MirrorState>,
    kind: &'static str,
    detail: &str,
) -> WitnessError {
    let detail = format!("{detail} (size {})", cp.size);
    let recorded = match node.store.conn().await {
        Ok(conn) => record_alarm(
            &**conn,
            &node.metrics,
            &NewAlarm {
                origin: &cp.origin,
                kind,
                detail: &detail,
                held_note: state.and_then(|s| s.note.as_deref()),
                offered_note: note_text,
                proof: None,
            },
        )
        .await
        .err(),
        Err(e) => Some(e.into()),
    };
    if let Some(e) = recorded {
        tracing::error!(error = %e, "could not record a mirror alarm");
    }
    node.metrics.refused(kind);
    WitnessError::Misbehaviour { kind, detail }
}

/// Cosigns the mirrored checkpoint through the cosigner, with a proof from the witness's own
/// tiles from whatever size it last cosigned. Nothing to do when that is already larger, or
/// when this very checkpoint was cosigned before.
async fn cosign_mirrored(
    node: &WitnessNode,
    cp: &Checkpoint,
    log_note: &Note,
    raw: &[u8],
) -> Result<Option<u64>, WitnessError> {
    // One retry: a push may move the cosigned size between our read and the cosigner's lock.
    for _ in 0..2 {
        let held = {
            let conn = node.store.conn().await?;
            let held = store_witness::held(&**conn, &cp.origin).await?;
            if held.as_ref().is_some_and(|h| h.size == cp.size)
                && store_witness::cosignature_for(&**conn, &cp.origin, log_note.text())
                    .await?
                    .is_some()
            {
                return Ok(None);
            }
            held
        };
        let old = held.as_ref().map_or(0, |h| h.size);
        if old > cp.size {
            return Ok(None);
        }
        let proof = if old == 0 || old == cp.size {
            Vec::new()
        } else {
            consistency_from_mirror(node, old, cp.size).await?
        };
        let req = AddCheckpoint {
            old,
            proof,
            note: raw.to_vec(),
        };
        match node.cosigner.add_checkpoint(&node.store, &req).await {
            Ok(c) => return Ok(Some(c.size)),
            Err(WitnessError::SizeMismatch { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Loads the mirror's stored tiles into a set, each cut to the width asked.
async fn mirror_tile_set(node: &WitnessNode, wanted: &[Tile]) -> Result<TileSet, WitnessError> {
    let conn = node.store.conn().await?;
    let rows = store_mirror::tiles(&**conn, wanted).await?;
    let mut set = TileSet::new();
    for w in wanted {
        let (_, data) = rows
            .iter()
            .find(|(t, d)| t.level == w.level && t.index == w.index && d.len() >= w.byte_len())
            .ok_or_else(|| WitnessError::Fetch(format!("mirror tile {} missing", w.path())))?;
        set.insert(*w, data[..w.byte_len()].to_vec())?;
    }
    Ok(set)
}

/// The consistency proof from `from` to `to` out of the mirror's own tiles (`to` mirrored).
pub async fn consistency_from_mirror(
    node: &WitnessNode,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, WitnessError> {
    let plan = consistency_plan(from, to).map_err(WitnessError::BadProof)?;
    let set = mirror_tile_set(node, &tiles_for_plan(&plan, to)?).await?;
    plan.assemble_with(|id| set.node(id))
        .map_err(WitnessError::BadProof)
}

/// The root of the first `size` mirrored entries, from the mirror's tiles at `mirrored`.
pub async fn root_at(node: &WitnessNode, size: u64, mirrored: u64) -> Result<Hash, WitnessError> {
    let ids = CompactRange::node_ids_for(size);
    let set = mirror_tile_set(node, &tiles_for_nodes(&ids, mirrored)?).await?;
    let hashes = ids
        .iter()
        .map(|id| set.node(*id))
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| WitnessError::Fetch("mirror tiles miss a node".into()))?;
    let range = CompactRange::from_parts(size, hashes).map_err(WitnessError::BadProof)?;
    Ok(range.root())
}

/// Rebuilds the mirror's right edge from its stored tiles and checks it against its root.
async fn load_edge(node: &WitnessNode, size: u64, root: &Hash) -> Result<TileEdge, WitnessError> {
    if size == 0 {
        return Ok(TileEdge::new());
    }
    let wanted = TileEdge::tiles_needed(size);
    let conn = node.store.conn().await?;
    let rows = store_mirror::tiles(&**conn, &wanted).await?;
    let mut exact = Vec::new();
    for w in &wanted {
        let (_, d) = rows
            .iter()
            .find(|(t, d)| t.level == w.level && t.index == w.index && d.len() >= w.byte_len())
            .ok_or_else(|| WitnessError::Fetch(format!("mirror edge tile {} missing", w.path())))?;
        exact.push((*w, d[..w.byte_len()].to_vec()));
    }
    let edge = TileEdge::from_tiles(size, exact)?;
    if !hashes_equal(&edge.root(), root) {
        return Err(WitnessError::Fetch(
            "the mirror's stored tiles do not give its stored root".into(),
        ));
    }
    Ok(edge)
}
