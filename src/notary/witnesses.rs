//! The log's side of witnessing: sending new checkpoints to the configured witnesses
//! (C2SP tlog-witness `add-checkpoint`), keeping the cosignatures they return, attaching them
//! to served checkpoints, and the k-of-n witness policy that bundles rely on.
//!
//! The [`WitnessPusher`] is a background task apart from the sequencer: it reads the latest
//! checkpoint from the database (woken by the sequencer's `watch` channel, or by polling), and
//! sends it to every witness in parallel, each request with a timeout and a few retries. It
//! never holds a lock or a transaction the sequencer needs, so a slow or dead witness never
//! delays a submission; it only delays that witness's cosignature. Intermediate checkpoints
//! are skipped: each round sends the latest one.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use deadpool_postgres::Pool;
use reqwest::StatusCode;
use tokio::sync::watch;

use crate::config::Config;
use crate::ledger::{
    CosignatureVerifier, Hash, Note, NoteError, TileSet, Verifier, WitnessCosignature,
    WitnessPolicy, consistency_plan, tiles_for_plan,
};
use crate::store::{Store, StoreError, cosignatures, log as store_log};
use crate::witness::request::{AddCheckpoint, parse_size_body};

/// Errors of the log's witnessing.
#[derive(Debug, thiserror::Error)]
pub enum WitnessesError {
    /// `NOTARIUM_WITNESSES` or `NOTARIUM_WITNESS_POLICY` is malformed.
    #[error("witness configuration: {0}")]
    Config(String),
    /// Storage.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A witness could not be reached or answered something unusable.
    #[error("witness {witness}: {detail}")]
    Witness {
        /// The witness's label.
        witness: String,
        /// What happened.
        detail: String,
    },
    /// A stored checkpoint or tile is unusable.
    #[error("log data: {0}")]
    Data(String),
}

impl From<tokio_postgres::Error> for WitnessesError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Store(e.into())
    }
}

impl From<deadpool_postgres::PoolError> for WitnessesError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        Self::Store(e.into())
    }
}

/// A witness the log sends its checkpoints to.
#[derive(Debug, Clone)]
pub struct ConfiguredWitness {
    /// The operator's label for it (logs, status).
    pub label: String,
    /// Its submission prefix: requests go to `<url>/add-checkpoint`.
    pub url: String,
    /// Its cosignature key.
    pub key: CosignatureVerifier,
}

impl ConfiguredWitness {
    /// The key name its cosignature lines carry.
    pub fn key_name(&self) -> &str {
        self.key.name()
    }
}

/// Parses `NOTARIUM_WITNESSES`: comma-separated `label=url=vkey` (the URL may itself hold
/// `=`: the label ends at the first, the key starts after the last).
///
/// # Errors
/// [`WitnessesError::Config`].
pub fn parse_witnesses(spec: &str) -> Result<Vec<ConfiguredWitness>, WitnessesError> {
    let mut out: Vec<ConfiguredWitness> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = |m: &str| WitnessesError::Config(format!("{item:?}: {m}"));
        let (label, rest) = item
            .split_once('=')
            .ok_or_else(|| bad("expected label=url=vkey"))?;
        let (url, vkey) = rest
            .rsplit_once('=')
            .ok_or_else(|| bad("expected label=url=vkey"))?;
        let (label, url) = (label.trim(), url.trim().trim_end_matches('/'));
        if label.is_empty() {
            return Err(bad("empty label"));
        }
        if !url.starts_with("http://") {
            return Err(bad(
                "the URL must start with http:// (use a local TLS proxy for https)",
            ));
        }
        let key = CosignatureVerifier::from_vkey(vkey.trim())
            .map_err(|e| bad(&format!("witness key: {e}")))?;
        if out
            .iter()
            .any(|w| w.label == label || w.key_name() == key.name())
        {
            return Err(bad("duplicate witness label or key name"));
        }
        out.push(ConfiguredWitness {
            label: label.to_string(),
            url: url.to_string(),
            key,
        });
    }
    Ok(out)
}

/// The configured witnesses and the policy "k of them cosigned".
#[derive(Debug, Clone)]
pub struct WitnessSet {
    witnesses: Vec<ConfiguredWitness>,
    policy: WitnessPolicy,
}

