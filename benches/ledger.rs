//! Sequencer benchmark: entries per second committed AND proven (inclusion proof generated for
//! each), at batch sizes 1, 64 and 1024, beside the raw PostgreSQL ceiling measured in the same
//! run (COPY of rows of the same shape, no hashing); RSS as the log grows to a million entries;
//! proof latency at 10^3 … 10^6 entries; and `admin log verify` over the million-entry log.
//!
//! Run: `cargo bench --bench ledger` (starts its own PostgreSQL under a temp directory, or uses
//! `BENCH_DATABASE_URL`). `BENCH_ENTRIES` changes the size of the big run (default 1,000,000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use notarium::ledger::{Entry, EntryKind, Signer, leaf_hash};
use notarium::notary::log::LogReader;
use notarium::notary::sequencer::{Outcome, Sequencer, SequencerConfig, Submission};
use notarium::store::Store;
use notarium::store::embedded::EmbeddedCluster;
use notarium::store::log::NewRecord;
use uuid::Uuid;

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

fn submission(org: Uuid, n: u64) -> Submission {
    let id = Uuid::new_v4();
    let mut doc = [0u8; 32];
    doc[..8].copy_from_slice(&n.to_be_bytes());
    doc[8..24].copy_from_slice(id.as_bytes());
    let entry = Entry {
        kind: EntryKind::Invoice,
        record_id: *id.as_bytes(),
        org_id: *org.as_bytes(),
        cert_fingerprint: [7; 32],
        document_sha256: doc,
        canonical_sha256: Some([8; 32]),
        signer: Signer::Custodial,
        // A 70-byte DER ECDSA signature's shape (minimal DER, as the entry requires).
        signature: {
            let mut s = vec![0x30, 0x44, 0x02, 0x20];
            s.extend([0x11; 32]);
            s.extend([0x02, 0x20]);
            s.extend([0x22; 32]);
            s
        },
        token_sha256: [9; 32],
        refers_to: None,
        detail: format!("invoice BENCH-{n} 1234.56 EUR"),
    };
    let bytes = entry.encode().expect("entry encodes");
    let leaf = leaf_hash(&bytes);
    Submission {
        record: NewRecord {
            id,
            kind: "invoice",
            org_id: org,
            unique_key: Some(format!("bench:{n}:{id}")),
            refers_to: None,
            document_sha256: doc.to_vec(),
            canonical_sha256: Some(vec![8; 32]),
            token: vec![0u8; 600],
            signature: entry.signature.clone(),
            signer: "custodial",
            cert_fingerprint: vec![7; 32],
            meta: serde_json::json!({"number": format!("BENCH-{n}"), "amount": "1234.56"}),
            document: None,
        },
        entry: bytes,
        leaf_hash: leaf,
        check: None,
    }
}

