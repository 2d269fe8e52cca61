//! The Merkle log and its records in PostgreSQL: the narrow interface through which the
//! sequencer writes (one transaction per batch) and readers fetch tiles, entries and
//! checkpoints.

use time::OffsetDateTime;
use tokio_postgres::GenericClient;
use uuid::Uuid;

use super::StoreError;
use crate::ledger::Tile;

/// The durable state of the log: its size, root and latest checkpoint note.
#[derive(Debug, Clone)]
pub struct LogState {
    /// Number of entries.
    pub size: u64,
    /// Root hash.
    pub root: [u8; 32],
    /// The signed checkpoint note (text).
    pub checkpoint: String,
}

/// Reads the log state; `None` before the first checkpoint.
pub async fn state(client: &impl GenericClient) -> Result<Option<LogState>, StoreError> {
    let row = client
        .query_opt("SELECT size, root, checkpoint FROM log_state", &[])
        .await?;
    Ok(row.map(|r| LogState {
        size: r.get::<_, i64>(0) as u64,
        root: to_hash(r.get::<_, Vec<u8>>(1)),
        checkpoint: r.get(2),
    }))
}

/// Reads the log size under a row lock (the sequencer's fence against a second writer).
pub async fn lock_size(tx: &tokio_postgres::Transaction<'_>) -> Result<Option<u64>, StoreError> {
    Ok(tx
        .query_opt("SELECT size FROM log_state FOR UPDATE", &[])
        .await?
        .map(|r| r.get::<_, i64>(0) as u64))
}

fn to_hash(v: Vec<u8>) -> [u8; 32] {
    let mut h = [0u8; 32];
    if v.len() == 32 {
        h.copy_from_slice(&v);
    }
    h
}

/// Fetches stored tiles by (level, index); returns (tile as stored, data). A stored tile may be
/// wider than asked (the tree has grown); its prefix is what was asked.
pub async fn tiles(
    client: &impl GenericClient,
    wanted: &[Tile],
) -> Result<Vec<(Tile, Vec<u8>)>, StoreError> {
    tiles_from(client, "log_tiles", wanted).await
}

/// [`tiles`] from a tile table of the same shape (`log_tiles`, or a witness's `mirror_tiles`).
pub(crate) async fn tiles_from(
    client: &impl GenericClient,
    table: &'static str,
    wanted: &[Tile],
) -> Result<Vec<(Tile, Vec<u8>)>, StoreError> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let levels: Vec<i16> = wanted.iter().map(|t| i16::from(t.level)).collect();
    let idxs: Vec<i64> = wanted.iter().map(|t| t.index as i64).collect();
    // `table` is one of our own constants, never input.
    let sql = format!(
        "SELECT t.level, t.idx, t.width, t.data
         FROM {table} t JOIN UNNEST($1::smallint[], $2::bigint[]) AS w(level, idx)
           ON t.level = w.level AND t.idx = w.idx"
    );
    let rows = client.query(&sql, &[&levels, &idxs]).await?;
    Ok(rows.iter().map(tile_from_row).collect())
}

fn tile_from_row(r: &tokio_postgres::Row) -> (Tile, Vec<u8>) {
    (
        Tile {
            level: r.get::<_, i16>(0) as u8,
            index: r.get::<_, i64>(1) as u64,
            width: r.get::<_, i16>(2) as u16,
        },
        r.get::<_, Vec<u8>>(3),
    )
}

/// Entries `[start, end)` in order.
pub async fn entries(
    client: &impl GenericClient,
    start: u64,
    end: u64,
) -> Result<Vec<Vec<u8>>, StoreError> {
    entries_from(client, "log_entries", start, end).await
}

/// [`entries`] from an entry table of the same shape (`log_entries` or `mirror_entries`).
pub(crate) async fn entries_from(
    client: &impl GenericClient,
    table: &'static str,
    start: u64,
    end: u64,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let sql = format!("SELECT data FROM {table} WHERE idx >= $1 AND idx < $2 ORDER BY idx");
    Ok(client
        .query(&sql, &[&(start as i64), &(end as i64)])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// The index of the entry with this leaf hash.
pub async fn index_of_leaf(
    client: &impl GenericClient,
    leaf_hash: &[u8],
) -> Result<Option<u64>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT idx FROM log_entries WHERE leaf_hash = $1 ORDER BY idx LIMIT 1",
            &[&leaf_hash],
        )
        .await?
        .map(|r| r.get::<_, i64>(0) as u64))
}