impl WitnessSet {
    /// A set with threshold `k`.
    ///
    /// # Errors
    /// [`WitnessesError::Config`] when `k` exceeds the number of witnesses.
    pub fn new(witnesses: Vec<ConfiguredWitness>, k: usize) -> Result<Self, WitnessesError> {
        let keys = witnesses.iter().map(|w| w.key.clone()).collect();
        let policy = WitnessPolicy::new(k, keys).map_err(|e| {
            WitnessesError::Config(format!(
                "NOTARIUM_WITNESS_POLICY={k} with {} witnesses: {e}",
                witnesses.len()
            ))
        })?;
        Ok(Self { witnesses, policy })
    }

    /// From `NOTARIUM_WITNESSES` and `NOTARIUM_WITNESS_POLICY`.
    ///
    /// # Errors
    /// [`WitnessesError::Config`].
    pub fn from_config(config: &Config) -> Result<Self, WitnessesError> {
        Self::new(parse_witnesses(&config.witnesses)?, config.witness_policy)
    }

    /// The witnesses.
    pub fn witnesses(&self) -> &[ConfiguredWitness] {
        &self.witnesses
    }

    /// The policy (for verifiers, e.g. bundles).
    pub fn policy(&self) -> &WitnessPolicy {
        &self.policy
    }
}

/// The stored checkpoint of exactly `size` with every stored cosignature line attached, or
/// `None` when no checkpoint of that size was signed. For `GET /checkpoint`.
///
/// # Errors
/// Storage.
pub async fn cosigned_checkpoint(
    store: &Store,
    size: u64,
) -> Result<Option<String>, WitnessesError> {
    let conn = store.conn().await?;
    cosigned_checkpoint_with(&**conn, size).await
}

async fn cosigned_checkpoint_with(
    client: &impl tokio_postgres::GenericClient,
    size: u64,
) -> Result<Option<String>, WitnessesError> {
    let Some(mut note) = store_log::checkpoint_at(client, size).await? else {
        return Ok(None);
    };
    // A signed note ends with its signature lines; more lines append after them.
    for (_, line) in cosignatures::lines_for(client, size).await? {
        note.push_str(&line);
    }
    Ok(Some(note))
}

/// A checkpoint that meets the witness policy.
#[derive(Debug, Clone)]
pub struct TrustedCheckpoint {
    /// Tree size.
    pub size: u64,
    /// The note, with the log's signature and the cosignatures.
    pub note: String,
    /// The witnesses whose cosignatures verified.
    pub cosigners: Vec<WitnessCosignature>,
}

/// The latest checkpoint carrying cosignatures from at least k of the configured witnesses
/// (checked again here with the policy), or `None` when none does yet. With k = 0 it is the
/// latest checkpoint, with whatever cosignatures it has.
///
/// # Errors
/// Storage.
pub async fn latest_trusted_checkpoint(
    store: &Store,
    set: &WitnessSet,
) -> Result<Option<TrustedCheckpoint>, WitnessesError> {
    let conn = store.conn().await?;
    let candidates: Vec<u64> = if set.policy.threshold() == 0 {
        store_log::state(&**conn)
            .await?
            .map(|s| s.size)
            .into_iter()
            .collect()
    } else {
        let names: Vec<&str> = set
            .witnesses
            .iter()
            .map(ConfiguredWitness::key_name)
            .collect();
        cosignatures::sizes_cosigned_by(&**conn, &names, set.policy.threshold(), 16).await?
    };
    let now = crate::witness::cosigner::now_secs();
    for size in candidates {
        let Some(text) = cosigned_checkpoint_with(&**conn, size).await? else {
            continue;
        };
        let Ok(note) = Note::parse(text.as_bytes()) else {
            continue;
        };
        // Allow a witness's clock a minute ahead of ours.
        match set.policy.check(&note, Some(now + 60)) {
            Ok(cosigners) => {
                return Ok(Some(TrustedCheckpoint {
                    size,
                    note: text,
                    cosigners,
                }));
            }
            Err(e) => tracing::warn!(size, error = %e, "stored cosignatures fail the policy"),
        }
    }
    Ok(None)
}

/// Settings of the pusher.
#[derive(Debug, Clone)]
pub struct PusherConfig {
    /// Timeout of each request to a witness.
    pub timeout: Duration,
    /// How often the log state is read when no wake-up comes.
    pub poll_interval: Duration,
    /// Attempts per witness per round on transport errors and 5xx.
    pub attempts: u32,
}

impl PusherConfig {
    /// From the server configuration: the configured timeout, polling at the batch interval
    /// (at least 100 ms), three attempts.
    pub fn from_config(config: &Config) -> Self {
        Self {
            timeout: Duration::from_millis(config.witness_timeout_ms.max(1)),
            poll_interval: Duration::from_millis(config.batch_interval_ms.max(100)),
            attempts: 3,
        }
    }
}