/// Submits `count` entries with `workers` concurrent submitters; each proven after commit.
async fn drive(
    seq: &Arc<Sequencer>,
    store: &Arc<Store>,
    reader: &Arc<LogReader>,
    org: Uuid,
    count: u64,
    workers: u64,
    offset: u64,
) -> (f64, Duration) {
    let start = Instant::now();
    let per = count / workers;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let (seq, store, reader) = (seq.clone(), store.clone(), reader.clone());
        tasks.push(tokio::spawn(async move {
            for k in 0..per {
                let n = offset + w * per + k;
                loop {
                    match seq.submit(submission(org, n)).await {
                        Ok(Outcome::Committed(c)) => {
                            let proof = reader
                                .inclusion_proof(&store, c.index, c.size)
                                .await
                                .expect("proof");
                            std::hint::black_box(proof);
                            break;
                        }
                        Ok(other) => panic!("{other:?}"),
                        Err(notarium::notary::sequencer::SequencerError::QueueFull) => {
                            tokio::time::sleep(Duration::from_millis(1)).await
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("worker");
    }
    let took = start.elapsed();
    ((per * workers) as f64 / took.as_secs_f64(), took)
}

async fn copy_ceiling(store: &Store, rows: u64) -> f64 {
    use futures::SinkExt;
    let client = store.dedicated().await.expect("conn");
    client
        .batch_execute(
            "DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy (idx bigint PRIMARY KEY, leaf_hash bytea NOT NULL, data bytea NOT NULL)",
        )
        .await
        .expect("scratch table");
    let sample = submission(Uuid::nil(), 0);
    let data_hex = hex::encode(&sample.entry);
    let start = Instant::now();
    let sink = client
        .copy_in("COPY bench_copy (idx, leaf_hash, data) FROM STDIN")
        .await
        .expect("copy");
    let mut sink = std::pin::pin!(sink);
    let mut buf = String::with_capacity(1 << 20);
    for i in 0..rows {
        buf.push_str(&format!(
            "{i}\t\\\\x{}\t\\\\x{data_hex}\n",
            hex::encode([(i % 251) as u8; 32])
        ));
        if buf.len() > (1 << 20) {
            sink.send(bytes::Bytes::from(std::mem::take(&mut buf)))
                .await
                .expect("send");
        }
    }
    sink.send(bytes::Bytes::from(buf)).await.expect("send");
    sink.as_mut().finish().await.expect("finish");
    let rate = rows as f64 / start.elapsed().as_secs_f64();
    client.batch_execute("DROP TABLE bench_copy").await.ok();
    rate
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn new_log(
    pg: &tokio_postgres::Config,
    admin: &tokio_postgres::Config,
    name: &str,
    batch_max: usize,
) -> (
    Arc<Store>,
    Arc<Sequencer>,
    Arc<LogReader>,
    Uuid,
    notarium::ledger::Ed25519Verifier,
) {
    let (c, conn) = admin.connect(tokio_postgres::NoTls).await.expect("admin");
    tokio::spawn(conn);
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .ok();
    c.batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create db");
    let mut cfg = pg.clone();
    cfg.dbname(name);
    let store = Arc::new(Store::with_config(cfg, 16, None).expect("pool"));
    let mut client = store.dedicated().await.expect("conn");
    notarium::store::migrate::apply(&mut client, notarium::store::migrate::MIGRATIONS)
        .await
        .expect("migrate");
    let org = Uuid::new_v4();
    client
        .execute(
            "INSERT INTO orgs (id, name, role) VALUES ($1, 'Bench', 'issuer')",
            &[&org],
        )
        .await
        .expect("org");
    let signer = notarium::ledger::Ed25519Signer::generate(
        "bench.example/log",
        notarium::ledger::ALG_ED25519,
    )
    .expect("key");
    let verifier = signer.verifier();
    let reader = Arc::new(LogReader::default());
    let seq = Arc::new(Sequencer::spawn(
        store.pool.clone(),
        store.pg_config.clone(),
        signer,
        reader.clone(),
        SequencerConfig {
            batch_interval: Duration::from_millis(5),
            batch_max,
            queue_max: 65536,
            origin: "bench.example/log".into(),
        },
    ));
    while !seq.is_leader() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (store, seq, reader, org, verifier)
}

async fn run() {
    let big: u64 = std::env::var("BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (_cluster, pg) = match std::env::var("BENCH_DATABASE_URL") {
        Ok(url) => (None, url.parse::<tokio_postgres::Config>().expect("url")),
        Err(_) => {
            use std::os::unix::fs::PermissionsExt;
            let dir = tempfile::Builder::new()
                .prefix("notarium-bench-")
                .tempdir_in(std::env::temp_dir())
                .expect("tmp");
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).ok();
            let mut c = EmbeddedCluster::new(dir.path()).expect("postgres binaries");
            c.start().expect("cluster");
            let cfg = c.connection_string("postgres").parse().expect("cfg");
            (Some((c, dir)), cfg)
        }
    };
    let mut admin = pg.clone();
    admin.dbname("postgres");

    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "# ledger benchmark\nmachine: {} cores, {cpu}\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    // Raw ceiling: COPY of the same row shape (no hashing, no records, no tiles).
    let (store, seq, reader, org, _) = new_log(&pg, &admin, "bench_small", 1).await;
    let ceiling = copy_ceiling(&store, 200_000).await;
    println!("raw PostgreSQL COPY, same row shape: {ceiling:.0} rows/s");

    // Batch size 1: one durable transaction per entry.
    let (rate1, _) = drive(&seq, &store, &reader, org, 2_000, 1, 0).await;
    println!(
        "sequencer, batch size 1 (1 submitter): {rate1:.0} entries/s committed and proven ({:.3}x of COPY)",
        rate1 / ceiling
    );
    seq.stop();
    let (store, seq, reader, org, _) = new_log(&pg, &admin, "bench_mid", 64).await;
    let (rate64, _) = drive(&seq, &store, &reader, org, 64_000, 128, 0).await;
    println!(
        "sequencer, batch size 64 (128 submitters): {rate64:.0} entries/s ({:.3}x of COPY)",
        rate64 / ceiling
    );
    seq.stop();

    // The big log: batch size 1024, RSS along the way, proof latency at each decade.
    let (store, seq, reader, org, verifier) = new_log(&pg, &admin, "bench_big", 1024).await;
    let mut done = 0u64;
    let mut decade = 1_000u64;
    let mut total_time = Duration::ZERO;
    let mut lines = Vec::new();
    while done < big {
        let target = decade.min(big);
        let (_, took) = drive(
            &seq,
            &store,
            &reader,
            org,
            target - done,
            2048.min(target - done),
            done,
        )
        .await;
        total_time += took;
        done = seq.size();
        // Proof latency at this size: 2,000 random inclusion proofs.
        let t = Instant::now();
        let mut x = 0x9e3779b97f4a7c15u64;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = x % done;
            std::hint::black_box(
                reader
                    .inclusion_proof(&store, i, done)
                    .await
                    .expect("proof"),
            );
        }
        let per = t.elapsed().as_secs_f64() * 1e6 / 2_000.0;
        lines.push(format!(
            "| {done} | {:.0} | {per:.0} | {:.0} |",
            done as f64 / total_time.as_secs_f64(),
            rss_mb()
        ));
        decade *= 10;
    }
    let rate1024 = done as f64 / total_time.as_secs_f64();
    println!(
        "sequencer, batch size up to 1024 (2048 submitters): {rate1024:.0} entries/s ({:.3}x of COPY)\n",
        rate1024 / ceiling
    );
    println!(
        "| log size | entries/s so far | inclusion proof µs (random index, 2,000 proofs) | RSS MB |\n|---|---|---|---|"
    );
    for l in lines {
        println!("{l}");
    }
    seq.stop();

    // The recomputation `notarium admin log verify` runs, over the big log.
    let t = Instant::now();
    let report = notarium::notary::log_verify::verify_log(&store, "bench.example/log", &verifier)
        .await
        .expect("verify");
    println!(
        "\nlog verify over {done} entries: {} ({} entries, {} checkpoints, {} tiles compared) in {:.1} s",
        if report.ok() { "PASS" } else { "FAIL" },
        report.entries,
        report.checkpoints,
        report.tiles,
        t.elapsed().as_secs_f64()
    );
    for p in report.problems.iter().take(10) {
        println!("  {p}");
    }
}
