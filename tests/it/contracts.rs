//! Two companies sign a contract: an insurer submits a three-page PDF naming itself and a
//! trading company as parties; the insurer signs with its own key (made and used with
//! OpenSSL), the trading company lets the server sign with the key it keeps; the contract
//! is executed and its signed PDF passes pyHanko, poppler's pdfsig and qpdf, trusting the
//! root from `GET /v1/ca`. Around that: who may see and sign, what is refused at intake,
//! and racing signatures.
//!
//! The outside tools are required (see `.ci/run`):
//!   apt-get install -y qpdf poppler-utils libnss3-tools
//!   python3 -m venv target/pyhanko-venv && target/pyhanko-venv/bin/pip install pyhanko pyhanko-cli

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};
use serde_json::{Value, json};
use sha2::Digest;

use crate::harness::{TestApp, run};

// ------------------------------------------------------------------------------------------
// The contract, the form, the parties

/// A contract of `pages` text pages with an Info dictionary.
fn contract_pdf(pages: usize) -> Vec<u8> {
    let mut doc = Document::with_version("1.7");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let resources_id = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font_id } });
    let mut kids = Vec::new();
    for n in 1..=pages {
        let content = Content {
            operations: vec![
                Operation::new("BT", vec![]),
                Operation::new("Tf", vec!["F1".into(), 14.into()]),
                Operation::new("Td", vec![72.into(), 760.into()]),
                Operation::new(
                    "Tj",
                    vec![Object::string_literal(format!(
                        "Reinsurance contract 2026-117, page {n} of {pages}."
                    ))],
                ),
                Operation::new("ET", vec![]),
            ],
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => pages as i64,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    let info_id = doc.add_object(dictionary! {
        "Title" => Object::string_literal("Reinsurance contract 2026-117"),
        "Author" => Object::string_literal("Insurer A"),
        "CreationDate" => Object::string_literal("D:20260601090000+08'00'"),
    });
    doc.trailer.set("Root", catalog_id);
    doc.trailer.set("Info", info_id);
    doc.compress();
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// A PDF whose encryption dictionary (/V 2, /Length 0) makes the `pdf` crate panic (an
/// assertion on the empty RC4 key).
fn pdf_that_panics_the_parser() -> Vec<u8> {
    let objects: [&[u8]; 4] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        b"<< /Filter /Standard /V 2 /R 3 /Length 0 /O <00> /U <00> /P -4 >>",
    ];
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend(*o);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(b"xref\n0 5\n0000000000 65535 f \n");
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size 5 /Root 1 0 R /Encrypt 4 0 R /ID [<00112233> <00112233>] >>\n\
             startxref\n{xref}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

const BOUNDARY: &str = "notarium-test-boundary-5c1e0f7a9b3d";

/// A multipart/form-data body: (name, file name, bytes) per part.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let mut body = Vec::new();
    for (name, file, bytes) in parts {
        body.extend(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => body.extend(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/pdf\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), body)
}

/// `POST /v1/contracts` with `pdf` and `parties` (one field), optionally signed.
async fn submit(
    app: &TestApp,
    key: &str,
    pdf: &[u8],
    parties: &str,
    x_signature: Option<String>,
) -> reqwest::Response {
    let (ctype, body) = multipart(&[
        ("document", Some("contract.pdf"), pdf),
        ("parties", None, parties.as_bytes()),
    ]);
    let mut req = app
        .http
        .post(app.url("/v1/contracts"))
        .bearer_auth(key)
        .header("content-type", ctype)
        .body(body);
    if let Some(s) = x_signature {
        req = req.header("x-signature", s);
    }
    req.send().await.unwrap()
}

async fn sign(app: &TestApp, key: &str, contract: &str, body: Value) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/v1/contracts/{contract}/signatures")))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, key: &str, path: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
}

/// An issuer whose key the server keeps; returns (id, api key).
async fn custodial_issuer(app: &TestApp, name: &str) -> (String, String) {
    let (id, key) = app.register(name, "issuer").await;
    let r = app
        .http
        .post(app.url(&format!("/v1/orgs/{id}/certificates")))
        .bearer_auth(&key)
        .json(&json!({"custodial": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    (id, key)
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    run(Command::new("openssl").current_dir(dir).args(args))
}

/// An org's own P-256 key, made with OpenSSL and certified from a CSR; signs with
/// `openssl dgst -sha256 -sign`.
struct OwnKey {
    dir: tempfile::TempDir,
}

impl OwnKey {
    async fn certify(app: &TestApp, org: &str, key: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (ok, out) = openssl(
            d,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                "k.pem",
            ],
        );
        assert!(ok, "{out}");
        let (ok, out) = openssl(
            d,
            &[
                "req", "-new", "-key", "k.pem", "-subj", "/CN=x", "-out", "c.pem",
            ],
        );
        assert!(ok, "{out}");
        let csr = std::fs::read_to_string(d.join("c.pem")).unwrap();
        let r = app
            .http
            .post(app.url(&format!("/v1/orgs/{org}/certificates")))
            .bearer_auth(key)
            .json(&json!({ "csr": csr }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        Self { dir }
    }

    /// Base64 of the DER ECDSA signature over `bytes`.
    fn sign(&self, bytes: &[u8]) -> String {
        let d = self.dir.path();
        std::fs::write(d.join("body"), bytes).unwrap();
        let (ok, out) = openssl(
            d,
            &[
                "dgst", "-sha256", "-sign", "k.pem", "-out", "sig.der", "body",
            ],
        );
        assert!(ok, "{out}");
        B64.encode(std::fs::read(d.join("sig.der")).unwrap())
    }
}

// ------------------------------------------------------------------------------------------
// Receipts and the outside judges

/// Checks that a leaf is in the checkpoint's tree, with the log key from `/v1/log/key`.
async fn assert_included(app: &TestApp, leaf_b64: &str, index: u64, proof: &Value, note: &str) {
    let vkey = get(app, &app.admin_key, "/v1/log/key")
        .await
        .text()
        .await
        .unwrap();
    let verifier = notarium::ledger::Ed25519Verifier::from_vkey(vkey.trim()).unwrap();
    let (cp, _) =
        notarium::ledger::Checkpoint::open(note.as_bytes(), "notarium.example/log", &verifier)
            .unwrap();
    let leaf: [u8; 32] = B64.decode(leaf_b64).unwrap().try_into().unwrap();
    let proof: Vec<[u8; 32]> = proof
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    notarium::ledger::verify_inclusion(index, cp.size, &leaf, &proof, &cp.root).unwrap();
    if let Some(first) = proof.first() {
        let mut bad = proof.clone();
        bad[0] = [first[0] ^ 1; 32];
        assert!(notarium::ledger::verify_inclusion(index, cp.size, &leaf, &bad, &cp.root).is_err());
    }
}

/// A record of `GET /v1/contracts/{id}` with its receipt: included in its checkpoint.
async fn assert_record_included(app: &TestApp, record: &Value) {
    let receipt = &record["receipt"];
    assert_included(
        app,
        receipt["leaf_hash"].as_str().unwrap(),
        receipt["log_index"].as_u64().unwrap(),
        &receipt["inclusion_proof"],
        receipt["checkpoint"].as_str().unwrap(),
    )
    .await;
}

fn pyhanko() -> PathBuf {
    if let Some(p) = std::env::var_os("PYHANKO") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    for candidate in [
        target.join("pyhanko-venv/bin/pyhanko"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyhanko-venv/bin/pyhanko"),
    ] {
        if candidate.exists() {
            return candidate;
        }
    }
    PathBuf::from("pyhanko")
}

/// The first certificate of a PEM chain (the root, for `GET /v1/ca`).
fn first_pem_block(chain: &str) -> String {
    let end = "-----END CERTIFICATE-----";
    let at = chain.find(end).expect("a certificate") + end.len();
    format!("{}\n", &chain[..at])
}

/// pdfsig's report split per signature, trusting `root_pem` through an NSS database.
fn pdfsig(dir: &Path, root_pem: &Path, file: &Path) -> Vec<String> {
    let db = dir.join("nss");
    std::fs::create_dir_all(&db).unwrap();
    let sql = format!("sql:{}", db.display());
    let (ok, out) = run(Command::new("certutil").args(["-N", "-d", &sql, "--empty-password"]));
    assert!(ok, "certutil -N: {out}");
    let (ok, out) = run(Command::new("certutil")
        .args([
            "-A",
            "-d",
            &sql,
            "-n",
            "notarium-root",
            "-t",
            "CT,C,C",
            "-i",
        ])
        .arg(root_pem));
    assert!(ok, "certutil -A: {out}");
    // pdfsig exits 0 even on a digest mismatch: its text is the verdict
    let (_, out) = run(Command::new("pdfsig").arg("-nssdir").arg(&sql).arg(file));
    out.split("Signature #")
        .skip(1)
        .map(str::to_string)
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

// ------------------------------------------------------------------------------------------
// The story

#[tokio::test]
async fn two_parties_sign_one_with_its_own_key_and_the_executed_pdf_passes_outside_tools() {
    let app = TestApp::start().await;
    let (a, key_a) = app.register("Insurer A", "issuer").await;
    let own_a = OwnKey::certify(&app, &a, &key_a).await;
    let (b, key_b) = custodial_issuer(&app, "Trading B").await;
    let (auditor, key_aud) = app.register("Auditor D", "auditor").await;
    let (_, key_e) = custodial_issuer(&app, "Stranger E").await;

    // Intake: the insurer submits, signing the PDF bytes with its own key.
    let pdf = contract_pdf(3);
    let r = submit(
        &app,
        &key_a,
        &pdf,
        &format!("{a},{b}"),
        Some(own_a.sign(&pdf)),
    )
    .await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let receipt: Value = r.json().await.unwrap();
    let id = receipt["contract_id"].as_str().unwrap().to_string();
    assert_eq!(receipt["record_id"], receipt["contract_id"]);
    assert_eq!(receipt["kind"], "contract");
    assert_eq!(receipt["status"], "awaiting-signatures");
    assert_eq!(receipt["signer"], "org");
    assert_eq!(receipt["title"], "Reinsurance contract 2026-117");
    assert_eq!(receipt["document_sha256"], sha256_hex(&pdf));
    let names: Vec<&str> = receipt["parties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Insurer A", "Trading B"]);
    assert_included(
        &app,
        receipt["leaf_hash"].as_str().unwrap(),
        receipt["log_index"].as_u64().unwrap(),
        &receipt["inclusion_proof"],
        receipt["checkpoint"].as_str().unwrap(),
    )
    .await;
    let entry =
        notarium::ledger::Entry::decode(&B64.decode(receipt["entry"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(entry.kind, notarium::ledger::EntryKind::Contract);
    assert_eq!(hex::encode(entry.document_sha256), sha256_hex(&pdf));

    // The parties fetch what they sign; the auditor sees it once granted; a stranger does not.
    let r = get(&app, &key_b, &format!("/v1/contracts/{id}/document")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), pdf.as_slice());
    assert_eq!(
        get(&app, &key_aud, &format!("/v1/contracts/{id}"))
            .await
            .status(),
        404
    );
    let r = app
        .http
        .post(app.url("/v1/grants"))
        .bearer_auth(&key_a)
        .json(&json!({ "grantee": auditor }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = get(&app, &key_aud, &format!("/v1/contracts/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "awaiting-signatures");
    assert_eq!(v["page_count"], 3);
    assert_eq!(v["size"], pdf.len());
    assert_eq!(v["pdf_version"], "1.7");
    assert_eq!(v["info"]["author"], "Insurer A");

    // Not yet executed: no signed PDF.
    let r = get(&app, &key_a, &format!("/v1/contracts/{id}/pdf")).await;
    assert_eq!(r.status(), 409);

    // Who may not sign: a non-party that sees the contract (403), a stranger (404).
    let r = sign(&app, &key_aud, &id, json!({"custodial": true})).await;
    assert_eq!(r.status(), 403);
    let r = sign(&app, &key_e, &id, json!({"custodial": true})).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        get(&app, &key_e, &format!("/v1/contracts/{id}"))
            .await
            .status(),
        404
    );

    // A signature over other bytes: 422, nothing recorded.
    let r = sign(
        &app,
        &key_a,
        &id,
        json!({"signature": own_a.sign(b"another contract")}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "urn:notarium:problem:bad-signature");
    let r = sign(
        &app,
        &key_a,
        &id,
        json!({"signature": "x", "custodial": true}),
    )
    .await;
    assert_eq!(r.status(), 400);

    // The insurer signs with its own key; then once more: 409.
    let r = sign(&app, &key_a, &id, json!({"signature": own_a.sign(&pdf)})).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let sig_a: Value = r.json().await.unwrap();
    assert_eq!(sig_a["kind"], "contract-signature");
    assert_eq!(sig_a["signer"], "org");
    assert_eq!(sig_a["contract_status"], "awaiting-signatures");
    assert_eq!(sig_a["document_sha256"], sha256_hex(&pdf));
    let entry =
        notarium::ledger::Entry::decode(&B64.decode(sig_a["entry"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(entry.kind, notarium::ledger::EntryKind::ContractSignature);
    assert_eq!(
        entry.refers_to.map(uuid::Uuid::from_bytes),
        Some(id.parse().unwrap())
    );
    let r = sign(&app, &key_a, &id, json!({"signature": own_a.sign(&pdf)})).await;
    assert_eq!(r.status(), 409);

    // The trading company signs custodially: the last signature executes the contract.
    let r = sign(&app, &key_b, &id, json!({"custodial": true})).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let sig_b: Value = r.json().await.unwrap();
    assert_eq!(sig_b["signer"], "custodial");
    assert_eq!(sig_b["contract_status"], "executed");
    let executed_sha = sig_b["executed"]["pdf_sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let r = sign(&app, &key_b, &id, json!({"custodial": true})).await;
    assert_eq!(r.status(), 409);

    // The contract: who signed when, and every receipt proves inclusion.
    let v: Value = get(&app, &key_b, &format!("/v1/contracts/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "executed");
    assert_eq!(v["submitter"], a.as_str());
    for (p, signer) in v["parties"]
        .as_array()
        .unwrap()
        .iter()
        .zip(["org", "custodial"])
    {
        assert_eq!(p["signed"], true, "{p}");
        assert_eq!(p["signer"], signer);
        let at = time::OffsetDateTime::parse(
            p["signed_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert!((time::OffsetDateTime::now_utc() - at).abs() < time::Duration::minutes(5));
    }
    assert_record_included(&app, &v["contract"]).await;
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2);
    for s in v["signatures"].as_array().unwrap() {
        assert_eq!(s["refers_to"], id.as_str());
        assert_record_included(&app, s).await;
    }
    let executed = &v["executed"];
    assert_eq!(executed["kind"], "contract-executed");
    assert_eq!(executed["refers_to"], id.as_str());
    assert_eq!(executed["document_sha256"], executed_sha.as_str());
    assert_record_included(&app, executed).await;

    // The signed PDF: the same bytes on every download, the ones the ledger committed to.
    let r = get(&app, &key_aud, &format!("/v1/contracts/{id}/pdf")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let signed = r.bytes().await.unwrap().to_vec();
    let again = get(&app, &key_a, &format!("/v1/contracts/{id}/pdf"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(signed, again.as_ref());
    assert_eq!(sha256_hex(&signed), executed_sha);
    assert!(
        signed.starts_with(&pdf),
        "signatures are incremental updates"
    );

    // Judged from outside, trusting the root of GET /v1/ca.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let chain = get(&app, &key_a, "/v1/ca").await.text().await.unwrap();
    std::fs::write(d.join("root.pem"), first_pem_block(&chain)).unwrap();
    std::fs::write(d.join("signed.pdf"), &signed).unwrap();
    if let Some(keep) = std::env::var_os("KEEP_PDF_DIR") {
        std::fs::copy(
            d.join("signed.pdf"),
            Path::new(&keep).join("contract-api.pdf"),
        )
        .unwrap();
        std::fs::copy(
            d.join("root.pem"),
            Path::new(&keep).join("contract-api-root.pem"),
        )
        .unwrap();
    }

    let (ok, out) = run(Command::new("qpdf")
        .arg("--check")
        .arg(d.join("signed.pdf")));
    assert!(
        ok && out.contains("No syntax or stream encoding errors"),
        "qpdf: {out}"
    );

    let (ok, out) = run(Command::new(pyhanko())
        .args(["sign", "validate", "--no-revocation-check", "--trust"])
        .arg(d.join("root.pem"))
        .args(["--trust-replace", "--pretty-print"])
        .arg(d.join("signed.pdf")));
    assert!(ok, "pyhanko refused the signed contract:\n{out}");
    for field in ["party-1", "party-2", "notary-seal"] {
        assert!(
            out.contains(field),
            "pyhanko did not report {field}:\n{out}"
        );
    }
    assert!(
        !out.contains("INVALID") && !out.contains("UNTRUSTED"),
        "pyhanko: {out}"
    );
    for verdict in [
        "The signature is cryptographically sound.",
        "The signature is judged VALID.",
        "The timestamp token is cryptographically sound.",
    ] {
        assert_eq!(out.matches(verdict).count(), 3, "{verdict:?}:\n{out}");
    }

    let blocks = pdfsig(d, &d.join("root.pem"), &d.join("signed.pdf"));
    assert_eq!(blocks.len(), 3, "pdfsig: {blocks:#?}");
    for b in &blocks {
        assert!(
            b.contains("Signature Validation: Signature is Valid.")
                && b.contains("Certificate Validation: Certificate is Trusted."),
            "pdfsig: {b}"
        );
    }
    assert!(
        blocks[0].contains("notarium Notary Seal for Insurer A"),
        "{}",
        blocks[0]
    );
    assert!(blocks[1].contains("Trading B"), "{}", blocks[1]);
    assert!(blocks[2].contains("notarium Notary Seal"), "{}", blocks[2]);
    assert!(
        blocks[2].contains("Total document signed"),
        "the seal covers the whole file: {}",
        blocks[2]
    );

    // The own-key party's signature, checked by hand with OpenSSL as docs/contracts.md says:
    // the first revision is the PDF as submitted.
    let size = v["size"].as_u64().unwrap() as usize;
    std::fs::write(d.join("original.pdf"), &signed[..size]).unwrap();
    std::fs::write(d.join("ca.pem"), &chain).unwrap();
    let party_sig = &v["signatures"][0];
    std::fs::write(
        d.join("party.sig"),
        B64.decode(party_sig["signature"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    std::fs::write(
        d.join("token.der"),
        B64.decode(party_sig["timestamp_token"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    let key = own_a.dir.path().join("k.pem");
    let (ok, out) = openssl(
        d,
        &[
            "ec",
            "-in",
            key.to_str().unwrap(),
            "-pubout",
            "-out",
            "party.pub",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(
        d,
        &[
            "dgst",
            "-sha256",
            "-verify",
            "party.pub",
            "-signature",
            "party.sig",
            "original.pdf",
        ],
    );
    assert!(ok && out.contains("Verified OK"), "{out}");
    let (ok, out) = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "original.pdf",
            "-in",
            "token.der",
            "-token_in",
            "-CAfile",
            "ca.pem",
        ],
    );
    assert!(ok && out.contains("Verification: OK"), "{out}");
    // ... and the same signature inside the CMS of party-1 (the /Contents in file order)
    let contents: Vec<Vec<u8>> = {
        let text = String::from_utf8_lossy(&signed);
        text.match_indices("/Contents<")
            .map(|(at, m)| {
                let start = at + m.len();
                let end = start + text[start..].find('>').unwrap();
                hex::decode(&text[start..end]).unwrap()
            })
            .collect()
    };
    assert_eq!(contents.len(), 3);
    std::fs::write(d.join("sig-1.der"), &contents[0]).unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "cms",
            "-cmsout",
            "-print",
            "-inform",
            "DER",
            "-in",
            "sig-1.der",
        ],
    );
    assert!(ok && out.contains("1.3.6.1.3.3161.2.1"), "{out}");

    // Our verifier: the own-key party's signature rides in the seal's CMS and verifies over
    // the first revision, which is exactly the PDF submitted.
    let report = notarium::documents::contract::verify_pdf_signatures(
        &signed,
        std::slice::from_ref(&app.state.pki.root.cert_der),
    )
    .unwrap();
    assert!(report.is_valid(), "{report:#?}");
    let fields: Vec<&str> = report
        .signatures
        .iter()
        .map(|s| s.field_name.as_str())
        .collect();
    assert_eq!(fields, ["party-1", "party-2", "notary-seal"]);
    let on_behalf = report.signatures[0].on_behalf_of.as_ref().unwrap();
    assert!(
        on_behalf.party_subject.contains("Insurer A"),
        "{on_behalf:?}"
    );
    assert_eq!(&signed[..on_behalf.signed_length], pdf.as_slice());
    assert!(
        report.signatures[0]
            .signer_subject
            .as_deref()
            .unwrap()
            .contains("notarium Notary Seal for Insurer A")
    );
    assert!(report.signatures[1].on_behalf_of.is_none());
    assert!(
        report.signatures[1]
            .signer_subject
            .as_deref()
            .unwrap()
            .contains("Trading B")
    );
    app.stop().await;
}

// ------------------------------------------------------------------------------------------
// Intake refusals

#[tokio::test]
async fn intake_refuses_what_is_not_a_signable_pdf_and_stays_up() {
    let app = TestApp::start_with(|c| c.contract_max_bytes = 64 * 1024).await;
    let (a, key_a) = custodial_issuer(&app, "Insurer A").await;
    let (auditor, _) = app.register("Auditor D", "auditor").await;
    let pdf = contract_pdf(2);
    let reason = |v: &Value| v["reason"].as_str().unwrap_or_default().to_string();

    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("plain.pdf"), &pdf).unwrap();
    for (user, out) in [("secret", "locked.pdf"), ("", "owner-only.pdf")] {
        let (ok, text) = run(Command::new("qpdf")
            .args(["--encrypt", user, "owner-pw", "256", "--"])
            .arg(d.join("plain.pdf"))
            .arg(d.join(out)));
        assert!(ok, "qpdf --encrypt: {text}");
    }
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("text", b"this is a contract, honestly".to_vec(), "not-pdf"),
        ("truncated", pdf[..pdf.len() / 2].to_vec(), "truncated"),
        (
            "locked",
            std::fs::read(d.join("locked.pdf")).unwrap(),
            "encrypted",
        ),
        (
            "owner-only",
            std::fs::read(d.join("owner-only.pdf")).unwrap(),
            "encrypted",
        ),
        ("panic", pdf_that_panics_the_parser(), "parser-failed"),
    ];
    for (name, bytes, want) in cases {
        let r = submit(&app, &key_a, &bytes, &a, None).await;
        assert_eq!(r.status(), 422, "{name}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["type"], "urn:notarium:problem:invalid-pdf", "{name}: {v}");
        assert_eq!(reason(&v), want, "{name}: {v}");
        // the server is still there
        assert_eq!(
            app.http
                .get(app.url("/healthz"))
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }

    // Parties must be issuers that exist.
    let r = submit(&app, &key_a, &pdf, &uuid::Uuid::new_v4().to_string(), None).await;
    assert_eq!(r.status(), 422);
    let r = submit(&app, &key_a, &pdf, &format!("{a} {auditor}"), None).await;
    assert_eq!(r.status(), 422);
    let r = submit(&app, &key_a, &pdf, "", None).await;
    assert_eq!(r.status(), 422);
    // No document: 400; larger than NOTARIUM_CONTRACT_MAX_BYTES: 413.
    let (ctype, body) = multipart(&[("parties", None, a.as_bytes())]);
    let r = app
        .http
        .post(app.url("/v1/contracts"))
        .bearer_auth(&key_a)
        .header("content-type", ctype)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    for size in [100 * 1024, 300 * 1024] {
        let mut big = pdf.clone();
        big.resize(size, b' ');
        let r = submit(&app, &key_a, &big, &a, None).await;
        assert_eq!(r.status(), 413, "{size} bytes");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }

    // Nothing was logged; a good contract still goes through, first in the log.
    let cp = get(&app, &key_a, "/checkpoint").await.text().await.unwrap();
    assert_eq!(cp.lines().nth(1), Some("0"), "{cp}");
    let r = submit(&app, &key_a, &pdf, &a, None).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["log_index"], 0);
    assert_eq!(v["signer"], "custodial");
    app.stop().await;
}

// ------------------------------------------------------------------------------------------
// Races

#[tokio::test]
async fn racing_signatures_sign_once_and_execute_once() {
    let app = TestApp::start().await;
    let (a, key_a) = custodial_issuer(&app, "Insurer A").await;
    let (b, key_b) = custodial_issuer(&app, "Trading B").await;
    let (c, key_c) = custodial_issuer(&app, "Shipping C").await;
    let pdf = contract_pdf(1);
    let r = submit(&app, &key_a, &pdf, &format!("{a},{b},{c}"), None).await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["contract_id"]
        .as_str()
        .unwrap()
        .to_string();

    let sign_all = |keys: Vec<String>| {
        let tasks: Vec<_> = keys
            .into_iter()
            .map(|k| {
                let http = app.http.clone();
                let url = app.url(&format!("/v1/contracts/{id}/signatures"));
                tokio::spawn(async move {
                    let r = http
                        .post(url)
                        .bearer_auth(k)
                        .json(&json!({"custodial": true}))
                        .send()
                        .await
                        .unwrap();
                    let status = r.status().as_u16();
                    (status, r.json::<Value>().await.unwrap())
                })
            })
            .collect();
        async move {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        }
    };

    // The same party eight times at once: one signature.
    let answers = sign_all(vec![key_a.clone(); 8]).await;
    let codes: Vec<u16> = answers.iter().map(|(s, _)| *s).collect();
    assert_eq!(codes.iter().filter(|&&s| s == 201).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|&&s| s == 409).count(), 7, "{codes:?}");

    // The two last parties at once: both signatures, one execution. The signature committed
    // last sees both and executes (the earlier one may answer before the other committed);
    // when both commit in one batch, both try and the unique key lets one execution in.
    let answers = sign_all(vec![key_b.clone(), key_c.clone()]).await;
    let mut executions = Vec::new();
    for (status, v) in &answers {
        assert_eq!(*status, 201, "{v}");
        match v["contract_status"].as_str() {
            Some("executed") => executions.push(v["executed"]["record_id"].clone()),
            Some("awaiting-signatures") => {}
            other => panic!("unexpected status {other:?}: {v}"),
        }
    }
    assert!(!executions.is_empty(), "the last signature executes");
    assert!(
        executions.windows(2).all(|w| w[0] == w[1]),
        "{executions:?}"
    );
    let v: Value = get(&app, &key_a, &format!("/v1/contracts/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "executed");
    assert_eq!(v["executed"]["record_id"], executions[0]);
    let conn = app.state.store.conn().await.unwrap();
    let contract: uuid::Uuid = id.parse().unwrap();
    let rows = conn
        .query(
            "SELECT kind, count(*) FROM records WHERE refers_to = $1 GROUP BY kind ORDER BY kind",
            &[&contract],
        )
        .await
        .unwrap();
    let counts: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        counts,
        [
            ("contract-executed".to_string(), 1),
            ("contract-signature".to_string(), 3)
        ]
    );
    drop(conn);
    let first = get(&app, &key_c, &format!("/v1/contracts/{id}/pdf"))
        .await
        .bytes()
        .await
        .unwrap();
    let report = notarium::documents::contract::verify_pdf_signatures(
        &first,
        std::slice::from_ref(&app.state.pki.root.cert_der),
    )
    .unwrap();
    assert!(report.is_valid(), "{report:#?}");
    assert_eq!(report.signatures.len(), 4, "three parties and the seal");
    assert!(report.signatures.iter().all(|s| s.on_behalf_of.is_none()));
    app.stop().await;
}
