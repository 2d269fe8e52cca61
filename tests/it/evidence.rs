//! What a court receives: a bundle from a real record verifies with `notarium verify` and on
//! the /verify page, and a tampered copy is refused, naming the part.

use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{TestApp, run};

/// A real invoice from the shared test data.
pub const INVOICE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/invoices/cn/shudian-special-2lines.xml"
);

/// Registers an issuer with a custodial key, notarizes [`INVOICE`] (stored) and credits it;
/// returns (record id, the issuer's API key, the invoice bytes).
pub async fn record_with_history(app: &TestApp) -> (String, String, Vec<u8>) {
    let (org, key) = app.register("Insurer", "issuer").await;
    let r = app
        .http
        .post(app.url(&format!("/v1/orgs/{org}/certificates")))
        .bearer_auth(&key)
        .json(&json!({"custodial": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let doc = std::fs::read(INVOICE).unwrap();
    let r = app
        .http
        .post(app.url("/v1/invoices?store=true"))
        .bearer_auth(&key)
        .header("content-type", "application/xml")
        .body(doc.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["record_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .http
        .post(app.url(&format!("/v1/invoices/{id}/status")))
        .bearer_auth(&key)
        .json(&json!({"status": "credit", "amount": "100.00"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    (id, key, doc)
}

fn verify(dir: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_notarium"))
        .current_dir(dir)
        .arg("verify")
        .args(args)
        .output()
        .unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn a_bundle_verifies_offline_and_tampering_is_named() {
    let app = TestApp::start().await;
    let (id, key, doc) = record_with_history(&app).await;
    let r = app
        .http
        .get(app.url(&format!("/v1/records/{id}/evidence")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let zip = r.bytes().await.unwrap().to_vec();

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bundle.zip"), &zip).unwrap();
    std::fs::write(d.join("invoice.xml"), &doc).unwrap();
    std::fs::write(
        d.join("roots.pem"),
        notarium::identity::pki::pem_cert(&app.state.pki.root.cert_der),
    )
    .unwrap();
    let vkey = app.state.log_vkey.clone();
    let policy = app
        .http
        .get(app.url("/v1/log/witness-policy"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    std::fs::write(d.join("policy.txt"), policy).unwrap();
    let (code, out) = verify(
        d,
        &[
            "bundle.zip",
            "--document",
            "invoice.xml",
            "--trust",
            "roots.pem",
            "--log-key",
            &vkey,
            "--witness-policy",
            "policy.txt",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("PASS") && !out.contains("FAIL"), "{out}");

    // The court has another document: tampered (exit 1), naming the document.
    std::fs::write(d.join("other.xml"), b"<EInvoice/>").unwrap();
    let (code, out) = verify(
        d,
        &[
            "bundle.zip",
            "--document",
            "other.xml",
            "--trust",
            "roots.pem",
            "--log-key",
            &vkey,
            "--witness-policy",
            "policy.txt",
            "--json",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(&out[..out.rfind('}').unwrap() + 1]).unwrap();
    assert_eq!(report["verdict"], "tampered");
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "fail" && c["part"] == "document"),
        "{report}"
    );

    // Another notary's root: the chain does not verify.
    let other = notarium::identity::pki::NotaryPki::generate().unwrap();
    std::fs::write(
        d.join("other-roots.pem"),
        notarium::identity::pki::pem_cert(&other.root.cert_der),
    )
    .unwrap();
    let (code, _) = verify(
        d,
        &[
            "bundle.zip",
            "--trust",
            "other-roots.pem",
            "--log-key",
            &vkey,
            "--witness-policy",
            "policy.txt",
        ],
    );
    assert_eq!(code, 1);
    // No trust given at all: cannot check (exit 2).
    let (code, _) = verify(d, &["bundle.zip"]);
    assert_eq!(code, 2);
    // Garbage: cannot check.
    std::fs::write(d.join("junk.zip"), b"PK\x03\x04junk").unwrap();
    let (code, _) = verify(d, &["junk.zip", "--trust", "roots.pem", "--log-key", &vkey]);
    assert_eq!(code, 2);

    // The bundle's own README commands: sha256sum -c over the manifest listing.
    let (ok, out) = run(Command::new("unzip").current_dir(d).args([
        "-q",
        "-o",
        "bundle.zip",
        "-d",
        "unzipped",
    ]));
    if ok {
        let readme = std::fs::read_to_string(d.join("unzipped/README.txt")).unwrap();
        assert!(readme.contains("openssl ts -verify"), "{readme}");
    } else {
        assert!(
            out.contains("not found") || out.contains("No such file"),
            "unzip failed: {out}"
        );
    }

    // The /verify page, as a clerk's browser posts it.
    let form = reqwest::multipart::Form::new()
        .part(
            "bundle",
            reqwest::multipart::Part::bytes(zip.clone()).file_name("bundle.zip"),
        )
        .part(
            "document",
            reqwest::multipart::Part::bytes(doc.clone()).file_name("invoice.xml"),
        );
    let v: Value = app
        .http
        .post(app.url("/verify"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["verdict"], "verified", "{v}");
    let mut bad = zip.clone();
    // Flip a byte in the middle of the archive: some member's hash or the zip itself breaks.
    let mid = bad.len() / 2;
    bad[mid] ^= 0x55;
    let form = reqwest::multipart::Form::new().part(
        "bundle",
        reqwest::multipart::Part::bytes(bad).file_name("bundle.zip"),
    );
    let v: Value = app
        .http
        .post(app.url("/verify"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(v["verdict"], "verified", "{v}");
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] != "pass"),
        "{v}"
    );
    let page = app
        .http
        .get(app.url("/verify"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<form") && page.contains("验证"));

    // The certificate page names the record, in Chinese and English.
    let html = app
        .http
        .get(app.url(&format!("/records/{id}/certificate")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&id) && html.contains("存证"), "{html}");
    // Others get 404 for the bundle.
    let (_, other_key) = app.register("Stranger", "issuer").await;
    let r = app
        .http
        .get(app.url(&format!("/v1/records/{id}/evidence")))
        .bearer_auth(&other_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}
