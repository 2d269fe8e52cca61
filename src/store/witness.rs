//! A witness's own state in its database: the latest checkpoint it cosigned per log, every
//! cosignature it gave, and alarms with their evidence.
//!
//! Invariant (the witness's last-cosigned size), kept by [`lock_log`] and [`record_cosignature`]:
//! within one transaction the log's row is locked, judged, moved forward and the cosignature
//! recorded; the cosignature leaves the process only after that transaction commits. So the
//! stored size never decreases, and after a crash it is the largest size ever cosigned.

use sha2::{Digest, Sha256};
use tokio_postgres::GenericClient;

use super::StoreError;

/// Advisory-lock namespace of witness transactions ("witn"); the second key is the origin's
/// hash, so requests for one log serialise and requests for different logs do not.
const WITNESS_LOCK_NAMESPACE: i32 = 0x7769_746e;

/// The latest checkpoint cosigned for a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: [u8; 32],
    /// The checkpoint note as cosigned (the log's signature lines only).
    pub note: String,
}

fn to_hash(v: &[u8]) -> [u8; 32] {
    let mut h = [0u8; 32];
    if v.len() == 32 {
        h.copy_from_slice(v);
    }
    h
}

fn held_from(row: &tokio_postgres::Row) -> HeldCheckpoint {
    HeldCheckpoint {
        size: row.get::<_, i64>(0) as u64,
        root: to_hash(&row.get::<_, Vec<u8>>(1)),
        note: row.get(2),
    }
}

/// Serialises on the log's advisory lock for the rest of the transaction and reads what was
/// last cosigned for it. The lock also covers a log's first checkpoint, when no row exists yet.
pub async fn lock_log(
    tx: &tokio_postgres::Transaction<'_>,
    origin: &str,
) -> Result<Option<HeldCheckpoint>, StoreError> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&WITNESS_LOCK_NAMESPACE, &origin],
    )
    .await?;
    Ok(tx
        .query_opt(
            "SELECT size, root, note FROM witness_logs WHERE origin = $1 FOR UPDATE",
            &[&origin],
        )
        .await?
        .as_ref()
        .map(held_from))
}

/// What was last cosigned for a log (no lock).
pub async fn held(
    client: &impl GenericClient,
    origin: &str,
) -> Result<Option<HeldCheckpoint>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT size, root, note FROM witness_logs WHERE origin = $1",
            &[&origin],
        )
        .await?
        .as_ref()
        .map(held_from))
}

/// One cosignature to record.
#[derive(Debug, Clone)]
pub struct NewCosignature<'a> {
    /// The log.
    pub origin: &'a str,
    /// Tree size cosigned.
    pub size: u64,
    /// Root hash cosigned.
    pub root: &'a [u8; 32],
    /// The checkpoint note (log signature lines only).
    pub note: &'a str,
    /// The checkpoint text the cosignature covers.
    pub text: &'a str,
    /// The cosignature's timestamp.
    pub timestamp: u64,
    /// The cosignature line.
    pub line: &'a str,
}

/// Moves the log's row to the cosigned checkpoint and records the cosignature, inside the
/// transaction that called [`lock_log`]. Refuses (and so rolls back) a smaller size.
pub async fn record_cosignature(
    tx: &tokio_postgres::Transaction<'_>,
    c: &NewCosignature<'_>,
) -> Result<(), StoreError> {
    let size = i64::try_from(c.size).map_err(|_| StoreError::Conflict("size".into()))?;
    let ts = i64::try_from(c.timestamp).map_err(|_| StoreError::Conflict("timestamp".into()))?;
    // The WHERE clause restates the invariant: the row never moves to a smaller tree.
    let n = tx
        .execute(
            "INSERT INTO witness_logs (origin, size, root, note) VALUES ($1, $2, $3, $4)
             ON CONFLICT (origin) DO UPDATE
                 SET size = EXCLUDED.size, root = EXCLUDED.root, note = EXCLUDED.note,
                     updated_at = now()
                 WHERE witness_logs.size <= EXCLUDED.size",
            &[&c.origin, &size, &c.root.as_slice(), &c.note],
        )
        .await?;
    if n != 1 {
        return Err(StoreError::Conflict(
            "the witness holds a larger checkpoint".into(),
        ));
    }
    tx.execute(
        "INSERT INTO witness_cosignatures (origin, size, root, text, timestamp, line)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&c.origin, &size, &c.root.as_slice(), &c.text, &ts, &c.line],
    )
    .await?;
    Ok(())
}

