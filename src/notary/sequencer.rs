//! The sequencer: the log's one writer.
//!
//! Submissions wait in a bounded in-memory queue. After the first arrives, the sequencer waits
//! up to `batch_interval` (or until `batch_max` wait) and commits the batch in ONE PostgreSQL
//! transaction: duplicate and status checks, entries, records, every changed tile, the new
//! signed checkpoint and `log_state`. Only after that commit is each submission answered, so an
//! acknowledged submission is durable and provable.
//!
//! Exactly one process sequences: the one holding a session-level advisory lock. Integrity does
//! not rest on the lock alone: each batch reads `log_state.size` FOR UPDATE and refuses to write
//! unless it equals the size this sequencer built on, so even a sequencer that lost its lock
//! unknowingly can never write a conflicting tree.
//!
//! Crash recovery: everything a batch writes is in one transaction, so after a crash the
//! database holds whole batches only. On taking the lock, the state (size, root, right-edge
//! tiles) is read back from the database; nothing else is kept in memory that matters.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;
use rust_decimal::Decimal;
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::log::LogReader;
use crate::ledger::{Checkpoint, Ed25519Signer, Hash, TileEdge, empty_root};
use crate::store::StoreError;
use crate::store::log::{self as store_log, BatchWrite, NewRecord};

/// Advisory lock key of the sequencer ("notarium" + "seq").
const SEQUENCER_LOCK: i64 = 0x6e6f_7461_7365_7101;

/// Errors a submission can meet.
#[derive(Debug, thiserror::Error)]
pub enum SequencerError {
    /// The queue is full: the caller should retry shortly (503 + Retry-After).
    #[error("the sequencer queue is full")]
    QueueFull,
    /// This process does not hold the sequencer lock (another process sequences).
    #[error("this process is not the sequencer right now")]
    NotLeader,
    /// The sequencer stopped.
    #[error("the sequencer stopped")]
    Stopped,
    /// The batch could not be committed; nothing of it was written.
    #[error("the batch could not be committed: {0}")]
    Commit(String),
}

/// A status change that must be checked against the original's history inside the batch.
#[derive(Debug, Clone)]
pub enum StatusCheck {
    /// A credit of `amount`; all credits together must stay within `limit`; the original must
    /// not be cancelled.
    Credit {
        /// The invoice credited.
        original: Uuid,
        /// This credit.
        amount: Decimal,
        /// The original's total.
        limit: Decimal,
    },
    /// A cancellation; the original must not be cancelled already.
    Cancel {
        /// The invoice cancelled.
        original: Uuid,
    },
}

/// One thing to append: the encoded entry, its leaf hash, and the record stored with it.
#[derive(Debug)]
pub struct Submission {
    /// Canonical entry bytes.
    pub entry: Vec<u8>,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// The record row.
    pub record: NewRecord,
    /// A status rule to check atomically with the append.
    pub check: Option<StatusCheck>,
}

/// What became of a submission.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Appended and committed.
    Committed(Committed),
    /// Its unique key was taken: the first record with it.
    Duplicate {
        /// The first record.
        record_id: Uuid,
        /// When it was notarized.
        created_at: OffsetDateTime,
    },
    /// A status rule refused it.
    Refused(String),
}

/// A committed submission's place in the log.
#[derive(Debug, Clone)]
pub struct Committed {
    /// Its index.
    pub index: u64,
    /// Tree size after the batch.
    pub size: u64,
    /// Root after the batch.
    pub root: Hash,
    /// The signed checkpoint of that tree.
    pub checkpoint: String,
}

struct Job {
    sub: Submission,
    reply: oneshot::Sender<Result<Outcome, SequencerError>>,
}

/// Settings of the sequencer.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    /// How long to collect a batch after its first submission.
    pub batch_interval: Duration,
    /// Largest batch.
    pub batch_max: usize,
    /// Queue bound.
    pub queue_max: usize,
    /// Checkpoint origin.
    pub origin: String,
}

/// The handle request handlers use.
pub struct Sequencer {
    tx: mpsc::Sender<Job>,
    leader: Arc<AtomicBool>,
    size: Arc<AtomicU64>,
    stopping: Arc<AtomicBool>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer")
            .field("leader", &self.is_leader())
            .finish_non_exhaustive()
    }
}

