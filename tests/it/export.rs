//! An auditor's bulk export: with a grant from an issuer, `GET /v1/evidence?org=` streams one
//! zip of bundles that each verify offline, and `notarium export` downloads and verifies it;
//! without a grant, or once it is withdrawn, the org's evidence is 404.

use std::io::{Cursor, Read};
use std::process::Command;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::harness::{TestApp, with_invoice_number};

const UBL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/invoices/ubl/en16931-ubl-example1.xml"
);

/// An issuer with a custodial key and three notarized invoices; returns (org id, key, record ids).
async fn issuer_with_three_invoices(app: &TestApp) -> (String, String, Vec<String>) {
    let (org, key) = app.register("Seller", "issuer").await;
    let r = app
        .http
        .post(app.url(&format!("/v1/orgs/{org}/certificates")))
        .bearer_auth(&key)
        .json(&json!({"custodial": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let template = std::fs::read_to_string(UBL).unwrap();
    let mut ids = Vec::new();
    for n in 1..=3 {
        let r = app
            .http
            .post(app.url("/v1/invoices?store=true"))
            .bearer_auth(&key)
            .header("content-type", "application/xml")
            .body(with_invoice_number(&template, &format!("EXPORT-{n}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        ids.push(v["record_id"].as_str().unwrap().to_string());
    }
    (org, key, ids)
}

async fn export(app: &TestApp, key: &str, org: &str) -> reqwest::Response {
    app.http
        .get(app.url(&format!("/v1/evidence?org={org}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_granted_auditor_exports_bundles_that_all_verify() {
    let app = TestApp::start().await;
    let (org, issuer_key, ids) = issuer_with_three_invoices(&app).await;
    let (auditor, auditor_key) = app.register("Auditor", "auditor").await;
    let (_, stranger_key) = app.register("Other auditor", "auditor").await;

    // No grant yet: 404, as for an org that does not exist.
    assert_eq!(export(&app, &auditor_key, &org).await.status(), 404);
    let nobody = uuid::Uuid::new_v4().to_string();
    assert_eq!(export(&app, &auditor_key, &nobody).await.status(), 404);

    let r = app
        .http
        .post(app.url("/v1/grants"))
        .bearer_auth(&issuer_key)
        .json(&json!({"grantee": auditor}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let grant = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let r = export(&app, &auditor_key, &org).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let bytes = r.bytes().await.unwrap().to_vec();

    // One stored bundle per record, each verifying against the notary's roots and log key.
    let policy_text = app
        .http
        .get(app.url("/v1/log/witness-policy"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut opts = notarium::evidence::VerifyOptions::new(OffsetDateTime::now_utc());
    opts.trust_roots = Some(vec![app.state.pki.root.cert_der.clone()]);
    opts.log_key = Some(app.state.log_vkey.clone());
    opts.witness_policy = Some(notarium::evidence::parse_policy(policy_text.as_bytes()).unwrap());
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    let mut names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    names.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| format!("{id}.zip")).collect();
    expected.sort();
    assert_eq!(names, expected);
    for name in &names {
        let mut member = zip.by_name(name).unwrap();
        assert_eq!(member.compression(), zip::CompressionMethod::Stored);
        let mut bundle = Vec::new();
        member.read_to_end(&mut bundle).unwrap();
        let report = notarium::evidence::verify_bundle(&bundle, &opts);
        assert_eq!(
            report.verdict(),
            notarium::evidence::Verdict::Verified,
            "{name}: {}",
            report.to_json()
        );
        let id = name.trim_end_matches(".zip");
        assert!(
            report.checks.iter().any(|c| c.reason.contains(id)),
            "{name}"
        );
    }

    // The CLI: download with progress, verify every bundle, exit 0.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("roots.pem"),
        notarium::identity::pki::pem_cert(&app.state.pki.root.cert_der),
    )
    .unwrap();
    std::fs::write(d.join("policy.txt"), &policy_text).unwrap();
    let args = |key: &str, out: &str| CliRun {
        dir: d.to_path_buf(),
        key: key.to_string(),
        args: vec![
            "export".into(),
            "--url".into(),
            app.base.clone(),
            "--org".into(),
            org.clone(),
            "--out".into(),
            out.into(),
            "--trust".into(),
            "roots.pem".into(),
            "--log-key".into(),
            app.state.log_vkey.clone(),
            "--witness-policy".into(),
            "policy.txt".into(),
        ],
    };
    let (code, out) = args(&auditor_key, "export.zip").run().await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 verified, 0 failed"), "{out}");
    for id in &ids {
        assert!(out.contains(&format!("VERIFIED {id}")), "{out}");
    }

    // One bundle altered inside the downloaded export: the offline check names that record.
    let altered = altered_export(&std::fs::read(d.join("export.zip")).unwrap(), &ids[1]);
    std::fs::write(d.join("altered.zip"), altered).unwrap();
    let summary = notarium::api::export_client::verify_export(&d.join("altered.zip"), &opts)
        .expect("the altered export is a readable zip");
    assert_eq!(summary.verified.len(), 2, "{summary:?}");
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert_eq!(summary.failed[0].0, ids[1]);
    assert!(summary.failed[0].1.starts_with("TAMPERED"), "{summary:?}");

    // The CLI for an auditor without a grant: the server's 404, exit 2, nothing verified.
    let (code, out) = args(&stranger_key, "refused.zip").run().await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("404"), "{out}");

    // Another auditor without a grant: 404.
    assert_eq!(export(&app, &stranger_key, &org).await.status(), 404);

    // The grant withdrawn: 404 again.
    let r = app
        .http
        .delete(app.url(&format!("/v1/grants/{grant}")))
        .bearer_auth(&issuer_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(export(&app, &auditor_key, &org).await.status(), 404);

    // Paging: pages smaller than the export (and exactly full ones) lose and repeat nothing.
    for page in [1, 2, 3] {
        let search = notarium::store::records::Search {
            org: Some(org.parse().unwrap()),
            limit: page,
            ..Default::default()
        };
        let body = notarium::api::evidence_export::stream_bundles(app.state.clone(), None, search);
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let paged = zip::ZipArchive::new(Cursor::new(bytes.to_vec())).unwrap();
        let mut got: Vec<String> = paged
            .file_names()
            .map(|n| n.unwrap().into_owned())
            .collect();
        got.sort();
        assert_eq!(got, expected, "page size {page}");
    }

    // The issuer exports its own records.
    let r = export(&app, &issuer_key, &org).await;
    assert_eq!(r.status(), 200);
    let own = zip::ZipArchive::new(Cursor::new(r.bytes().await.unwrap().to_vec())).unwrap();
    assert_eq!(own.len(), 3);
    app.stop().await;
}

/// One `notarium` run, off the async runtime (the server under test shares it).
struct CliRun {
    dir: std::path::PathBuf,
    key: String,
    args: Vec<String>,
}

impl CliRun {
    async fn run(self) -> (i32, String) {
        tokio::task::spawn_blocking(move || {
            let out = Command::new(env!("CARGO_BIN_EXE_notarium"))
                .current_dir(&self.dir)
                .env("NOTARIUM_API_KEY", &self.key)
                .args(&self.args)
                .output()
                .unwrap();
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            (out.status.code().unwrap_or(-1), text)
        })
        .await
        .unwrap()
    }
}

/// The export with one byte of the document inside record `id`'s bundle flipped.
fn altered_export(export: &[u8], id: &str) -> Vec<u8> {
    use std::io::Write;
    let limits = notarium::evidence::ZipLimits::default();
    let mut outer = zip::ZipArchive::new(Cursor::new(export)).unwrap();
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..outer.len() {
        let mut m = outer.by_index(i).unwrap();
        let name = m.name().unwrap().into_owned();
        let mut bytes = Vec::new();
        m.read_to_end(&mut bytes).unwrap();
        if name == format!("{id}.zip") {
            let mut inner = zip::ZipWriter::new(Cursor::new(Vec::new()));
            for (n, mut b) in notarium::evidence::read_zip(&bytes, &limits).unwrap() {
                if n.starts_with("document.") {
                    let mid = b.len() / 2;
                    b[mid] ^= 0x01;
                }
                inner
                    .start_file(n.as_str(), zip::write::SimpleFileOptions::default())
                    .unwrap();
                inner.write_all(&b).unwrap();
            }
            bytes = inner.finish().unwrap().into_inner();
        }
        w.start_file(name.as_str(), stored).unwrap();
        w.write_all(&bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}