/// The latest cosignature line given over exactly this checkpoint text.
pub async fn cosignature_for(
    client: &impl GenericClient,
    origin: &str,
    text: &str,
) -> Result<Option<String>, StoreError> {
    Ok(client
        .query_opt(
            "SELECT line FROM witness_cosignatures WHERE origin = $1 AND text = $2
             ORDER BY id DESC LIMIT 1",
            &[&origin, &text],
        )
        .await?
        .map(|r| r.get(0)))
}

/// An alarm to record: evidence of a log misbehaving.
#[derive(Debug, Clone)]
pub struct NewAlarm<'a> {
    /// The log.
    pub origin: &'a str,
    /// `split-view`, `inconsistent-proof`, `mirror-mismatch`, ...
    pub kind: &'a str,
    /// What was seen, for people.
    pub detail: &'a str,
    /// What the witness held, as signed by the log.
    pub held_note: Option<&'a str>,
    /// The conflicting checkpoint note, as received.
    pub offered_note: &'a str,
    /// The request body or proof received with it.
    pub proof: Option<&'a str>,
}

/// Records an alarm; the same offered checkpoint seen again only bumps its counter.
/// Returns true when the alarm is new.
pub async fn record_alarm(
    client: &impl GenericClient,
    a: &NewAlarm<'_>,
) -> Result<bool, StoreError> {
    let digest = Sha256::digest(a.offered_note.as_bytes()).to_vec();
    let row = client
        .query_one(
            "INSERT INTO witness_alarms (origin, kind, detail, held_note, offered_note, proof,
                 offered_sha256)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (origin, kind, offered_sha256) DO UPDATE
                 SET times_seen = witness_alarms.times_seen + 1, last_seen = now()
             RETURNING times_seen",
            &[
                &a.origin,
                &a.kind,
                &a.detail,
                &a.held_note,
                &a.offered_note,
                &a.proof,
                &digest,
            ],
        )
        .await?;
    Ok(row.get::<_, i64>(0) == 1)
}

/// A recorded alarm.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Alarm {
    /// Its id.
    pub id: i64,
    /// The log.
    pub origin: String,
    /// What kind of misbehaviour.
    pub kind: String,
    /// What was seen.
    pub detail: String,
    /// What the witness held.
    pub held_note: Option<String>,
    /// The conflicting checkpoint.
    pub offered_note: String,
    /// The proof or request body received with it.
    pub proof: Option<String>,
    /// How often it was offered.
    pub times_seen: i64,
    /// First seen.
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: time::OffsetDateTime,
    /// Last seen.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: time::OffsetDateTime,
}

/// The alarms, newest first, at most `limit`.
pub async fn alarms(client: &impl GenericClient, limit: i64) -> Result<Vec<Alarm>, StoreError> {
    Ok(client
        .query(
            "SELECT id, origin, kind, detail, held_note, offered_note, proof, times_seen,
                    first_seen, last_seen
             FROM witness_alarms ORDER BY id DESC LIMIT $1",
            &[&limit],
        )
        .await?
        .iter()
        .map(|r| Alarm {
            id: r.get(0),
            origin: r.get(1),
            kind: r.get(2),
            detail: r.get(3),
            held_note: r.get(4),
            offered_note: r.get(5),
            proof: r.get(6),
            times_seen: r.get(7),
            first_seen: r.get(8),
            last_seen: r.get(9),
        })
        .collect())
}

/// The number of distinct alarms recorded.
pub async fn alarm_count(client: &impl GenericClient) -> Result<u64, StoreError> {
    let row = client
        .query_one("SELECT count(*) FROM witness_alarms", &[])
        .await?;
    Ok(row.get::<_, i64>(0) as u64)
}
