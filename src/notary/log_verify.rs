//! `notarium admin log verify`: recompute the whole tree from the stored entries and check
//! every stored checkpoint (root and log signature) and every stored tile against it.
//!
//! Memory stays flat as the log grows: entries are read in chunks, and each tile is compared
//! with the stored one as soon as the recomputation completes it.

use std::collections::HashMap;

use crate::ledger::{Checkpoint, Ed25519Verifier, Tile, TileEdge, leaf_hash};
use crate::store::{Store, StoreError, log as store_log};

/// Entries read per query.
const CHUNK: u64 = 20_000;

/// What the verification found.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// Entries recomputed.
    pub entries: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// Tiles compared.
    pub tiles: u64,
    /// Every mismatch, in words.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// True when nothing was wrong.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Recomputes the log and compares. `origin` and `verifier` are the log's.
pub async fn verify_log(
    store: &Store,
    origin: &str,
    verifier: &Ed25519Verifier,
) -> Result<VerifyReport, StoreError> {
    let client = store.dedicated().await?;
    let mut report = VerifyReport::default();
    let state = store_log::state(&client).await?;
    let size = state.as_ref().map(|s| s.size).unwrap_or(0);
    let checkpoints = store_log::all_checkpoints(&client).await?;
    let mut edge = TileEdge::new();
    // Tiles recomputed but not yet complete (partial) — compared at the end.
    let mut pending: HashMap<(u8, u64), (Tile, Vec<u8>)> = HashMap::new();
    let mut cp_iter = checkpoints.iter().peekable();
    check_checkpoints_at(&mut report, &mut cp_iter, &edge, origin, verifier);
    while edge.size() < size {
        // Stop at the next checkpoint size so its root can be compared exactly.
        let next_cp = cp_iter.peek().map(|(s, _, _)| *s).unwrap_or(size);
        let end = (edge.size() + CHUNK)
            .min(size)
            .min(next_cp.max(edge.size() + 1));
        let rows = client
            .query(
                "SELECT idx, data FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
                &[&(edge.size() as i64), &(end as i64)],
            )
            .await?;
        let mut leaves = Vec::with_capacity(rows.len());
        for (k, r) in rows.iter().enumerate() {
            let idx: i64 = r.get(0);
            let expected = edge.size() + k as u64;
            if idx as u64 != expected {
                report
                    .problems
                    .push(format!("entry {expected} is missing (found {idx} instead)"));
                return Ok(report);
            }
            let data: Vec<u8> = r.get(1);
            leaves.push(leaf_hash(&data));
        }
        if leaves.is_empty() {
            report
                .problems
                .push(format!("entries from {} on are missing", edge.size()));
            return Ok(report);
        }
        let appended = match edge.append(&leaves) {
            Ok(a) => a,
            Err(e) => {
                report.problems.push(format!("tree: {e}"));
                return Ok(report);
            }
        };
        report.entries += leaves.len() as u64;
        let mut full = Vec::new();
        for (t, d) in appended.tiles {
            if t.is_full() {
                pending.remove(&(t.level, t.index));
                full.push((t, d));
            } else {
                pending.insert((t.level, t.index), (t, d));
            }
        }
        compare_tiles(&client, &mut report, &full).await?;
        edge = appended.edge;
        check_checkpoints_at(&mut report, &mut cp_iter, &edge, origin, verifier);
    }
    let partial: Vec<(Tile, Vec<u8>)> = pending.into_values().collect();
    compare_tiles(&client, &mut report, &partial).await?;
    if let Some(st) = &state
        && st.root != edge.root()
    {
        report
            .problems
            .push("log_state root differs from the recomputed root".into());
    }
    for (s, _, _) in cp_iter {
        report.problems.push(format!(
            "checkpoint of size {s} is beyond the stored entries ({size})"
        ));
    }
    Ok(report)
}

fn check_checkpoints_at<'a>(
    report: &mut VerifyReport,
    it: &mut std::iter::Peekable<impl Iterator<Item = &'a (u64, [u8; 32], String)>>,
    edge: &TileEdge,
    origin: &str,
    verifier: &Ed25519Verifier,
) {
    while let Some((s, root, note)) = it.peek() {
        if *s != edge.size() {
            if *s < edge.size() {
                report.problems.push(format!("checkpoint {s} skipped"));
                it.next();
                continue;
            }
            return;
        }
        report.checkpoints += 1;
        if *root != edge.root() {
            report.problems.push(format!(
                "checkpoint at size {s}: stored root differs from the recomputed root"
            ));
        }
        match Checkpoint::open(note.as_bytes(), origin, verifier) {
            Ok((cp, _)) => {
                if cp.size != *s || cp.root != edge.root() {
                    report.problems.push(format!(
                        "checkpoint note at size {s} names size {} and another root",
                        cp.size
                    ));
                }
            }
            Err(e) => report
                .problems
                .push(format!("checkpoint note at size {s}: {e}")),
        }
        it.next();
    }
}

async fn compare_tiles(
    client: &tokio_postgres::Client,
    report: &mut VerifyReport,
    tiles: &[(Tile, Vec<u8>)],
) -> Result<(), StoreError> {
    if tiles.is_empty() {
        return Ok(());
    }
    let wanted: Vec<Tile> = tiles.iter().map(|(t, _)| *t).collect();
    let stored = store_log::tiles(client, &wanted).await?;
    let by_key: HashMap<(u8, u64), (Tile, Vec<u8>)> = stored
        .into_iter()
        .map(|(t, d)| ((t.level, t.index), (t, d)))
        .collect();
    for (t, d) in tiles {
        report.tiles += 1;
        match by_key.get(&(t.level, t.index)) {
            None => report
                .problems
                .push(format!("tile {} is not stored", t.path())),
            Some((st, sd)) => {
                if st.width != t.width || sd != d {
                    report.problems.push(format!(
                        "tile {} differs from the recomputed tile",
                        t.path()
                    ));
                }
            }
        }
    }
    Ok(())
}