/// What the pusher knows of one witness.
#[derive(Debug)]
pub struct WitnessStatus {
    /// The witness's label.
    pub label: String,
    /// The largest size it cosigned for us.
    pub cosigned_size: AtomicU64,
    /// Rounds in which it gave no cosignature.
    pub failures: AtomicU64,
}

/// The background task sending checkpoints to witnesses.
#[derive(Debug)]
pub struct WitnessPusher {
    handle: tokio::task::JoinHandle<()>,
    status: Arc<Vec<WitnessStatus>>,
}

impl WitnessPusher {
    /// Starts the task. `wake` is the sequencer's "new tree size" channel (the pusher reads the
    /// checkpoint itself from the database, so it only needs to be told when); without it, or
    /// in addition, the log state is polled every `config.poll_interval`. The task ends when
    /// `wake`'s sender is dropped or [`WitnessPusher::stop`] is called. With no witness
    /// configured it ends at once.
    pub fn spawn(
        pool: Pool,
        set: Arc<WitnessSet>,
        wake: Option<watch::Receiver<u64>>,
        config: PusherConfig,
    ) -> Self {
        let status: Arc<Vec<WitnessStatus>> = Arc::new(
            set.witnesses
                .iter()
                .map(|w| WitnessStatus {
                    label: w.label.clone(),
                    cosigned_size: AtomicU64::new(0),
                    failures: AtomicU64::new(0),
                })
                .collect(),
        );
        let task = PushTask {
            pool,
            set,
            config,
            status: status.clone(),
        };
        let handle = tokio::spawn(task.run(wake));
        Self { handle, status }
    }

    /// Per witness: label, largest size cosigned, failed rounds (for `/metrics`).
    pub fn status(&self) -> Vec<(String, u64, u64)> {
        self.status
            .iter()
            .map(|s| {
                (
                    s.label.clone(),
                    s.cosigned_size.load(Ordering::Acquire),
                    s.failures.load(Ordering::Acquire),
                )
            })
            .collect()
    }

    /// Stops the task (a request in flight is dropped; nothing is half-written).
    pub fn stop(&self) {
        self.handle.abort();
    }
}

struct PushTask {
    pool: Pool,
    set: Arc<WitnessSet>,
    config: PusherConfig,
    status: Arc<Vec<WitnessStatus>>,
}

/// The pusher's view of one witness between rounds.
#[derive(Debug, Clone, Copy, Default)]
struct Known {
    /// The size we believe the witness last cosigned (None: ask the database).
    size: Option<u64>,
    /// The size it last cosigned for us in this process.
    done: Option<u64>,
}

impl PushTask {
    async fn run(self, mut wake: Option<watch::Receiver<u64>>) {
        if self.set.witnesses.is_empty() {
            return;
        }
        let http = match reqwest::Client::builder()
            .timeout(self.config.timeout)
            .connect_timeout(self.config.timeout)
            .user_agent(concat!("notarium/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "witness pusher: no HTTP client; not running");
                return;
            }
        };
        let mut known = vec![Known::default(); self.set.witnesses.len()];
        loop {
            match self.round(&http, &mut known).await {
                Ok(()) => {}
                Err(e) => tracing::warn!(error = %e, "witness round failed"),
            }
            let tick = tokio::time::sleep(self.config.poll_interval);
            match wake.as_mut() {
                Some(rx) => {
                    tokio::select! {
                        changed = rx.changed() => if changed.is_err() { return },
                        _ = tick => {}
                    }
                }
                None => tick.await,
            }
        }
    }

    /// Sends the latest checkpoint to every witness that has not cosigned it, in parallel.
    async fn round(
        &self,
        http: &reqwest::Client,
        known: &mut [Known],
    ) -> Result<(), WitnessesError> {
        let state = {
            let conn = self.pool.get().await?;
            store_log::state(&**conn).await?
        };
        let Some(state) = state else {
            return Ok(());
        };
        let pushes = self
            .set
            .witnesses
            .iter()
            .zip(known.iter_mut())
            .zip(self.status.iter())
            .filter(|((_, k), _)| k.done != Some(state.size))
            .map(|((w, k), st)| {
                let note = state.checkpoint.as_str();
                async move {
                    match self.push(http, w, k, state.size, note).await {
                        Ok(()) => {
                            st.cosigned_size.fetch_max(state.size, Ordering::AcqRel);
                        }
                        Err(e) => {
                            st.failures.fetch_add(1, Ordering::AcqRel);
                            tracing::warn!(witness = %w.label, size = state.size, error = %e, "no cosignature");
                        }
                    }
                }
            });
        futures::future::join_all(pushes).await;
        Ok(())
    }

