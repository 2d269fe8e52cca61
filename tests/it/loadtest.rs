//! `notarium loadtest` as an operator runs it: a short run against a server it spawns itself,
//! and one against a running server given by URL. Only the report's structure and the success
//! of the requests are checked, never timings.

use std::process::Command;

use clap::Parser;
use notarium::loadtest::Options;

use crate::harness::TestApp;

fn loadtest(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_notarium"))
        .arg("loadtest")
        .args(args)
        .arg("--json")
        .env("RUST_LOG", "warn")
        .output()
        .expect("notarium loadtest runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "loadtest failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("JSON report: {e}\n{stdout}"))
}

fn assert_phase_ok(p: &serde_json::Value, scenario: &str) {
    assert_eq!(p["scenario"], scenario);
    let n = p["requests"].as_u64().unwrap();
    assert!(n > 0, "{p}");
    assert_eq!(p["errors_total"], 0, "{p}");
    assert!(p["errors"].as_object().unwrap().is_empty());
    let l = &p["latency"];
    assert_eq!(l["count"].as_u64(), Some(n));
    let (p50, p90, p99, max) = (
        l["p50_ms"].as_f64().unwrap(),
        l["p90_ms"].as_f64().unwrap(),
        l["p99_ms"].as_f64().unwrap(),
        l["max_ms"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max, "{l}");
    assert!(p["throughput_rps"].as_f64().unwrap() > 0.0);
    assert_eq!(p["by_kind"][scenario]["requests"].as_u64(), Some(n));
}

#[test]
fn spawned_tsa_run_reports_tokens_baselines_and_server_usage() {
    let r = loadtest(&[
        "--spawn",
        "--scenario",
        "tsa",
        "--connections",
        "4",
        "--duration",
        "2",
        "--warmup",
        "0.5",
        "--floor-duration",
        "1",
        "--requests",
        "2000",
        "--openssl-seconds",
        "1",
        "--copy-rows",
        "2000",
    ]);
    assert_eq!(r["scenario"], "tsa");
    assert_eq!(r["spawned"], true);
    assert_phase_ok(&r["result"], "tsa");
    assert_phase_ok(&r["baselines"]["noop"], "noop");

    // The server and its embedded PostgreSQL were found and measured apart.
    let server = &r["result"]["server"];
    let pid = server["pid"].as_u64().unwrap();
    assert!(
        server["server"]["cpu_seconds"].as_f64().unwrap() > 0.0,
        "{server}"
    );
    assert!(server["server"]["rss_mib"].as_f64().unwrap() > 0.0);
    assert!(
        server["database"]["processes"].as_u64().unwrap() >= 2,
        "{server}"
    );
    assert!(server["database"]["rss_mib"].as_f64().unwrap() > 0.0);
    // ... and stopped at the end.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());

    let b = &r["baselines"];
    assert!(b["openssl"]["sign_per_sec"].as_f64().unwrap() > 0.0);
    assert!(b["openssl"]["verify_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(b["pg_copy"]["rows"], 2000);
    assert!(b["pg_copy"]["rows_per_sec"].as_f64().unwrap() > 0.0);
    let names: Vec<&str> = r["ratios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    for want in [
        "vs_noop_floor",
        "vs_openssl_sign_1core",
        "vs_openssl_sign_per_core",
        "per_server_cpu_second_vs_openssl_sign",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(r["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(r["notes"].as_array().unwrap().is_empty(), "{}", r["notes"]);
}

#[test]
fn spawned_noop_run_pinned_to_one_cpu_with_reqwest() {
    let r = loadtest(&[
        "--spawn",
        "--cpus",
        "0",
        "--scenario",
        "noop",
        "--client",
        "reqwest",
        "-c",
        "2",
        "-d",
        "1",
        "--warmup",
        "0",
        "--baselines",
        "none",
    ]);
    assert_phase_ok(&r["result"], "noop");
    assert_eq!(r["server_cpus"], "0");
    assert_eq!(r["server_cores"], 1);
    assert_eq!(r["client"], "reqwest");
    assert!(r["baselines"]["openssl"].is_null());
    assert!(r["ratios"].as_array().unwrap().is_empty());
}

#[test]
fn spawned_mix_of_tokens_invoices_and_proofs_succeeds() {
    // Registers an issuer, certifies its key from a CSR, populates the log, then mixes
    // signed invoice submissions, time-stamps and inclusion proofs.
    let r = loadtest(&[
        "--spawn",
        "--scenario",
        "mix",
        "--mix",
        "tsa=1,invoices=1,proofs=1",
        "--populate",
        "10",
        "--requests",
        "3000",
        "-c",
        "4",
        "-d",
        "1.5",
        "--warmup",
        "0.3",
        "--baselines",
        "none",
    ]);
    let p = &r["result"];
    assert_eq!(p["scenario"], "mix");
    assert_eq!(p["errors_total"], 0, "{p}");
    for kind in ["tsa", "invoices", "proofs"] {
        assert!(
            p["by_kind"][kind]["requests"].as_u64().unwrap() > 0,
            "{kind}: {p}"
        );
    }
    let sum: u64 = ["tsa", "invoices", "proofs"]
        .iter()
        .map(|k| p["by_kind"][k]["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(p["requests"].as_u64(), Some(sum));
    assert_eq!(p["exhausted"], false);
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    options: Options,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_against_a_server_by_url_finds_it_by_port() {
    let app = TestApp::start().await;
    let cli = Cli::try_parse_from([
        "loadtest",
        "--url",
        &app.base,
        "--scenario",
        "tsa",
        "-c",
        "2",
        "-d",
        "1",
        "--warmup",
        "0.2",
        "--requests",
        "500",
        "--baselines",
        "pg",
        "--copy-rows",
        "1000",
        "--database-url",
        &app.database_url,
    ])
    .unwrap();
    let report = notarium::loadtest::run(&cli.options).await.unwrap();
    assert!(!report.spawned);
    assert_eq!(report.prepared_requests, 500);
    let r = serde_json::to_value(&report).unwrap();
    assert_phase_ok(&r["result"], "tsa");
    // The in-process server listens in this very process.
    assert_eq!(
        r["result"]["server"]["pid"].as_u64(),
        Some(u64::from(std::process::id()))
    );
    assert_eq!(r["baselines"]["pg_copy"]["rows"], 1000);
    // No table left behind by the COPY baseline.
    let (client, conn) = tokio_postgres::connect(&app.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let left: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'loadtest_copy_%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    app.stop().await;
}