impl Sequencer {
    /// Starts the sequencer task: it campaigns for the lock, then sequences.
    pub fn spawn(
        pool: Pool,
        pg_config: tokio_postgres::Config,
        signer: Ed25519Signer,
        reader: Arc<LogReader>,
        config: SequencerConfig,
    ) -> Self {
        let (tx, rx) = mpsc::channel(config.queue_max.max(1));
        let leader = Arc::new(AtomicBool::new(false));
        let size = Arc::new(AtomicU64::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            stopping: stopping.clone(),
            pool,
            pg_config,
            signer,
            reader,
            config,
            leader: leader.clone(),
            size: size.clone(),
        };
        tokio::spawn(worker.run(rx));
        Self {
            tx,
            leader,
            size,
            stopping,
        }
    }

    /// Stops campaigning and sequencing (at shutdown, before the database goes away).
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.leader.store(false, Ordering::Release);
    }

    /// Whether this process sequences now.
    pub fn is_leader(&self) -> bool {
        self.leader.load(Ordering::Acquire)
    }

    /// The tree size after the last batch this process committed (or loaded).
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Queued submissions (for metrics).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Submits and waits until the batch holding it committed.
    pub async fn submit(&self, sub: Submission) -> Result<Outcome, SequencerError> {
        if !self.is_leader() {
            return Err(SequencerError::NotLeader);
        }
        let (reply, rx) = oneshot::channel();
        self.tx.try_send(Job { sub, reply }).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SequencerError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => SequencerError::Stopped,
        })?;
        rx.await.map_err(|_| SequencerError::Stopped)?
    }
}

