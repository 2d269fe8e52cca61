//! The log as a verifier outside sees it: proofs and tiles from the API check out with the
//! ledger's own verifier (and fail when tampered), checkpoints stay consistent across restarts,
//! `admin log verify` catches an altered row, and `kill -9` loses nothing acknowledged.

use std::process::{Command, Stdio};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use notarium::ledger::{Checkpoint, Ed25519Verifier, Entry, EntryKind, Signer, leaf_hash};
use notarium::notary::sequencer::{Outcome, Submission};
use notarium::store::log::NewRecord;
use serde_json::Value;
use uuid::Uuid;

use crate::harness::{TestApp, run, shared_tempdir, test_config};

/// Appends `n` synthetic entries for `org`, `per` at a time concurrently (so batches form);
/// returns their leaf hashes by index.
async fn append(app: &TestApp, org: Uuid, n: usize, per: usize) -> Vec<(u64, [u8; 32])> {
    let mut out = Vec::new();
    let mut left = n;
    while left > 0 {
        let k = left.min(per);
        let mut tasks = Vec::new();
        for _ in 0..k {
            let state = app.state.clone();
            tasks.push(tokio::spawn(async move {
                let id = Uuid::new_v4();
                let entry = Entry {
                    kind: EntryKind::Invoice,
                    record_id: *id.as_bytes(),
                    org_id: *org.as_bytes(),
                    cert_fingerprint: [1; 32],
                    document_sha256: *Uuid::new_v4()
                        .as_bytes()
                        .repeat(2)
                        .first_chunk::<32>()
                        .unwrap(),
                    canonical_sha256: None,
                    signer: Signer::Custodial,
                    signature: vec![0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01],
                    token_sha256: [2; 32],
                    refers_to: None,
                    detail: "synthetic".into(),
                };
                let bytes = entry.encode().unwrap();
                let leaf = leaf_hash(&bytes);
                let record = NewRecord {
                    id,
                    kind: "invoice",
                    org_id: org,
                    unique_key: None,
                    refers_to: None,
                    document_sha256: entry.document_sha256.to_vec(),
                    canonical_sha256: None,
                    token: vec![0],
                    signature: entry.signature.clone(),
                    signer: "custodial",
                    cert_fingerprint: vec![1; 32],
                    meta: serde_json::json!({}),
                    document: None,
                };
                match state
                    .sequencer
                    .submit(Submission {
                        entry: bytes,
                        leaf_hash: leaf,
                        record,
                        check: None,
                    })
                    .await
                    .unwrap()
                {
                    Outcome::Committed(c) => (c.index, leaf),
                    other => panic!("{other:?}"),
                }
            }));
        }
        for t in tasks {
            out.push(t.await.unwrap());
        }
        left -= k;
    }
    out.sort();
    out
}

async fn wait_leader(app: &TestApp) {
    for _ in 0..100 {
        if app.state.sequencer.is_leader() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("sequencer never took the lock");
}

async fn get_json(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.http.get(app.url(path)).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}

fn hashes(v: &Value) -> Vec<[u8; 32]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect()
}