    /// Sends one checkpoint to one witness until it cosigns, refuses, or attempts run out.
    async fn push(
        &self,
        http: &reqwest::Client,
        w: &ConfiguredWitness,
        known: &mut Known,
        size: u64,
        note: &str,
    ) -> Result<(), WitnessesError> {
        let err = |detail: String| WitnessesError::Witness {
            witness: w.label.clone(),
            detail,
        };
        if known.size.is_none() {
            let conn = self.pool.get().await?;
            let stored = cosignatures::latest_size_by(&**conn, w.key_name()).await?;
            known.size = Some(stored.unwrap_or(0));
            if stored == Some(size) {
                // Cosigned before a restart: nothing to ask.
                known.done = Some(size);
                return Ok(());
            }
        }
        let mut failures = 0u32;
        // Old-size corrections (409) are bounded too: a witness changing its answer each time
        // is not worth more than a few requests per round.
        let mut corrections = 0u32;
        loop {
            let old = known.size.unwrap_or(0);
            if old > size {
                return Err(err(format!("it holds size {old}, beyond the log's {size}")));
            }
            let proof = if old == 0 || old == size {
                Vec::new()
            } else {
                self.consistency(old, size).await?
            };
            let body = AddCheckpoint {
                old,
                proof,
                note: note.as_bytes().to_vec(),
            }
            .to_body();
            let sent = http
                .post(format!("{}/add-checkpoint", w.url))
                .body(body)
                .send()
                .await;
            let retry = match sent {
                Err(e) => format!("request failed: {e}"),
                Ok(resp) => {
                    let status = resp.status();
                    let is_size = resp
                        .headers()
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("text/x.tlog.size"));
                    let body = crate::witness::log_client::read_bounded(resp, 64 * 1024)
                        .await
                        .unwrap_or_default();
                    match status {
                        StatusCode::OK => {
                            let line =
                                verified_line(w, note, &body).map_err(|e| err(e.to_string()))?;
                            let conn = self.pool.get().await?;
                            cosignatures::insert(&**conn, size, w.key_name(), &line).await?;
                            known.size = Some(size);
                            known.done = Some(size);
                            tracing::debug!(witness = %w.label, size, "cosigned");
                            return Ok(());
                        }
                        StatusCode::CONFLICT if is_size => match parse_size_body(&body) {
                            Some(n) if n != old && corrections < 3 => {
                                corrections += 1;
                                known.size = Some(n);
                                continue;
                            }
                            _ => {
                                return Err(err(format!(
                                    "old size refused ({})",
                                    String::from_utf8_lossy(&body).trim()
                                )));
                            }
                        },
                        StatusCode::CONFLICT => {
                            tracing::error!(witness = %w.label, size, "the witness reports a conflicting checkpoint (split view?)");
                            return Err(err("conflict: it holds another tree at this size".into()));
                        }
                        s if s.is_server_error()
                            || s == StatusCode::REQUEST_TIMEOUT
                            || s == StatusCode::TOO_MANY_REQUESTS =>
                        {
                            format!("status {s}")
                        }
                        s => {
                            return Err(err(format!(
                                "refused with {s}: {}",
                                String::from_utf8_lossy(&body)
                                    .chars()
                                    .take(300)
                                    .collect::<String>()
                            )));
                        }
                    }
                }
            };
            failures += 1;
            if failures >= self.config.attempts.max(1) {
                return Err(err(retry));
            }
            tokio::time::sleep(Duration::from_millis(100u64 << failures.min(6))).await;
        }
    }

    /// The consistency proof from `from` to `to` out of the stored tiles.
    async fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, WitnessesError> {
        let data = |e: &dyn std::fmt::Display| WitnessesError::Data(e.to_string());
        let plan = consistency_plan(from, to).map_err(|e| data(&e))?;
        let wanted = tiles_for_plan(&plan, to).map_err(|e| data(&e))?;
        let conn = self.pool.get().await?;
        let rows = store_log::tiles(&**conn, &wanted).await?;
        let mut set = TileSet::new();
        for t in &wanted {
            let (_, d) = rows
                .iter()
                .find(|(s, d)| s.level == t.level && s.index == t.index && d.len() >= t.byte_len())
                .ok_or_else(|| WitnessesError::Data(format!("tile {} missing", t.path())))?;
            set.insert(*t, d[..t.byte_len()].to_vec())
                .map_err(|e| data(&e))?;
        }
        plan.assemble_with(|id| set.node(id)).map_err(|e| data(&e))
    }
}