struct Worker {
    stopping: Arc<AtomicBool>,
    pool: Pool,
    pg_config: tokio_postgres::Config,
    signer: Ed25519Signer,
    reader: Arc<LogReader>,
    config: SequencerConfig,
    leader: Arc<AtomicBool>,
    size: Arc<AtomicU64>,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Job>) {
        loop {
            if self.stopping.load(Ordering::Acquire) {
                return;
            }
            // Campaign: hold the advisory lock on a dedicated session for as long as we live.
            let (lock_client, lock_conn) = match self.pg_config.connect(tokio_postgres::NoTls).await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "sequencer: cannot connect; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let lost = Arc::new(AtomicBool::new(false));
            let lost2 = lost.clone();
            tokio::spawn(async move {
                let _ = lock_conn.await;
                lost2.store(true, Ordering::Release);
            });
            let got = loop {
                match lock_client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&SEQUENCER_LOCK])
                    .await
                {
                    Ok(row) if row.get::<_, bool>(0) => break true,
                    Ok(_) if self.stopping.load(Ordering::Acquire) => return,
                    Ok(_) => {
                        // Another process sequences; refuse queued work meanwhile.
                        while let Ok(job) = rx.try_recv() {
                            let _ = job.reply.send(Err(SequencerError::NotLeader));
                        }
                        if rx.is_closed() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    Err(_) => break false,
                }
            };
            if !got {
                continue;
            }
            tracing::info!("sequencer lock taken: this process sequences the log");
            let mut edge = match self.load_state().await {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "sequencer: cannot load the log state");
                    drop(lock_client);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            self.size.store(edge.size(), Ordering::Release);
            self.leader.store(true, Ordering::Release);
            let stop = self.sequence(&mut rx, &mut edge, &lost).await;
            self.leader.store(false, Ordering::Release);
            drop(lock_client);
            if stop {
                return;
            }
            tracing::warn!("sequencer lost its database session; campaigning again");
        }
    }

    /// Rebuilds the right edge from the database; writes the empty checkpoint on a new log.
    async fn load_state(&self) -> Result<TileEdge, String> {
        let mut client = self.pool.get().await.map_err(|e| e.to_string())?;
        match store_log::state(&**client)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(state) => {
                let wanted = TileEdge::tiles_needed(state.size);
                let tiles = store_log::tiles(&**client, &wanted)
                    .await
                    .map_err(|e| e.to_string())?;
                // Stored partial tiles may be exactly as wide as needed (we only ever store the
                // edge at a committed size), so take the prefix each needs.
                let mut exact = Vec::new();
                for w in &wanted {
                    let (_, d) = tiles
                        .iter()
                        .find(|(t, _)| t.level == w.level && t.index == w.index)
                        .ok_or_else(|| format!("edge tile {} missing", w.path()))?;
                    if d.len() < w.byte_len() {
                        return Err(format!("edge tile {} too short", w.path()));
                    }
                    exact.push((*w, d[..w.byte_len()].to_vec()));
                }
                let edge = TileEdge::from_tiles(state.size, exact).map_err(|e| e.to_string())?;
                if edge.root() != state.root {
                    return Err("stored tiles do not give the stored root".into());
                }
                tracing::info!(size = state.size, "log state loaded");
                Ok(edge)
            }
            None => {
                let edge = TileEdge::new();
                let note = self.sign(0, &empty_root())?;
                let tx = client.transaction().await.map_err(|e| e.to_string())?;
                store_log::write_batch(
                    &tx,
                    &BatchWrite {
                        start: 0,
                        entries: &[],
                        leaf_hashes: &[],
                        records: &[],
                        tiles: &[],
                        size: 0,
                        root: empty_root(),
                        checkpoint: &note,
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
                tx.commit().await.map_err(|e| e.to_string())?;
                tracing::info!("new log: empty checkpoint written");
                Ok(edge)
            }
        }
    }

    fn sign(&self, size: u64, root: &Hash) -> Result<String, String> {
        Checkpoint::new(&self.config.origin, size, *root)
            .sign(&self.signer)
            .map(|n| n.to_text())
            .map_err(|e| e.to_string())
    }

    /// Sequences until the queue closes (returns true) or the lock session is lost (false).
    async fn sequence(
        &self,
        rx: &mut mpsc::Receiver<Job>,
        edge: &mut TileEdge,
        lost: &AtomicBool,
    ) -> bool {
        loop {
            let first = tokio::select! {
                job = rx.recv() => match job {
                    Some(j) => j,
                    None => return true,
                },
                _ = tokio::time::sleep(Duration::from_millis(100)) => {
                    if self.stopping.load(Ordering::Acquire) {
                        return true;
                    }
                    if lost.load(Ordering::Acquire) {
                        return false;
                    }
                    continue;
                }
            };
            let mut jobs = vec![first];
            let deadline = tokio::time::Instant::now() + self.config.batch_interval;
            while jobs.len() < self.config.batch_max {
                tokio::select! {
                    job = rx.recv() => match job {
                        Some(j) => jobs.push(j),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(deadline) => break,
                }
            }
            if lost.load(Ordering::Acquire) {
                for j in jobs {
                    let _ = j.reply.send(Err(SequencerError::NotLeader));
                }
                return false;
            }
            match self.commit(jobs, edge).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::error!(error = %e, "sequencer batch failed; reloading state");
                    match self.load_state().await {
                        Ok(fresh) => *edge = fresh,
                        Err(e) => {
                            tracing::error!(error = %e, "sequencer cannot reload; stepping down");
                            return false;
                        }
                    }
                }
            }
            self.size.store(edge.size(), Ordering::Release);
        }
    }

    /// Commits one batch; answers every job. On error every job is answered with the error
    /// and nothing was written.
    async fn commit(&self, jobs: Vec<Job>, edge: &mut TileEdge) -> Result<(), String> {
        match self.try_commit(&jobs, edge).await {
            Ok(outcomes) => {
                for (job, outcome) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
                Ok(())
            }
            Err(e) => {
                for job in jobs {
                    let _ = job.reply.send(Err(SequencerError::Commit(e.clone())));
                }
                Err(e)
            }
        }
    }

    async fn try_commit(&self, jobs: &[Job], edge: &mut TileEdge) -> Result<Vec<Outcome>, String> {
        let err = |e: StoreError| e.to_string();
        let mut client = self.pool.get().await.map_err(|e| e.to_string())?;
        let tx = client.transaction().await.map_err(|e| e.to_string())?;
        let locked = store_log::lock_size(&tx).await.map_err(err)?;
        if locked != Some(edge.size()) {
            return Err(format!(
                "log_state size {locked:?} differs from this sequencer's {}: another writer?",
                edge.size()
            ));
        }

        // Duplicates: against the database, and within the batch (first wins).
        let keys: Vec<&str> = jobs
            .iter()
            .filter_map(|j| j.sub.record.unique_key.as_deref())
            .collect();
        let existing: HashMap<String, (Uuid, OffsetDateTime)> =
            store_log::existing_keys(&*tx, &keys)
                .await
                .map_err(err)?
                .into_iter()
                .map(|(k, id, at)| (k, (id, at)))
                .collect();
        let now = OffsetDateTime::now_utc();
        let mut seen: HashMap<&str, Uuid> = HashMap::new();
        let mut history = StatusHistory::default();
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(jobs.len());
        let mut accepted = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            let rec = &job.sub.record;
            if let Some(key) = rec.unique_key.as_deref() {
                if let Some((id, at)) = existing.get(key) {
                    outcomes.push(Some(Outcome::Duplicate {
                        record_id: *id,
                        created_at: *at,
                    }));
                    continue;
                }
                if let Some(id) = seen.get(key) {
                    outcomes.push(Some(Outcome::Duplicate {
                        record_id: *id,
                        created_at: now,
                    }));
                    continue;
                }
                seen.insert(key, rec.id);
            }
            if let Some(check) = &job.sub.check
                && let Err(reason) = history.apply(&tx, check).await?
            {
                outcomes.push(Some(Outcome::Refused(reason)));
                continue;
            }
            outcomes.push(None);
            accepted.push(i);
        }

        if accepted.is_empty() {
            drop(tx);
            return Ok(outcomes.into_iter().flatten().collect());
        }
        let start = edge.size();
        let entries: Vec<Vec<u8>> = accepted
            .iter()
            .map(|&i| jobs[i].sub.entry.clone())
            .collect();
        let leaves: Vec<Hash> = accepted.iter().map(|&i| jobs[i].sub.leaf_hash).collect();
        let records: Vec<NewRecord> = accepted
            .iter()
            .map(|&i| jobs[i].sub.record.clone())
            .collect();
        let appended = edge.append(&leaves).map_err(|e| e.to_string())?;
        let size = appended.edge.size();
        let note = self.sign(size, &appended.root)?;
        store_log::write_batch(
            &tx,
            &BatchWrite {
                start,
                entries: &entries,
                leaf_hashes: &leaves,
                records: &records,
                tiles: &appended.tiles,
                size,
                root: appended.root,
                checkpoint: &note,
            },
        )
        .await
        .map_err(err)?;
        tx.commit().await.map_err(|e| e.to_string())?;
        // Committed: only now does memory move on.
        self.reader.cache.put(&appended.tiles);
        let root = appended.root;
        *edge = appended.edge;
        for (k, &i) in accepted.iter().enumerate() {
            outcomes[i] = Some(Outcome::Committed(Committed {
                index: start + k as u64,
                size,
                root,
                checkpoint: note.clone(),
            }));
        }
        Ok(outcomes.into_iter().flatten().collect())
    }
}

