//! A witness's story: it cosigns a notarium log as it grows, mirrors it and serves it when the
//! log's server is gone, refuses a forked log and keeps the evidence, and never goes back on
//! what it cosigned, across restarts and concurrent requests.
//!
//! The real log is a notarium server (`TestApp`) fed invoices over HTTP. Forks need a log that
//! misbehaves, so [`TestLog`] is a test-only log: entries in memory, checkpoints signed with a
//! key of the test's choosing, served as C2SP tlog-tiles by a small axum app.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use notarium::ledger::{
    ALG_ED25519, Checkpoint, CosignatureVerifier, Ed25519Signer, Ed25519Verifier, Hash, TileEdge,
    TileResource, WitnessPolicy, encode_bundle, leaf_hash, parse_tile_path,
    reference_consistency_proof,
};
use notarium::notary::witnesses::{
    PusherConfig, WitnessPusher, WitnessSet, cosigned_checkpoint, latest_trusted_checkpoint,
    parse_witnesses,
};
use notarium::witness::{AddCheckpoint, WitnessConfig};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::harness::{TestApp, fresh_database, shared_tempdir};

/// Every test is cut off after this.
const TEST_DEADLINE: Duration = Duration::from_secs(240);

async fn bounded<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_DEADLINE, f)
        .await
        .expect("test exceeded its deadline");
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `secs` seconds.
async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// RFC 6962 Merkle tree hash written here from the RFC, apart from the crate's ledger code.
fn mth(entries: &[Vec<u8>]) -> [u8; 32] {
    match entries.len() {
        0 => Sha256::digest([]).into(),
        1 => Sha256::new()
            .chain_update([0u8])
            .chain_update(&entries[0])
            .finalize()
            .into(),
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            Sha256::new()
                .chain_update([1u8])
                .chain_update(mth(&entries[..k]))
                .chain_update(mth(&entries[k..]))
                .finalize()
                .into()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A witness process, in this test process.

struct TestWitness {
    base: String,
    database_url: String,
    _data_dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    http: reqwest::Client,
}

impl TestWitness {
    /// Starts a witness for the log with `log_vkey`, mirroring `log_url` when given, on
    /// `database_url` (a fresh database when `None`).
    async fn start(log_vkey: &str, log_url: Option<&str>, database_url: Option<String>) -> Self {
        let database_url = match database_url {
            Some(u) => u,
            None => fresh_database().await,
        };
        let data_dir = shared_tempdir("notarium-test-witness-");
        let mut vars: HashMap<String, String> = [
            ("DATABASE_URL", database_url.as_str()),
            ("NOTARIUM_DATA_DIR", data_dir.path().to_str().unwrap()),
            ("NOTARIUM_MASTER_KEY", &"42".repeat(32)),
            ("NOTARIUM_POOL_SIZE", "8"),
            ("NOTARIUM_WITNESS_NAME", "witness.test/w1"),
            ("NOTARIUM_WITNESS_LOG_VKEY", log_vkey),
            ("NOTARIUM_WITNESS_LISTEN", "127.0.0.1:0"),
            ("NOTARIUM_WITNESS_POLL_MS", "100"),
            ("NOTARIUM_WITNESS_FETCH_TIMEOUT_MS", "5000"),
            // One bundle per chunk, so a few hundred entries take several verified chunks.
            ("NOTARIUM_WITNESS_MIRROR_BUNDLES", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(url) = log_url {
            vars.insert("NOTARIUM_WITNESS_LOG_URL".into(), url.to_string());
        }
        let config = WitnessConfig::load_from(|k| vars.get(k).cloned()).expect("witness config");
        let node = notarium::witness::open(config)
            .await
            .expect("witness opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = notarium::witness::serve_on(node, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        Self {
            base,
            database_url,
            _data_dir: data_dir,
            shutdown: Some(tx),
            server: Some(server),
            http: reqwest::Client::new(),
        }
    }

    async fn stop(mut self) -> String {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
        self.database_url.clone()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn info(&self) -> Value {
        self.http
            .get(self.url("/v1/witness"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn vkey(&self) -> String {
        self.info().await["vkey"].as_str().unwrap().to_string()
    }

    /// POSTs an add-checkpoint; returns (status, content type, body).
    async fn add(&self, old: u64, proof: Vec<Hash>, note: &str) -> (u16, String, String) {
        let body = AddCheckpoint {
            old,
            proof,
            note: note.as_bytes().to_vec(),
        }
        .to_body();
        let r = self
            .http
            .post(self.url("/add-checkpoint"))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ctype, r.text().await.unwrap())
    }

    async fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }
}

/// Checks that `note` carries the log's signature and a valid cosignature by `witness_vkey`.
fn assert_cosigned(
    note: &str,
    origin: &str,
    log: &Ed25519Verifier,
    witness_vkey: &str,
) -> Checkpoint {
    let (cp, parsed) = Checkpoint::open(note.as_bytes(), origin, log).expect("log signature");
    let policy = WitnessPolicy::new(
        1,
        vec![CosignatureVerifier::from_vkey(witness_vkey).unwrap()],
    )
    .unwrap();
    policy.check(&parsed, None).expect("witness cosignature");
    cp
}

// ---------------------------------------------------------------------------------------------
// A test-only log that can be made to misbehave.

#[derive(Clone)]
struct TestLog {
    origin: String,
    key: Ed25519Signer,
    entries: Vec<Vec<u8>>,
}

impl TestLog {
    fn new(origin: &str, seed: u8) -> Self {
        let key = Ed25519Signer::new(
            origin,
            ALG_ED25519,
            ed25519_dalek::SigningKey::from_bytes(&[seed; 32]),
        )
        .unwrap();
        Self {
            origin: origin.into(),
            key,
            entries: Vec::new(),
        }
    }

    fn vkey(&self) -> String {
        self.key.verifier().to_vkey()
    }

    fn append(&mut self, tag: &str, n: usize) {
        let start = self.entries.len();
        for i in 0..n {
            self.entries
                .push(format!("{tag} entry {}", start + i).into_bytes());
        }
    }

    fn size(&self) -> u64 {
        self.entries.len() as u64
    }

    fn leaves(&self) -> Vec<Hash> {
        self.entries.iter().map(|e| leaf_hash(e)).collect()
    }

    fn checkpoint(&self) -> String {
        Checkpoint::new(&self.origin, self.size(), mth(&self.entries))
            .sign(&self.key)
            .unwrap()
            .to_text()
    }

    fn proof_from(&self, old: u64) -> Vec<Hash> {
        if old == 0 || old == self.size() {
            return Vec::new();
        }
        reference_consistency_proof(&self.leaves(), old).unwrap()
    }

    /// Every tile of the current tree, as the log would serve them.
    fn tiles(&self) -> Vec<(notarium::ledger::Tile, Vec<u8>)> {
        TileEdge::new().append(&self.leaves()).unwrap().tiles
    }
}

type SharedLog = Arc<Mutex<TestLog>>;

async fn serve_test_log(log: SharedLog) -> (String, tokio::task::JoinHandle<()>) {
    async fn checkpoint(State(log): State<SharedLog>) -> String {
        log.lock().unwrap().checkpoint()
    }
    async fn tile(State(log): State<SharedLog>, Path(path): Path<String>) -> Response {
        let log = log.lock().unwrap().clone();
        match parse_tile_path(&format!("tile/{path}")) {
            Ok(TileResource::Hashes(t)) => log
                .tiles()
                .into_iter()
                .find(|(s, _)| s.level == t.level && s.index == t.index && s.width >= t.width)
                .map(|(_, d)| d[..t.byte_len()].to_vec().into_response())
                .unwrap_or_else(|| StatusCode::NOT_FOUND.into_response()),
            Ok(TileResource::Entries(t)) => {
                let start = (t.index * 256) as usize;
                let end = start + usize::from(t.width);
                if end > log.entries.len() {
                    return StatusCode::NOT_FOUND.into_response();
                }
                encode_bundle(&log.entries[start..end])
                    .unwrap()
                    .into_response()
            }
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let app = axum::Router::new()
        .route("/checkpoint", axum::routing::get(checkpoint))
        .route("/tile/{*path}", axum::routing::get(tile))
        .with_state(log);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let h = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, h)
}

// ---------------------------------------------------------------------------------------------
// The real log.

const INVOICE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/invoices/ubl/en16931-ubl-example1.xml"
);

async fn issuer(app: &TestApp) -> String {
    let (id, key) = app.register("Insurer", "issuer").await;
    let r = app
        .http
        .post(app.url(&format!("/v1/orgs/{id}/certificates")))
        .bearer_auth(&key)
        .json(&json!({"custodial": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    key
}

/// Notarizes `n` distinct invoices (numbers `<tag>-<i>`) concurrently.
async fn grow(app: &TestApp, key: &str, tag: &str, n: usize) {
    let template = std::fs::read_to_string(INVOICE).unwrap();
    let subs = (0..n).map(|i| {
        let body = template.replacen(
            "<cbc:ID>12115118</cbc:ID>",
            &format!("<cbc:ID>{tag}-{i}</cbc:ID>"),
            1,
        );
        async move {
            let r = app
                .http
                .post(app.url("/v1/invoices"))
                .bearer_auth(key)
                .header("content-type", "application/xml")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
    });
    // At most 64 in flight: several batches, as under real load.
    futures::stream::iter(subs)
        .buffer_unordered(64)
        .collect::<Vec<()>>()
        .await;
}

async fn log_checkpoint(app: &TestApp) -> String {
    app.http
        .get(app.url("/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn log_vkey(app: &TestApp) -> String {
    let t = app
        .http
        .get(app.url("/v1/log/key"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    t.trim().to_string()
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn witness_cosigns_a_growing_log_through_the_pusher() {
    bounded(async {
        let app = TestApp::start().await;
        let key = issuer(&app).await;
        let vkey = log_vkey(&app).await;
        let log_key = Ed25519Verifier::from_vkey(&vkey).unwrap();
        let origin = app.state.config.log_origin.clone();
        // Push only: no mirror.
        let w = TestWitness::start(&vkey, None, None).await;
        let w_vkey = w.vkey().await;
        let set = Arc::new(
            WitnessSet::new(
                parse_witnesses(&format!("w1={}={w_vkey}", w.base)).unwrap(),
                1,
            )
            .unwrap(),
        );
        let pusher = WitnessPusher::spawn(
            app.state.store.pool.clone(),
            set.clone(),
            None,
            PusherConfig {
                timeout: Duration::from_secs(5),
                poll_interval: Duration::from_millis(100),
                attempts: 3,
            },
        );
        let mut last_size = 0;
        for (round, n) in [(0, 5usize), (1, 40), (2, 1)] {
            grow(&app, &key, &format!("G{round}"), n).await;
            let note = log_checkpoint(&app).await;
            let (cp, _) = Checkpoint::open(note.as_bytes(), &origin, &log_key).unwrap();
            assert!(cp.size > last_size, "the log grew");
            // The pusher delivers it; the witness cosigns; the log stores the line.
            let (store, set_ref, size) = (&app.state.store, &set, cp.size);
            let cosigned = eventually("a cosigned checkpoint", 30, move || async move {
                let t = latest_trusted_checkpoint(store, set_ref).await.unwrap()?;
                (t.size == size).then_some(t)
            })
            .await;
            assert_eq!(cosigned.cosigners.len(), 1);
            assert_eq!(cosigned.cosigners[0].name, "witness.test/w1");
            let attached = cosigned_checkpoint(&app.state.store, cp.size)
                .await
                .unwrap()
                .unwrap();
            let back = assert_cosigned(&attached, &origin, &log_key, &w_vkey);
            assert_eq!(back, cp);
            assert_eq!(w.info().await["cosigned_size"], cp.size);
            last_size = cp.size;
        }
        assert_eq!(pusher.status()[0].1, last_size);
        // A size never checkpointed has nothing to attach.
        assert!(
            cosigned_checkpoint(&app.state.store, last_size + 1000)
                .await
                .unwrap()
                .is_none()
        );
        pusher.stop();
        w.stop().await;
        app.stop().await;
    })
    .await;
}

#[tokio::test]
async fn mirror_recomputes_the_log_and_serves_it_when_the_log_is_gone() {
    bounded(async {
        let app = TestApp::start().await;
        let key = issuer(&app).await;
        let vkey = log_vkey(&app).await;
        let log_key = Ed25519Verifier::from_vkey(&vkey).unwrap();
        let origin = app.state.config.log_origin.clone();
        // Past one full tile: the mirror takes several chunks, the last one partial.
        grow(&app, &key, "M", 300).await;
        let w = TestWitness::start(&vkey, Some(&app.base), None).await;
        let w_vkey = w.vkey().await;
        let note = log_checkpoint(&app).await;
        let (cp, _) = Checkpoint::open(note.as_bytes(), &origin, &log_key).unwrap();
        assert!(cp.size >= 300);
        let (wr, size) = (&w, cp.size);
        eventually(
            "the mirror to catch up and cosign",
            60,
            move || async move {
                let i = wr.info().await;
                (i["mirrored_size"] == size && i["cosigned_size"] == size).then_some(())
            },
        )
        .await;
        // The witness's checkpoint: the log's, with the witness's cosignature.
        let (status, body) = w.get_bytes("/checkpoint").await;
        assert_eq!(status, 200);
        let mirrored = assert_cosigned(
            &String::from_utf8(body).unwrap(),
            &origin,
            &log_key,
            &w_vkey,
        );
        assert_eq!(mirrored, cp);
        // Tiles computed by the witness equal the log's, byte for byte.
        let partial = (cp.size % 256) as u16;
        for path in [
            "/tile/0/000".to_string(),
            format!("/tile/0/001.p/{partial}"),
            "/tile/1/000.p/1".to_string(),
            "/tile/entries/000".to_string(),
            format!("/tile/entries/001.p/{partial}"),
        ] {
            let (ws, wb) = w.get_bytes(&path).await;
            let lr = app.http.get(app.url(&path)).send().await.unwrap();
            assert_eq!((ws, lr.status().as_u16()), (200, 200), "{path}");
            assert_eq!(wb, lr.bytes().await.unwrap().to_vec(), "{path}");
        }
        // And the entries it serves give the signed root by an independent RFC 6962 hash.
        let mut entries = Vec::new();
        for path in [
            "/tile/entries/000".to_string(),
            format!("/tile/entries/001.p/{partial}"),
        ] {
            let (_, b) = w.get_bytes(&path).await;
            entries.extend(
                notarium::ledger::decode_bundle(&b)
                    .unwrap()
                    .into_iter()
                    .map(<[u8]>::to_vec),
            );
        }
        assert_eq!(entries.len() as u64, cp.size);
        assert_eq!(mth(&entries), cp.root);

        // The log grows again: the mirror follows from where it stopped.
        grow(&app, &key, "N", 20).await;
        let (cp2, _) =
            Checkpoint::open(log_checkpoint(&app).await.as_bytes(), &origin, &log_key).unwrap();
        let size = cp2.size;
        eventually("the mirror to follow and cosign", 60, move || async move {
            let i = wr.info().await;
            (i["mirrored_size"] == size && i["cosigned_size"] == size).then_some(())
        })
        .await;

        // The log's server goes away; the witness still serves the checkpoint and the tiles.
        app.stop().await;
        let (status, body) = w.get_bytes("/checkpoint").await;
        assert_eq!(status, 200);
        let still = assert_cosigned(
            &String::from_utf8(body).unwrap(),
            &origin,
            &log_key,
            &w_vkey,
        );
        assert_eq!(still, cp2);
        let (status, bundle) = w.get_bytes("/tile/entries/000").await;
        assert_eq!(status, 200);
        assert_eq!(notarium::ledger::decode_bundle(&bundle).unwrap().len(), 256);
        let (status, _) = w.get_bytes("/tile/entries/009").await;
        assert_eq!(status, 404, "nothing beyond the mirror");
        let metrics = String::from_utf8(w.get_bytes("/metrics").await.1).unwrap();
        assert!(
            metrics.contains(&format!("notarium_witness_mirror_size {}", cp2.size)),
            "{metrics}"
        );
        assert!(metrics.contains("notarium_witness_alarms 0"), "{metrics}");
        w.stop().await;
    })
    .await;
}

#[tokio::test]
async fn witness_refuses_a_forked_log_and_keeps_the_evidence() {
    bounded(async {
        let mut honest = TestLog::new("fork.test/log", 1);
        honest.append("A", 10);
        let w = TestWitness::start(&honest.vkey(), None, None).await;
        let w_vkey = w.vkey().await;
        let log_key = honest.key.verifier();

        // Trust on first use, then growth with a proof.
        let (s, _, line) = w.add(0, vec![], &honest.checkpoint()).await;
        assert_eq!(s, 200, "{line}");
        assert!(
            line.starts_with("\u{2014} witness.test/w1 ") && line.ends_with('\n'),
            "{line}"
        );
        assert_cosigned(
            &format!("{}{line}", honest.checkpoint()),
            "fork.test/log",
            &log_key,
            &w_vkey,
        );
        let prefix = honest.clone();
        honest.append("A", 10);
        let (s, _, body) = w.add(10, honest.proof_from(10), &honest.checkpoint()).await;
        assert_eq!(s, 200, "{body}");
        let held = honest.checkpoint();

        // The same key signs another tree over the same first ten entries.
        let mut fork = prefix.clone();
        fork.append("B", 10);
        assert_eq!(fork.size(), 20);
        // Same size, other root: a split view.
        let (s, ctype, body) = w.add(20, vec![], &fork.checkpoint()).await;
        assert_eq!(s, 409, "{body}");
        assert!(ctype.starts_with("application/problem+json"), "{ctype}");
        assert!(body.contains("split-view"), "{body}");
        // The fork grows and offers its own (honest for it) proof from 20: it does not hold.
        fork.append("B", 5);
        let (s, _, body) = w.add(20, fork.proof_from(20), &fork.checkpoint()).await;
        assert_eq!(s, 422, "{body}");
        assert!(body.contains("inconsistent-proof"), "{body}");
        // Offering the same split view again is counted, not duplicated.
        let mut fork20 = prefix.clone();
        fork20.append("B", 10);
        let (s, _, _) = w.add(20, vec![], &fork20.checkpoint()).await;
        assert_eq!(s, 409);

        // Another key claiming the same origin is not the log: 403, and no alarm.
        let mut impostor = TestLog::new("fork.test/log", 2);
        impostor.entries = honest.entries.clone();
        impostor.append("C", 1);
        let (s, _, _) = w
            .add(20, impostor.proof_from(20), &impostor.checkpoint())
            .await;
        assert_eq!(s, 403);
        // An unknown origin: 404. A malformed proof: 422 without alarm. Old beyond size: 400.
        let stranger = TestLog::new("other.test/log", 1);
        let (s, _, _) = w.add(0, vec![], &stranger.checkpoint()).await;
        assert_eq!(s, 404);
        let mut grown = honest.clone();
        grown.append("A", 3);
        let short = grown.proof_from(20)[1..].to_vec();
        let (s, _, body) = w.add(20, short, &grown.checkpoint()).await;
        assert_eq!(s, 422);
        assert!(body.contains("bad-proof"), "{body}");
        let (s, _, _) = w.add(30, vec![], &grown.checkpoint()).await;
        assert_eq!(s, 400);

        // The evidence: both checkpoints, as the log signed them.
        let alarms: Value = w
            .http
            .get(w.url("/v1/witness/alarms"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list = alarms["alarms"].as_array().unwrap();
        assert_eq!(list.len(), 2, "{alarms}");
        let split = list.iter().find(|a| a["kind"] == "split-view").unwrap();
        assert_eq!(split["held_note"], held.as_str());
        assert_eq!(split["offered_note"], fork20.checkpoint().as_str());
        assert_eq!(split["times_seen"], 2);
        let inconsistent = list
            .iter()
            .find(|a| a["kind"] == "inconsistent-proof")
            .unwrap();
        assert_eq!(inconsistent["offered_note"], fork.checkpoint().as_str());
        assert!(
            inconsistent["proof"]
                .as_str()
                .unwrap()
                .starts_with("old 20\n")
        );
        // Each offered note really is signed by the log: evidence anyone can check.
        for a in list {
            Checkpoint::open(
                a["offered_note"].as_str().unwrap().as_bytes(),
                "fork.test/log",
                &log_key,
            )
            .unwrap();
        }
        let metrics = String::from_utf8(w.get_bytes("/metrics").await.1).unwrap();
        assert!(metrics.contains("notarium_witness_alarms 2"), "{metrics}");
        assert!(
            metrics.contains("notarium_witness_refusals_total{reason=\"split-view\"} 2"),
            "{metrics}"
        );

        // The honest log goes on being cosigned.
        let (s, _, body) = w.add(20, grown.proof_from(20), &grown.checkpoint()).await;
        assert_eq!(s, 200, "{body}");
        w.stop().await;
    })
    .await;
}

#[tokio::test]
async fn mirror_catches_a_log_that_serves_a_fork() {
    bounded(async {
        let mut honest = TestLog::new("mirror-fork.test/log", 3);
        let shared: SharedLog = Arc::new(Mutex::new(honest.clone()));
        let (log_url, log_server) = serve_test_log(shared.clone()).await;
        let w = TestWitness::start(&honest.vkey(), Some(&log_url), None).await;
        let wr = &w;
        // An empty log is mirrored and cosigned too (a pull-only log's first checkpoint).
        eventually("the empty log to be cosigned", 30, move || async move {
            let i = wr.info().await;
            (i["mirrored_size"] == 0 && i["cosigned_size"] == 0).then_some(())
        })
        .await;
        let (status, body) = w.get_bytes("/checkpoint").await;
        assert_eq!(status, 200);
        assert!(
            String::from_utf8(body)
                .unwrap()
                .contains("\n\u{2014} witness.test/w1 ")
        );
        honest.append("A", 300);
        *shared.lock().unwrap() = honest.clone();
        eventually("the mirror to catch up", 60, move || async move {
            (wr.info().await["cosigned_size"] == 300).then_some(())
        })
        .await;
        // The log now serves a tree that rewrote entry 5 and grew.
        let mut fork = honest.clone();
        fork.entries[5] = b"rewritten".to_vec();
        fork.append("B", 10);
        *shared.lock().unwrap() = fork.clone();
        let alarms = eventually("an alarm", 30, move || async move {
            let v: Value = wr
                .http
                .get(wr.url("/v1/witness/alarms"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let list = v["alarms"].as_array().cloned().unwrap_or_default();
            (!list.is_empty()).then_some(list)
        })
        .await;
        assert_eq!(alarms[0]["kind"], "mirror-mismatch");
        assert_eq!(alarms[0]["offered_note"], fork.checkpoint().as_str());
        assert_eq!(alarms[0]["held_note"], honest.checkpoint().as_str());
        // Nothing of the fork was mirrored or cosigned.
        let i = w.info().await;
        assert_eq!(i["mirrored_size"], 300);
        assert_eq!(i["cosigned_size"], 300);
        w.stop().await;
        log_server.abort();
    })
    .await;
}

#[tokio::test]
async fn witness_never_cosigns_an_older_size_across_restarts_and_races() {
    bounded(async {
        let mut log = TestLog::new("restart.test/log", 4);
        log.append("A", 10);
        let w = TestWitness::start(&log.vkey(), None, None).await;
        let w_vkey = w.vkey().await;
        assert_eq!(w.add(0, vec![], &log.checkpoint()).await.0, 200);
        let at10 = log.clone();
        log.append("A", 10);
        assert_eq!(
            w.add(10, log.proof_from(10), &log.checkpoint()).await.0,
            200
        );
        let at20 = log.clone();
        let db = w.stop().await;

        // Restarted on the same database: same key, same memory of size 20.
        let w = TestWitness::start(&log.vkey(), None, Some(db)).await;
        assert_eq!(w.vkey().await, w_vkey, "the key survives the restart");
        assert_eq!(w.info().await["cosigned_size"], 20);
        let (s, ctype, body) = w.add(10, vec![], &at10.checkpoint()).await;
        assert_eq!(
            (s, ctype.as_str(), body.as_str()),
            (409, "text/x.tlog.size", "20\n")
        );
        let (s, _, body) = w.add(0, vec![], &at10.checkpoint()).await;
        assert_eq!((s, body.as_str()), (409, "20\n"));
        // The same checkpoint again is fine (a fresh cosignature over the same tree).
        let (s, _, line) = w.add(20, vec![], &at20.checkpoint()).await;
        assert_eq!(s, 200);
        assert_cosigned(
            &format!("{}{line}", at20.checkpoint()),
            "restart.test/log",
            &at20.key.verifier(),
            &w_vkey,
        );

        // Many requests at once, all from 20 to different sizes: exactly one wins; the rest
        // learn the new size. A witness that checked and stored separately could roll back.
        let mut sizes = Vec::new();
        let mut grown = log.clone();
        for _ in 0..8 {
            grown.append("R", 1);
            sizes.push(grown.clone());
        }
        let notes: Vec<String> = sizes.iter().map(TestLog::checkpoint).collect();
        let results = futures::future::join_all(
            sizes
                .iter()
                .zip(&notes)
                .map(|(l, n)| w.add(20, l.proof_from(20), n)),
        )
        .await;
        let wins: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.0 == 200)
            .map(|(i, _)| i)
            .collect();
        assert_eq!(wins.len(), 1, "{results:?}");
        let won = sizes[wins[0]].size();
        for r in results.iter().filter(|r| r.0 != 200) {
            assert_eq!((r.0, r.2.as_str()), (409, format!("{won}\n").as_str()));
        }
        let db = w.stop().await;
        let w = TestWitness::start(&log.vkey(), None, Some(db)).await;
        assert_eq!(w.info().await["cosigned_size"], won);
        w.stop().await;
    })
    .await;
}
