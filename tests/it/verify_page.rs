//! The /verify page in a real browser: a court clerk opens it in headless Chromium, chooses a
//! bundle downloaded from the server (and the original document), clicks verify and reads the
//! verdict; a bundle whose document was altered, or another document, is refused with the
//! failing row named.
//!
//! The browser is driven by `tests/browser/verify_page.mjs` with `playwright-core` from npm
//! (installed under the target directory on first use, no browser download) and the system
//! Chromium (`apt-get install chromium`). Missing tools fail the test with what to install.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::evidence::record_with_history;
use crate::harness::TestApp;

/// The playwright-core version the script is written against.
const PLAYWRIGHT: &str = "playwright-core@1.65.1";

fn chromium() -> PathBuf {
    let path = PathBuf::from(
        std::env::var("NOTARIUM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    assert!(
        path.exists(),
        "{} not found: install Chromium (Debian: apt-get install -y chromium) or set \
         NOTARIUM_CHROMIUM to its path",
        path.display()
    );
    path
}

/// The directory holding `node_modules/playwright-core`, installed with npm when missing.
fn playwright_dir() -> PathBuf {
    // The target directory: the binary under test lives in `<target>/debug/`.
    let bin = Path::new(env!("CARGO_BIN_EXE_notarium"));
    let target = bin
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let dir = target.join("playwright");
    if dir
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return dir;
    }
    std::fs::create_dir_all(&dir).expect("create the playwright directory");
    std::fs::write(dir.join("package.json"), "{\"private\": true}\n").expect("package.json");
    let out = Command::new("npm")
        .current_dir(&dir)
        .args(["install", "--no-audit", "--no-fund", PLAYWRIGHT])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run npm ({e}): install Node.js and npm (Debian: apt-get install -y nodejs npm)")
        });
    assert!(
        out.status.success(),
        "npm install {PLAYWRIGHT} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

/// Runs the browser script over `cases`; returns one `{verdict, rows}` per case.
fn drive(url: &str, cases: Value, work: &Path) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/verify_page.mjs");
    let spec = json!({"url": url, "chromium": chromium(), "cases": cases});
    let spec_path = work.join("spec.json");
    std::fs::write(&spec_path, spec.to_string()).expect("write spec");
    let out = Command::new("node")
        .env("PLAYWRIGHT_DIR", playwright_dir())
        .arg(script)
        .arg(&spec_path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run node ({e}): install Node.js (Debian: apt-get install -y nodejs)")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser script failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str::<Vec<Value>>(line)
        .unwrap_or_else(|e| panic!("browser script printed no results ({e}): {stdout}"))
}

/// The bundle with its top-level document member altered (one byte flipped), re-zipped.
fn with_altered_document(bundle: &[u8]) -> Vec<u8> {
    let files = notarium::evidence::read_zip(bundle, &notarium::evidence::ZipLimits::default())
        .expect("the genuine bundle reads");
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let mut altered = false;
    for (name, bytes) in files {
        let mut bytes = bytes.clone();
        if name.starts_with("document.") {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0x01;
            altered = true;
        }
        zip.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .expect("start member");
        zip.write_all(&bytes).expect("write member");
    }
    assert!(altered, "the bundle holds no document member");
    zip.finish().expect("finish zip").into_inner()
}

fn statuses(result: &Value) -> Vec<(String, String)> {
    result["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["check"].as_str().unwrap_or_default().to_string(),
                r["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_clerk_verifies_a_bundle_in_the_browser_and_sees_tampering_named() {
    // Fail early, before any server work, when the browser tools are missing.
    chromium();
    let node_dir = tokio::task::spawn_blocking(playwright_dir)
        .await
        .expect("npm install");
    assert!(node_dir.exists());

    let app = TestApp::start().await;
    let (id, key, doc) = record_with_history(&app).await;
    let bundle = app
        .http
        .get(app.url(&format!("/v1/records/{id}/evidence")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    let bundle = bundle.bytes().await.unwrap().to_vec();

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("bundle.zip"), &bundle).unwrap();
    std::fs::write(d.join("invoice.xml"), &doc).unwrap();
    std::fs::write(d.join("altered.zip"), with_altered_document(&bundle)).unwrap();
    std::fs::write(d.join("other.xml"), b"<EInvoice/>").unwrap();
    let p = |n: &str| d.join(n).to_string_lossy().into_owned();
    let cases = json!([
        {"bundle": p("bundle.zip"), "document": p("invoice.xml"), "screenshot": p("verified.png")},
        {"bundle": p("altered.zip"), "document": null, "screenshot": p("altered.png")},
        {"bundle": p("bundle.zip"), "document": p("other.xml"), "screenshot": p("other.png")},
    ]);
    let url = app.url("/verify");
    let work = d.to_path_buf();
    let results = tokio::task::spawn_blocking(move || drive(&url, cases, &work))
        .await
        .expect("browser run");
    app.stop().await;
    assert_eq!(results.len(), 3);

    // The genuine bundle with its document: every row passes (the server supplies its witness
    // policy, so no row is left cannot-check) and the verdict reads verified.
    let genuine = statuses(&results[0]);
    assert!(genuine.len() > 10, "{genuine:?}");
    assert!(genuine.iter().all(|(_, s)| s == "pass"), "{genuine:?}");
    assert!(genuine.iter().any(|(c, _)| c == "document"), "{genuine:?}");
    assert_eq!(results[0]["verdict"], "verified");

    // The bundle's own document copy altered: its row fails, and only document rows do.
    let altered = statuses(&results[1]);
    assert_eq!(results[1]["verdict"], "tampered");
    assert!(
        altered
            .iter()
            .any(|(c, s)| c == "entries/0/document" && s == "fail"),
        "{altered:?}"
    );
    let failing: Vec<_> = altered.iter().filter(|(_, s)| s == "fail").collect();
    assert!(
        failing
            .iter()
            .all(|(c, _)| c.ends_with("document") || c.starts_with("manifest")),
        "{failing:?}"
    );

    // Another original document beside a genuine bundle: the `document` row fails.
    let other = statuses(&results[2]);
    assert_eq!(results[2]["verdict"], "tampered");
    assert!(
        other.iter().any(|(c, s)| c == "document" && s == "fail"),
        "{other:?}"
    );

    for shot in ["verified.png", "altered.png", "other.png"] {
        let png = std::fs::read(d.join(shot)).expect("screenshot written");
        assert!(png.starts_with(b"\x89PNG"), "{shot} is not a PNG");
    }
}
