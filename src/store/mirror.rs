//! A witness's mirror of the log in its own database: entries, the hash tiles it computed from
//! them, and the size, root and checkpoint they were verified against.
//!
//! Invariant: [`write_chunk`] writes a chunk's entries, the tiles it changed and `mirror_state`
//! in the caller's one transaction, after checking under a row lock that the state is still at
//! the chunk's start; the caller commits only chunks it verified against a checkpoint signed by
//! the log. So the stored tree is always whole and verified at `mirror_state.size`.

use tokio_postgres::GenericClient;

use super::StoreError;
use crate::ledger::Tile;

/// How far the mirror got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorState {
    /// The log's origin.
    pub origin: String,
    /// Entries mirrored.
    pub size: u64,
    /// Root of those entries.
    pub root: [u8; 32],
    /// The log's checkpoint note at exactly this size, when one was seen.
    pub note: Option<String>,
}

fn to_hash(v: &[u8]) -> [u8; 32] {
    let mut h = [0u8; 32];
    if v.len() == 32 {
        h.copy_from_slice(v);
    }
    h
}

/// The mirror's state; `None` before the first chunk.
pub async fn state(client: &impl GenericClient) -> Result<Option<MirrorState>, StoreError> {
    Ok(client
        .query_opt("SELECT origin, size, root, note FROM mirror_state", &[])
        .await?
        .map(|r| MirrorState {
            origin: r.get(0),
            size: r.get::<_, i64>(1) as u64,
            root: to_hash(&r.get::<_, Vec<u8>>(2)),
            note: r.get(3),
        }))
}

/// Stored tiles by (level, index), each as stored (possibly wider than asked).
pub async fn tiles(
    client: &impl GenericClient,
    wanted: &[Tile],
) -> Result<Vec<(Tile, Vec<u8>)>, StoreError> {
    super::log::tiles_from(client, "mirror_tiles", wanted).await
}

/// Entries `[start, end)` in order.
pub async fn entries(
    client: &impl GenericClient,
    start: u64,
    end: u64,
) -> Result<Vec<Vec<u8>>, StoreError> {
    super::log::entries_from(client, "mirror_entries", start, end).await
}

/// One verified chunk of the log.
#[derive(Debug)]
pub struct MirrorChunk<'a> {
    /// The log's origin.
    pub origin: &'a str,
    /// Index of the first entry; must equal the stored size.
    pub start: u64,
    /// The entries, in order.
    pub entries: &'a [Vec<u8>],
    /// Every tile the chunk changed, with its new bytes.
    pub tiles: &'a [(Tile, Vec<u8>)],
    /// Size after the chunk.
    pub size: u64,
    /// Root after the chunk.
    pub root: [u8; 32],
    /// The log's checkpoint at `size`, when the chunk ends at one.
    pub note: Option<&'a str>,
}

/// Writes a chunk inside the caller's transaction, refusing unless the stored size is still
/// the chunk's start (another mirror task, or a crash, moved it).
pub async fn write_chunk(
    tx: &tokio_postgres::Transaction<'_>,
    c: &MirrorChunk<'_>,
) -> Result<(), StoreError> {
    let at = tx
        .query_opt("SELECT size FROM mirror_state FOR UPDATE", &[])
        .await?
        .map_or(0, |r| r.get::<_, i64>(0) as u64);
    if at != c.start {
        return Err(StoreError::Conflict(format!(
            "the mirror is at {at}, not {}",
            c.start
        )));
    }
    if !c.entries.is_empty() {
        let idx: Vec<i64> = (0..c.entries.len())
            .map(|i| (c.start + i as u64) as i64)
            .collect();
        let data: Vec<&[u8]> = c.entries.iter().map(Vec::as_slice).collect();
        tx.execute(
            "INSERT INTO mirror_entries (idx, data)
             SELECT * FROM UNNEST($1::bigint[], $2::bytea[])",
            &[&idx, &data],
        )
        .await?;
    }
    if !c.tiles.is_empty() {
        let levels: Vec<i16> = c.tiles.iter().map(|(t, _)| i16::from(t.level)).collect();
        let idxs: Vec<i64> = c.tiles.iter().map(|(t, _)| t.index as i64).collect();
        let widths: Vec<i16> = c.tiles.iter().map(|(t, _)| t.width as i16).collect();
        let data: Vec<&[u8]> = c.tiles.iter().map(|(_, d)| d.as_slice()).collect();
        tx.execute(
            "INSERT INTO mirror_tiles (level, idx, width, data)
             SELECT * FROM UNNEST($1::smallint[], $2::bigint[], $3::smallint[], $4::bytea[])
             ON CONFLICT (level, idx) DO UPDATE SET width = EXCLUDED.width, data = EXCLUDED.data
             WHERE mirror_tiles.width <= EXCLUDED.width",
            &[&levels, &idxs, &widths, &data],
        )
        .await?;
    }
    tx.execute(
        "INSERT INTO mirror_state (id, origin, size, root, note) VALUES (true, $1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE SET origin = EXCLUDED.origin, size = EXCLUDED.size,
             root = EXCLUDED.root, note = EXCLUDED.note, updated_at = now()",
        &[&c.origin, &(c.size as i64), &c.root.as_slice(), &c.note],
    )
    .await?;
    Ok(())
}

/// Records the log's checkpoint for the size the mirror already holds (same root only).
pub async fn set_note(
    client: &impl GenericClient,
    size: u64,
    root: &[u8; 32],
    note: &str,
) -> Result<bool, StoreError> {
    let n = client
        .execute(
            "UPDATE mirror_state SET note = $3, updated_at = now() WHERE size = $1 AND root = $2",
            &[&(size as i64), &root.as_slice(), &note],
        )
        .await?;
    Ok(n == 1)
}