/// The stored checkpoint of exactly `size`, if one was signed at that size.
pub async fn checkpoint_at(
    client: &impl GenericClient,
    size: u64,
) -> Result<Option<String>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT note FROM log_checkpoints WHERE size = $1",
            &[&(size as i64)],
        )
        .await?
        .map(|r| r.get(0)))
}

/// A record to insert with its entry.
#[derive(Debug, Clone)]
pub struct NewRecord {
    /// Record id (also in the entry).
    pub id: Uuid,
    /// `invoice`, `invoice-status`, `contract`, `contract-signature`, `contract-executed`.
    pub kind: &'static str,
    /// Owner.
    pub org_id: Uuid,
    /// Duplicate key, when the kind has one.
    pub unique_key: Option<String>,
    /// The record acted on.
    pub refers_to: Option<Uuid>,
    /// SHA-256 of the document.
    pub document_sha256: Vec<u8>,
    /// SHA-256 of the canonical content.
    pub canonical_sha256: Option<Vec<u8>>,
    /// The RFC 3161 token (DER).
    pub token: Vec<u8>,
    /// DER ECDSA signature.
    pub signature: Vec<u8>,
    /// `org` or `custodial`.
    pub signer: &'static str,
    /// SHA-256 of the signer certificate.
    pub cert_fingerprint: Vec<u8>,
    /// Kind-specific facts (number, seller, totals, warnings ...).
    pub meta: serde_json::Value,
    /// The document, sealed, when the caller asked to store it.
    pub document: Option<Vec<u8>>,
}

/// One batch as the sequencer commits it.
#[derive(Debug)]
pub struct BatchWrite<'a> {
    /// First index of the batch.
    pub start: u64,
    /// Entry bytes, in index order.
    pub entries: &'a [Vec<u8>],
    /// Their leaf hashes.
    pub leaf_hashes: &'a [[u8; 32]],
    /// The records, one per entry, same order.
    pub records: &'a [NewRecord],
    /// Every tile the batch changed, with its new bytes.
    pub tiles: &'a [(Tile, Vec<u8>)],
    /// New size.
    pub size: u64,
    /// New root.
    pub root: [u8; 32],
    /// New signed checkpoint note.
    pub checkpoint: &'a str,
}

