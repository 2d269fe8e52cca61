//! An insurer's day: register, certify a key, notarize invoices, meet duplicates and bad
//! signatures, credit and cancel, grant an auditor access; a court checks a receipt with the
//! ledger's verifier and OpenSSL.

use std::path::Path;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::harness::{TestApp, run};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/invoices");

fn file(rel: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{rel}")).expect("test invoice")
}

/// The total a file states (PayableAmount / DuePayableAmount / TotalTax-includedAmount).
fn stated_total(xml: &[u8]) -> String {
    let text = String::from_utf8_lossy(xml);
    for tag in [
        "PayableAmount",
        "DuePayableAmount",
        "TotalTax-includedAmount",
    ] {
        if let Some(pos) = text.find(tag) {
            let rest = &text[pos..];
            let start = rest.find('>').unwrap() + 1;
            let end = rest[start..].find('<').unwrap() + start;
            return rest[start..end].trim().to_string();
        }
    }
    panic!("no total in file");
}

/// An issuer org with a custodial certificate; returns (id, key).
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

async fn submit(
    app: &TestApp,
    key: &str,
    ctype: &str,
    body: Vec<u8>,
    sig: Option<String>,
) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url("/v1/invoices"))
        .bearer_auth(key)
        .header("content-type", ctype)
        .body(body);
    if let Some(s) = sig {
        req = req.header("x-signature", s);
    }
    req.send().await.unwrap()
}

fn decimal_eq(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        let s = s.trim();
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    norm(a) == norm(b)
}

#[tokio::test]
async fn every_shared_invoice_is_accepted_with_its_stated_total() {
    // One log per syntax family: the UBL and CII examples are the same invoices (same seller
    // and number), so in one log the second of each pair is a duplicate — checked below.
    for group in [
        vec![
            "ubl/en16931-ubl-example1.xml",
            "ubl/en16931-ubl-example2.xml",
            "ubl/en16931-ubl-example3.xml",
            "ubl/en16931-ubl-example4.xml",
            "ubl/en16931-ubl-example5.xml",
            "ubl/en16931-ubl-creditnote1.xml",
        ],
        vec![
            "cii/en16931-cii-example1.xml",
            "cii/en16931-cii-example2.xml",
            "cii/en16931-cii-example3.xml",
            "cii/en16931-cii-example4.xml",
            "cii/en16931-cii-example5.xml",
            "cii/en16931-cii-rounding-issue.xml",
            "cn/shudian-special-2lines.xml",
        ],
    ] {
        let app = TestApp::start().await;
        let (_, key) = custodial_issuer(&app, "Insurer").await;
        for name in group {
            let body = file(name);
            let r = submit(&app, &key, "application/xml", body.clone(), None).await;
            assert_eq!(r.status(), 201, "{name}: {}", r.text().await.unwrap());
            let receipt: Value = r.json().await.unwrap();
            let id = receipt["record_id"].as_str().unwrap();
            let rec: Value = app
                .http
                .get(app.url(&format!("/v1/records/{id}")))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let amount = rec["record"]["meta"]["amount"].as_str().unwrap();
            assert!(
                decimal_eq(amount, &stated_total(&body)),
                "{name}: {amount} vs {}",
                stated_total(&body)
            );
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn the_same_invoice_in_another_syntax_or_as_json_is_a_duplicate() {
    let app = TestApp::start().await;
    let (_, key) = custodial_issuer(&app, "Insurer").await;
    let r = submit(
        &app,
        &key,
        "application/xml",
        file("ubl/en16931-ubl-example1.xml"),
        None,
    )
    .await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.unwrap();
    let r = submit(
        &app,
        &key,
        "application/xml",
        file("cii/en16931-cii-example1.xml"),
        None,
    )
    .await;
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["record_id"], first["record_id"]);
    assert!(v["notarized_at"].as_str().is_some());

    let r = submit(
        &app,
        &key,
        "application/xml",
        file("cn/shudian-special-2lines.xml"),
        None,
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = submit(
        &app,
        &key,
        "application/json",
        file("cn/shudian-special-2lines.json"),
        None,
    )
    .await;
    assert_eq!(
        r.status(),
        409,
        "the JSON twin of a 数电票 is the same invoice"
    );
    app.stop().await;
}

#[tokio::test]
async fn sixteen_concurrent_duplicates_give_exactly_one_201() {
    let app = TestApp::start().await;
    let (_, key) = custodial_issuer(&app, "Insurer").await;
    let body = file("ubl/en16931-ubl-example2.xml");
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let http = app.http.clone();
        let url = app.url("/v1/invoices");
        let key = key.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(key)
                .header("content-type", "application/xml")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|&&c| c == 201).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|&&c| c == 409).count(), 15, "{codes:?}");
    app.stop().await;
}