async fn verifier(app: &TestApp) -> Ed25519Verifier {
    let vkey = app
        .http
        .get(app.url("/v1/log/key"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Ed25519Verifier::from_vkey(vkey.trim()).unwrap()
}

async fn latest(app: &TestApp) -> Checkpoint {
    let note = app
        .http
        .get(app.url("/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Checkpoint::open(
        note.as_bytes(),
        "notarium.example/log",
        &verifier(app).await,
    )
    .unwrap()
    .0
}

#[tokio::test]
async fn proofs_and_tiles_from_the_api_verify_and_tampering_fails() {
    let app = TestApp::start().await;
    wait_leader(&app).await;
    let (org, _) = app.register("Org", "issuer").await;
    let org: Uuid = org.parse().unwrap();
    let leaves = append(&app, org, 600, 150).await;
    let cp = latest(&app).await;
    assert_eq!(cp.size, 600);
    assert_eq!(
        leaves.iter().map(|l| l.0).collect::<Vec<_>>(),
        (0..600).collect::<Vec<_>>()
    );

    for &i in &[0u64, 1, 255, 256, 511, 599] {
        let (s, v) = get_json(&app, &format!("/v1/log/inclusion?index={i}")).await;
        assert_eq!(s, 200, "{v}");
        let proof = hashes(&v["proof"]);
        let leaf = leaves[i as usize].1;
        notarium::ledger::verify_inclusion(i, cp.size, &leaf, &proof, &cp.root).unwrap();
        if !proof.is_empty() {
            let mut bad = proof.clone();
            bad[0][31] ^= 0x80;
            assert!(notarium::ledger::verify_inclusion(i, cp.size, &leaf, &bad, &cp.root).is_err());
        }
        assert!(
            notarium::ledger::verify_inclusion(i ^ 1, cp.size, &leaf, &proof, &cp.root).is_err()
        );
        // By hash too.
        let h = url_b64(&leaf);
        let (s, v2) = get_json(&app, &format!("/v1/log/inclusion?hash={h}")).await;
        assert_eq!(s, 200);
        assert_eq!(v2["index"], i);
    }

    // Consistency between stored checkpoints.
    let conn = app.state.store.conn().await.unwrap();
    let cps = notarium::store::log::all_checkpoints(&**conn)
        .await
        .unwrap();
    drop(conn);
    assert!(cps.len() >= 4, "several batches: {}", cps.len());
    for w in cps.windows(2).filter(|w| w[0].0 > 0) {
        let (s, v) = get_json(
            &app,
            &format!("/v1/log/consistency?from={}&to={}", w[0].0, w[1].0),
        )
        .await;
        assert_eq!(s, 200);
        let proof = hashes(&v["proof"]);
        notarium::ledger::verify_consistency(w[0].0, w[1].0, &proof, &w[0].1, &w[1].1).unwrap();
        let mut other = w[0].1;
        other[0] ^= 1;
        assert!(
            notarium::ledger::verify_consistency(w[0].0, w[1].0, &proof, &other, &w[1].1).is_err()
        );
    }

    // A tlog-proof verifies with the log key.
    let text = app
        .http
        .get(app.url("/v1/log/proof?index=300"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tp = notarium::ledger::TlogProof::parse(text.as_bytes()).unwrap();
    assert_eq!(tp.index, 300);
    tp.verify(
        &leaves[300].1,
        "notarium.example/log",
        &verifier(&app).await,
    )
    .unwrap();
    assert!(
        tp.verify(
            &leaves[301].1,
            "notarium.example/log",
            &verifier(&app).await
        )
        .is_err()
    );

    // Tiles: the first full tile is the first 256 leaf hashes; partial tiles and entry bundles.
    let r = app.http.get(app.url("/tile/0/000")).send().await.unwrap();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    let tile = r.bytes().await.unwrap();
    let expect: Vec<u8> = leaves[..256].iter().flat_map(|l| l.1).collect();
    assert_eq!(tile.to_vec(), expect);
    let part = app
        .http
        .get(app.url("/tile/0/002.p/88"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let expect: Vec<u8> = leaves[512..600].iter().flat_map(|l| l.1).collect();
    assert_eq!(part.to_vec(), expect);
    let bundle = app
        .http
        .get(app.url("/tile/entries/000"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let entries = notarium::ledger::decode_bundle(&bundle).unwrap();
    assert_eq!(entries.len(), 256);
    assert_eq!(leaf_hash(entries[7]), leaves[7].1);

    // Bad parameters.
    assert_eq!(
        get_json(&app, "/v1/log/inclusion?index=1&size=601").await.0,
        400
    );
    assert_eq!(get_json(&app, "/v1/log/inclusion?index=600").await.0, 400);
    assert_eq!(
        get_json(&app, "/v1/log/consistency?from=10&to=5").await.0,
        400
    );
    assert_eq!(
        get_json(
            &app,
            &format!("/v1/log/inclusion?hash={}", url_b64(&[9; 32]))
        )
        .await
        .0,
        404
    );
    assert_eq!(get_json(&app, "/v1/log/inclusion?hash=zz").await.0, 400);
    assert_eq!(get_json(&app, "/tile/0/003").await.0, 404);
    assert_eq!(get_json(&app, "/tile/0/x1").await.0, 404);
    app.stop().await;
}

fn url_b64(h: &[u8]) -> String {
    B64.encode(h)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

#[tokio::test]
async fn checkpoints_stay_consistent_across_restarts() {
    let app = TestApp::start().await;
    wait_leader(&app).await;
    let (org, _) = app.register("Org", "issuer").await;
    let org: Uuid = org.parse().unwrap();
    append(&app, org, 300, 100).await;
    let url = app.database_url.clone();
    let data = app.data_dir.path().to_path_buf();
    let keep = shared_tempdir("unused-");
    app.stop().await;
    for round in 0..2 {
        let app = TestApp::start_on(
            test_config(&url, &data),
            url.clone(),
            shared_tempdir("unused-"),
        )
        .await;
        wait_leader(&app).await;
        append(&app, org, 130 + round * 7, 60).await;
        let conn = app.state.store.conn().await.unwrap();
        let cps = notarium::store::log::all_checkpoints(&**conn)
            .await
            .unwrap();
        drop(conn);
        let last = cps.last().unwrap().clone();
        // Every checkpoint ever signed is consistent with the latest.
        for (size, root, _) in cps.iter().filter(|c| c.0 > 0) {
            let (s, v) = get_json(
                &app,
                &format!("/v1/log/consistency?from={size}&to={}", last.0),
            )
            .await;
            assert_eq!(s, 200);
            notarium::ledger::verify_consistency(
                *size,
                last.0,
                &hashes(&v["proof"]),
                root,
                &last.1,
            )
            .unwrap();
        }
        app.stop().await;
    }
    drop(keep);
}

fn admin_log_verify(url: &str, data: &std::path::Path) -> (bool, String) {
    let cfg = test_config(url, data);
    run(Command::new(env!("CARGO_BIN_EXE_notarium"))
        .args(["admin", "log", "verify"])
        .env("DATABASE_URL", url)
        .env("NOTARIUM_DATA_DIR", data)
        .env("NOTARIUM_MASTER_KEY", cfg.master_key.unwrap())
        .env("NOTARIUM_ADMIN_KEY", cfg.admin_key.unwrap())
        .env("RUST_LOG", "error"))
}

#[tokio::test]
async fn admin_log_verify_passes_and_catches_an_altered_row() {
    let app = TestApp::start().await;
    wait_leader(&app).await;
    let (org, _) = app.register("Org", "issuer").await;
    let org: Uuid = org.parse().unwrap();
    append(&app, org, 700, 200).await;
    let url = app.database_url.clone();
    let data = app.data_dir.path().to_path_buf();
    let (ok, out) = admin_log_verify(&url, &data);
    assert!(
        ok && out.contains("log verifies") && out.contains("entries recomputed: 700"),
        "{out}"
    );

    let conn = app.state.store.conn().await.unwrap();
    conn.execute(
        "UPDATE log_entries SET data = data || '\\x00'::bytea WHERE idx = 3",
        &[],
    )
    .await
    .unwrap();
    let (ok, out) = admin_log_verify(&url, &data);
    assert!(!ok && out.contains("MISMATCH"), "{out}");
    conn.execute(
        "UPDATE log_entries SET data = substring(data from 1 for length(data) - 1) WHERE idx = 3",
        &[],
    )
    .await
    .unwrap();
    assert!(admin_log_verify(&url, &data).0, "restored");
    conn.execute("UPDATE log_tiles SET data = overlay(data placing '\\xff'::bytea from 40 for 1) WHERE level = 1 AND idx = 0", &[]).await.unwrap();
    let (ok, out) = admin_log_verify(&url, &data);
    assert!(!ok && out.contains("tile/1/000"), "{out}");
    drop(conn);
    app.stop().await;
}

/// Under load, `kill -9` the server; every acknowledged invoice is there after a restart and
/// the log verifies.
#[tokio::test]
async fn kill_9_mid_batch_loses_nothing_acknowledged() {
    let url = crate::harness::fresh_database().await;
    let data = shared_tempdir("notarium-kill-");
    let cfg = test_config(&url, data.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_notarium"))
            .arg("serve")
            .env("DATABASE_URL", &url)
            .env("NOTARIUM_DATA_DIR", data.path())
            .env("NOTARIUM_MASTER_KEY", cfg.master_key.clone().unwrap())
            .env("NOTARIUM_ADMIN_KEY", cfg.admin_key.clone().unwrap())
            .env("NOTARIUM_LISTEN", format!("127.0.0.1:{port}"))
            .env("NOTARIUM_BATCH_INTERVAL_MS", "30")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let wait = |http: reqwest::Client, base: String| async move {
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await
                && r.status() == 200
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("server not ready");
    };
    let mut child = spawn();
    wait(http.clone(), base.clone()).await;
    let admin = cfg.admin_key.clone().unwrap();
    let v: Value = http
        .post(format!("{base}/v1/orgs"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"name": "Insurer", "role": "issuer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = v["api_key"].as_str().unwrap().to_string();
    let org = v["org_id"].as_str().unwrap().to_string();
    let r = http
        .post(format!("{base}/v1/orgs/{org}/certificates"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"custodial": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/invoices/ubl/en16931-ubl-example1.xml"
    ))
    .unwrap();

    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (http, base, key, template, acked) = (
            http.clone(),
            base.clone(),
            key.clone(),
            template.clone(),
            acked.clone(),
        );
        tasks.push(tokio::spawn(async move {
            for n in 0..10_000 {
                let body = crate::harness::with_invoice_number(&template, &format!("K9-{w}-{n}"));
                match http
                    .post(format!("{base}/v1/invoices"))
                    .bearer_auth(&key)
                    .header("content-type", "application/xml")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 201 => {
                        let v: Value = r.json().await.unwrap();
                        acked
                            .lock()
                            .unwrap()
                            .push(v["record_id"].as_str().unwrap().to_string());
                    }
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    child.kill().unwrap(); // SIGKILL
    let _ = child.wait();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 10, "load ran: {}", acked.len());

    let mut child = spawn();
    wait(http.clone(), base.clone()).await;
    for id in &acked {
        let r = http
            .get(format!("{base}/v1/records/{id}"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged record {id} lost");
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let (ok, out) = admin_log_verify(&url, data.path());
    assert!(ok, "{out}");
}