/// Writes a batch inside the sequencer's transaction.
pub async fn write_batch(
    tx: &tokio_postgres::Transaction<'_>,
    b: &BatchWrite<'_>,
) -> Result<(), StoreError> {
    let n = b.entries.len();
    if n > 0 {
        let idx: Vec<i64> = (0..n).map(|i| (b.start + i as u64) as i64).collect();
        let hashes: Vec<&[u8]> = b.leaf_hashes.iter().map(|h| h.as_slice()).collect();
        let data: Vec<&[u8]> = b.entries.iter().map(|e| e.as_slice()).collect();
        tx.execute(
            "INSERT INTO log_entries (idx, leaf_hash, data)
             SELECT * FROM UNNEST($1::bigint[], $2::bytea[], $3::bytea[])",
            &[&idx, &hashes, &data],
        )
        .await?;
        let r = b.records;
        let ids: Vec<Uuid> = r.iter().map(|x| x.id).collect();
        let kinds: Vec<&str> = r.iter().map(|x| x.kind).collect();
        let orgs: Vec<Uuid> = r.iter().map(|x| x.org_id).collect();
        let keys: Vec<Option<&str>> = r.iter().map(|x| x.unique_key.as_deref()).collect();
        let refers: Vec<Option<Uuid>> = r.iter().map(|x| x.refers_to).collect();
        let docs: Vec<&[u8]> = r.iter().map(|x| x.document_sha256.as_slice()).collect();
        let canon: Vec<Option<&[u8]>> = r.iter().map(|x| x.canonical_sha256.as_deref()).collect();
        let tokens: Vec<&[u8]> = r.iter().map(|x| x.token.as_slice()).collect();
        let sigs: Vec<&[u8]> = r.iter().map(|x| x.signature.as_slice()).collect();
        let signers: Vec<&str> = r.iter().map(|x| x.signer).collect();
        let fps: Vec<&[u8]> = r.iter().map(|x| x.cert_fingerprint.as_slice()).collect();
        let metas: Vec<&serde_json::Value> = r.iter().map(|x| &x.meta).collect();
        let stored: Vec<Option<&[u8]>> = r.iter().map(|x| x.document.as_deref()).collect();
        tx.execute(
            "INSERT INTO records (id, kind, org_id, unique_key, refers_to, log_index, leaf_hash,
                 document_sha256, canonical_sha256, token, signature, signer, cert_fingerprint,
                 meta, document)
             SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::uuid[],
                 $6::bigint[], $7::bytea[], $8::bytea[], $9::bytea[], $10::bytea[], $11::bytea[],
                 $12::text[], $13::bytea[], $14::jsonb[], $15::bytea[])",
            &[
                &ids, &kinds, &orgs, &keys, &refers, &idx, &hashes, &docs, &canon, &tokens, &sigs,
                &signers, &fps, &metas, &stored,
            ],
        )
        .await?;
    }
    if !b.tiles.is_empty() {
        let levels: Vec<i16> = b.tiles.iter().map(|(t, _)| i16::from(t.level)).collect();
        let idxs: Vec<i64> = b.tiles.iter().map(|(t, _)| t.index as i64).collect();
        let widths: Vec<i16> = b.tiles.iter().map(|(t, _)| t.width as i16).collect();
        let data: Vec<&[u8]> = b.tiles.iter().map(|(_, d)| d.as_slice()).collect();
        tx.execute(
            "INSERT INTO log_tiles (level, idx, width, data)
             SELECT * FROM UNNEST($1::smallint[], $2::bigint[], $3::smallint[], $4::bytea[])
             ON CONFLICT (level, idx) DO UPDATE SET width = EXCLUDED.width, data = EXCLUDED.data
             WHERE log_tiles.width <= EXCLUDED.width",
            &[&levels, &idxs, &widths, &data],
        )
        .await?;
    }
    let size = b.size as i64;
    tx.execute(
        "INSERT INTO log_checkpoints (size, root, note) VALUES ($1, $2, $3)",
        &[&size, &b.root.as_slice(), &b.checkpoint],
    )
    .await?;
    tx.execute(
        "INSERT INTO log_state (id, size, root, checkpoint) VALUES (true, $1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET size = EXCLUDED.size, root = EXCLUDED.root,
             checkpoint = EXCLUDED.checkpoint, updated_at = now()",
        &[&size, &b.root.as_slice(), &b.checkpoint],
    )
    .await?;
    Ok(())
}

/// The first record holding each of these unique keys: key → (id, created_at).
pub async fn existing_keys(
    client: &impl GenericClient,
    keys: &[&str],
) -> Result<Vec<(String, Uuid, OffsetDateTime)>, StoreError> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    Ok(client
        .query(
            "SELECT unique_key, id, created_at FROM records WHERE unique_key = ANY($1)",
            &[&keys],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Every stored checkpoint (size, root, note), oldest first.
pub async fn all_checkpoints(
    client: &impl GenericClient,
) -> Result<Vec<(u64, [u8; 32], String)>, StoreError> {
    Ok(client
        .query(
            "SELECT size, root, note FROM log_checkpoints ORDER BY size",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            (
                r.get::<_, i64>(0) as u64,
                to_hash(r.get::<_, Vec<u8>>(1)),
                r.get(2),
            )
        })
        .collect())
}

/// Every stored tile (level, index, width, data), in order.
pub async fn all_tiles(client: &impl GenericClient) -> Result<Vec<(Tile, Vec<u8>)>, StoreError> {
    Ok(client
        .query(
            "SELECT level, idx, width, data FROM log_tiles ORDER BY level, idx",
            &[],
        )
        .await?
        .iter()
        .map(tile_from_row)
        .collect())
}