#[tokio::test]
async fn broken_invoices_list_every_failed_rule_and_change_nothing() {
    let app = TestApp::start().await;
    let (_, key) = custodial_issuer(&app, "Insurer").await;
    let good = String::from_utf8(file("ubl/en16931-ubl-example1.xml")).unwrap();
    // No invoice number (BR-02) and a payable amount that no longer adds up (BR-CO-16).
    let number = good.find("<cbc:ID>").unwrap();
    let number_end = good[number..].find("</cbc:ID>").unwrap() + number + "</cbc:ID>".len();
    let broken = format!("{}{}", &good[..number], &good[number_end..]).replace(
        "<cbc:PayableAmount currencyID=\"EUR\">250.33<",
        "<cbc:PayableAmount currencyID=\"EUR\">999.99<",
    );
    assert_ne!(broken, good);
    let r = submit(&app, &key, "application/xml", broken.into_bytes(), None).await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    let rules: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"BR-02"), "{rules:?}");
    assert!(rules.contains(&"BR-CO-16"), "{rules:?}");
    assert!(v["errors"][0]["element"].as_str().is_some());
    // Garbage and hostile XML: 422, not 500.
    let r = submit(
        &app,
        &key,
        "application/xml",
        b"<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>".to_vec(),
        None,
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = submit(&app, &key, "image/png", b"\x89PNG".to_vec(), None).await;
    assert_eq!(r.status(), 415);
    // Nothing was logged.
    let cp = app
        .http
        .get(app.url("/checkpoint"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(cp.lines().nth(1), Some("0"), "{cp}");
    app.stop().await;
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    run(Command::new("openssl").current_dir(dir).args(args))
}

/// An org key certified from a CSR made with OpenSSL; signs with `openssl dgst`.
struct OwnKey {
    dir: tempfile::TempDir,
}

impl OwnKey {
    async fn certify(app: &TestApp, org: &str, key: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(
            openssl(
                d,
                &[
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                    "k.pem"
                ]
            )
            .0
        );
        assert!(
            openssl(
                d,
                &[
                    "req", "-new", "-key", "k.pem", "-subj", "/CN=x", "-out", "c.pem"
                ]
            )
            .0
        );
        let csr = std::fs::read_to_string(d.join("c.pem")).unwrap();
        let r = app
            .http
            .post(app.url(&format!("/v1/orgs/{org}/certificates")))
            .bearer_auth(key)
            .json(&json!({"csr": csr}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        Self { dir }
    }

    fn sign(&self, body: &[u8]) -> String {
        let d = self.dir.path();
        std::fs::write(d.join("body"), body).unwrap();
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

#[tokio::test]
async fn org_signatures_are_verified_and_another_orgs_key_is_refused() {
    let app = TestApp::start().await;
    let (a, key_a) = app.register("Insurer A", "issuer").await;
    let (b, key_b) = app.register("Insurer B", "issuer").await;
    let own_a = OwnKey::certify(&app, &a, &key_a).await;
    let own_b = OwnKey::certify(&app, &b, &key_b).await;
    let body = file("ubl/en16931-ubl-example3.xml");

    // No signature and no custodial key: refused.
    let r = submit(&app, &key_a, "application/xml", body.clone(), None).await;
    assert_eq!(r.status(), 422);
    // B's key on A's submission: refused, nothing stored.
    let r = submit(
        &app,
        &key_a,
        "application/xml",
        body.clone(),
        Some(own_b.sign(&body)),
    )
    .await;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "urn:notarium:problem:bad-signature");
    // A signature over other bytes: refused.
    let r = submit(
        &app,
        &key_a,
        "application/xml",
        body.clone(),
        Some(own_a.sign(b"other")),
    )
    .await;
    assert_eq!(r.status(), 422);
    // A's own signature: accepted, and the receipt says the org signed.
    let sig = own_a.sign(&body);
    let r = submit(
        &app,
        &key_a,
        "application/xml",
        body.clone(),
        Some(sig.clone()),
    )
    .await;
    assert_eq!(r.status(), 201);
    let receipt: Value = r.json().await.unwrap();
    assert_eq!(receipt["signer"], "org");
    assert_eq!(receipt["signature"], sig);
    assert_eq!(receipt["log_index"], 0, "refused submissions left no entry");
    app.stop().await;
}

#[tokio::test]
async fn receipts_verify_with_the_ledger_verifier_and_openssl() {
    let app = TestApp::start().await;
    let (_, key) = custodial_issuer(&app, "Insurer").await;
    let mut last = Value::Null;
    let bodies = [
        file("ubl/en16931-ubl-example1.xml"),
        file("ubl/en16931-ubl-example4.xml"),
        file("cn/shudian-special-2lines.xml"),
    ];
    for body in &bodies {
        let r = submit(&app, &key, "application/xml", body.clone(), None).await;
        assert_eq!(r.status(), 201);
        last = r.json().await.unwrap();
    }
    let body = &bodies[2];
    // Inclusion proof to the checkpoint, with the log key from /v1/log/key.
    let vkey = app
        .http
        .get(app.url("/v1/log/key"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let verifier = notarium::ledger::Ed25519Verifier::from_vkey(vkey.trim()).unwrap();
    let (cp, _) = notarium::ledger::Checkpoint::open(
        last["checkpoint"].as_str().unwrap().as_bytes(),
        "notarium.example/log",
        &verifier,
    )
    .unwrap();
    let entry = B64.decode(last["entry"].as_str().unwrap()).unwrap();
    let leaf = notarium::ledger::leaf_hash(&entry);
    assert_eq!(B64.encode(leaf), last["leaf_hash"]);
    let proof: Vec<[u8; 32]> = last["inclusion_proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect();
    let index = last["log_index"].as_u64().unwrap();
    assert_eq!(cp.size, last["tree_size"].as_u64().unwrap());
    notarium::ledger::verify_inclusion(index, cp.size, &leaf, &proof, &cp.root).unwrap();
    let mut bad = proof.clone();
    bad[0][0] ^= 1;
    assert!(notarium::ledger::verify_inclusion(index, cp.size, &leaf, &bad, &cp.root).is_err());
    // The entry names the document's digest.
    let decoded = notarium::ledger::Entry::decode(&entry).unwrap();
    let digest: [u8; 32] = sha2::Sha256::digest(body).into();
    assert_eq!(decoded.document_sha256, digest);
    assert_eq!(
        hex::encode(digest),
        last["document_sha256"].as_str().unwrap()
    );

    // The token, checked by OpenSSL against the notary root.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("doc.xml"), body).unwrap();
    std::fs::write(
        d.join("token.der"),
        B64.decode(last["timestamp_token"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    std::fs::write(
        d.join("root.pem"),
        notarium::identity::pki::pem_cert(&app.state.pki.root.cert_der),
    )
    .unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "doc.xml",
            "-in",
            "token.der",
            "-token_in",
            "-CAfile",
            "root.pem",
        ],
    );
    assert!(ok && out.contains("Verification: OK"), "{out}");
    std::fs::write(d.join("other.xml"), b"tampered").unwrap();
    assert!(
        !openssl(
            d,
            &[
                "ts",
                "-verify",
                "-data",
                "other.xml",
                "-in",
                "token.der",
                "-token_in",
                "-CAfile",
                "root.pem"
            ]
        )
        .0
    );
    app.stop().await;
}

use sha2::Digest;

#[tokio::test]
async fn credits_stay_within_the_original_and_cancellation_is_final() {
    let app = TestApp::start().await;
    let (_, key) = custodial_issuer(&app, "Insurer").await;
    let r = submit(
        &app,
        &key,
        "application/xml",
        file("ubl/en16931-ubl-example1.xml"),
        None,
    )
    .await;
    let id = r.json::<Value>().await.unwrap()["record_id"]
        .as_str()
        .unwrap()
        .to_string();
    let status = |body: Value| {
        let http = app.http.clone();
        let url = app.url(&format!("/v1/invoices/{id}/status"));
        let key = key.clone();
        async move {
            http.post(url)
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = status(json!({"status": "credit", "amount": "300.00"})).await;
    assert_eq!(r.status(), 422, "credit beyond the original (250.33)");
    let r = status(json!({"status": "credit", "amount": "200.00"})).await;
    assert_eq!(r.status(), 201);
    let r = status(json!({"status": "credit", "amount": "60.00"})).await;
    assert_eq!(r.status(), 422, "200 + 60 > 250.33");
    assert!(
        r.json::<Value>().await.unwrap()["detail"]
            .as_str()
            .unwrap()
            .contains("250.33")
    );
    let r = status(json!({"status": "credit", "amount": "50.33"})).await;
    assert_eq!(r.status(), 201, "exactly the rest");
    let r = status(json!({"status": "cancel", "reason": "issued in error"})).await;
    assert_eq!(r.status(), 201);
    let r = status(json!({"status": "cancel"})).await;
    assert_eq!(r.status(), 422);
    let r = status(json!({"status": "refund"})).await;
    assert_eq!(r.status(), 422);
    // The history, in order.
    let v: Value = app
        .http
        .get(app.url(&format!("/v1/records/{id}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let h: Vec<&str> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["meta"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(h, ["credit", "credit", "cancel"]);
    let idx: Vec<u64> = v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["log_index"].as_u64().unwrap())
        .collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]));
    app.stop().await;
}

#[tokio::test]
async fn another_org_sees_nothing_until_granted_and_grants_can_be_withdrawn() {
    let app = TestApp::start().await;
    let (_, key_a) = custodial_issuer(&app, "Insurer A").await;
    let (auditor, key_aud) = app.register("Auditor", "auditor").await;
    let (_, key_b) = app.register("Insurer B", "issuer").await;
    let r = submit(
        &app,
        &key_a,
        "application/xml",
        file("ubl/en16931-ubl-example5.xml"),
        None,
    )
    .await;
    let receipt: Value = r.json().await.unwrap();
    let id = receipt["record_id"].as_str().unwrap();
    let url = app.url(&format!("/v1/records/{id}"));
    for k in [&key_aud, &key_b] {
        let r = app.http.get(&url).bearer_auth(k).send().await.unwrap();
        assert_eq!(r.status(), 404, "not 403: existence must not leak");
    }
    let search = |k: String| {
        let http = app.http.clone();
        let u = app.url(&format!(
            "/v1/records?digest={}",
            receipt["document_sha256"].as_str().unwrap()
        ));
        async move {
            http.get(u)
                .bearer_auth(k)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        search(key_aud.clone()).await["records"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        search(key_a.clone()).await["records"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Only issuers grant, only to auditors and courts.
    let r = app
        .http
        .post(app.url("/v1/grants"))
        .bearer_auth(&key_aud)
        .json(&json!({"grantee": auditor}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .post(app.url("/v1/grants"))
        .bearer_auth(&key_a)
        .json(&json!({"grantee": auditor}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let grant: Value = r.json().await.unwrap();
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(&key_aud)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        search(key_aud.clone()).await["records"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(&key_b)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Withdrawn: hidden again.
    let r = app
        .http
        .delete(app.url(&format!("/v1/grants/{}", grant["id"].as_str().unwrap())))
        .bearer_auth(&key_a)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(&key_aud)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // A grant whose scope ended before the record: does not cover it.
    let r = app
        .http
        .post(app.url("/v1/grants"))
        .bearer_auth(&key_a)
        .json(&json!({"grantee": auditor, "scope": {"to": "2020-01-01T00:00:00Z"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(
        app.http
            .get(&url)
            .bearer_auth(&key_aud)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn search_pages_with_a_cursor() {
    let app = TestApp::start().await;
    let (_, key) = custodial_issuer(&app, "Insurer").await;
    for f in [
        "ubl/en16931-ubl-example1.xml",
        "ubl/en16931-ubl-example2.xml",
        "ubl/en16931-ubl-example3.xml",
    ] {
        assert_eq!(
            submit(&app, &key, "application/xml", file(f), None)
                .await
                .status(),
            201
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut u = app.url("/v1/records?limit=2");
        if let Some(c) = &cursor {
            u.push_str(&format!("&cursor={c}"));
        }
        let v: Value = app
            .http
            .get(u)
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for r in v["records"].as_array().unwrap() {
            seen.push(r["meta"]["number"].as_str().unwrap().to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    let v: Value = app
        .http
        .get(app.url("/v1/records?number=TOSL108"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let found = v["records"].as_array().unwrap();
    assert!(!found.is_empty() && found.len() < 3, "{v}");
    assert!(found.iter().all(|r| r["meta"]["number"] == "TOSL108"));
    let r = app
        .http
        .get(app.url("/v1/records?cursor=!!"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    app.stop().await;
}