/// Status history of originals touched by one batch: what the database holds plus what the
/// batch accepted so far.
#[derive(Default)]
struct StatusHistory {
    credited: HashMap<Uuid, Decimal>,
    cancelled: HashSet<Uuid>,
    loaded: HashSet<Uuid>,
}

impl StatusHistory {
    async fn load(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
        original: Uuid,
    ) -> Result<(), String> {
        if !self.loaded.insert(original) {
            return Ok(());
        }
        let rows = tx
            .query(
                "SELECT meta->>'status', meta->>'amount' FROM records
                 WHERE refers_to = $1 AND kind = 'invoice-status'",
                &[&original],
            )
            .await
            .map_err(|e| StoreError::from(e).to_string())?;
        for r in rows {
            let status: Option<String> = r.get(0);
            let amount: Option<String> = r.get(1);
            match status.as_deref() {
                Some("cancel") => {
                    self.cancelled.insert(original);
                }
                Some("credit") => {
                    let a = amount
                        .as_deref()
                        .and_then(|a| Decimal::from_str(a).ok())
                        .unwrap_or_default();
                    *self.credited.entry(original).or_default() += a;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Checks and records one status change; `Ok(Err(reason))` refuses it.
    async fn apply(
        &mut self,
        tx: &tokio_postgres::Transaction<'_>,
        check: &StatusCheck,
    ) -> Result<Result<(), String>, String> {
        match check {
            StatusCheck::Credit {
                original,
                amount,
                limit,
            } => {
                self.load(tx, *original).await?;
                if self.cancelled.contains(original) {
                    return Ok(Err("the invoice is cancelled".into()));
                }
                let so_far = self.credited.get(original).copied().unwrap_or_default();
                if so_far + *amount > *limit {
                    return Ok(Err(format!(
                        "credits would total {} but the invoice totals {limit}",
                        so_far + *amount
                    )));
                }
                *self.credited.entry(*original).or_default() += *amount;
                Ok(Ok(()))
            }
            StatusCheck::Cancel { original } => {
                self.load(tx, *original).await?;
                if !self.cancelled.insert(*original) {
                    return Ok(Err("the invoice is already cancelled".into()));
                }
                Ok(Ok(()))
            }
        }
    }
}