/// The witness's cosignature line over `note` from a 200 answer, verified against its key.
fn verified_line(w: &ConfiguredWitness, note: &str, body: &[u8]) -> Result<String, NoteError> {
    let body = std::str::from_utf8(body).map_err(|_| NoteError::BadText)?;
    // As the spec suggests: the answer appended to the note parses as more signature lines.
    let full = Note::parse(format!("{note}{body}").as_bytes())?;
    for sig in full.signatures() {
        if sig.name == w.key_name()
            && sig.key_id == w.key.key_id()
            && w.key
                .verified_timestamp(full.text(), &sig.signature)
                .is_some()
        {
            return Ok(sig.to_line());
        }
    }
    Err(NoteError::NoKnownSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{ALG_COSIGNATURE_V1, ALG_ED25519, Checkpoint, Ed25519Signer, cosign};
    use ed25519_dalek::SigningKey;

    fn witness_key(name: &str, seed: u8) -> Ed25519Signer {
        Ed25519Signer::new(
            name,
            ALG_COSIGNATURE_V1,
            SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap()
    }

    #[test]
    fn parses_witness_lists() {
        let a = witness_key("w1.example", 1).verifier().to_vkey();
        let b = witness_key("w2.example", 2).verifier().to_vkey();
        let spec = format!(" one=http://w1:8081/={a} , two=http://w2/x?y=1={b},");
        let ws = parse_witnesses(&spec).unwrap();
        assert_eq!(ws.len(), 2);
        assert_eq!(ws[0].label, "one");
        assert_eq!(ws[0].url, "http://w1:8081");
        assert_eq!(ws[0].key_name(), "w1.example");
        assert_eq!(ws[1].url, "http://w2/x?y=1");
        assert!(parse_witnesses("").unwrap().is_empty());
        let log_vkey = Ed25519Signer::new("l", ALG_ED25519, SigningKey::from_bytes(&[3; 32]))
            .unwrap()
            .verifier()
            .to_vkey();
        for bad in [
            format!("one={a}"),
            format!("=http://w1={a}"),
            format!("one=https://w1={a}"),
            format!("one=http://w1={log_vkey}"),
            format!("one=http://w1={a},one=http://w2={b}"),
            format!("one=http://w1={a},two=http://w2={a}"),
        ] {
            assert!(parse_witnesses(&bad).is_err(), "{bad}");
        }
        assert!(WitnessSet::new(ws.clone(), 2).is_ok());
        assert!(WitnessSet::new(ws, 3).is_err());
    }

    #[test]
    fn only_a_verified_line_from_that_witness_is_kept() {
        let log = Ed25519Signer::new("log.example", ALG_ED25519, SigningKey::from_bytes(&[5; 32]))
            .unwrap();
        let note = Checkpoint::new("log.example", 9, [4u8; 32])
            .sign(&log)
            .unwrap();
        let w1 = witness_key("w1.example", 1);
        let w2 = witness_key("w2.example", 2);
        let cw1 = ConfiguredWitness {
            label: "one".into(),
            url: "http://w1".into(),
            key: CosignatureVerifier::new(w1.verifier()).unwrap(),
        };
        let good = cosign(&w1, note.text(), 1_700_000_000).unwrap().to_line();
        let other = cosign(&w2, note.text(), 1_700_000_000).unwrap().to_line();
        let text = note.to_text();
        assert_eq!(verified_line(&cw1, &text, good.as_bytes()).unwrap(), good);
        // Another witness's line and the right witness's line over another checkpoint: refused.
        assert!(verified_line(&cw1, &text, other.as_bytes()).is_err());
        let elsewhere = cosign(
            &w1,
            "log.example\n8\nBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=\n",
            1,
        )
        .unwrap()
        .to_line();
        assert!(verified_line(&cw1, &text, elsewhere.as_bytes()).is_err());
        // Both lines: the right one is found.
        let both = format!("{other}{good}");
        assert_eq!(verified_line(&cw1, &text, both.as_bytes()).unwrap(), good);
        assert!(verified_line(&cw1, &text, b"not a line\n").is_err());
    }
}
