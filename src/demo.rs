//! `notarium demo`: the whole story on the embedded default, as a real HTTP client would live
//! it — organisations, invoices (EN 16931 and a Chinese e-invoice), a duplicate, a credit, a
//! grant, a receipt checked offline with the ledger verifier and the TSA verifier, a tampered
//! copy refused — printing each step in plain words with the URLs to open.
//!
//! Invoice numbers get a per-run suffix so the demo can run again on the same data directory
//! (a second run would otherwise meet its own duplicates).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::api::AppState;

/// The sample invoices the demo notarizes (public EN 16931 examples and a constructed 数电票).
const SAMPLES: &[(&str, &str, &[u8])] = &[
    (
        "EN 16931 UBL example 1",
        "application/xml",
        include_bytes!("../tests/data/invoices/ubl/en16931-ubl-example1.xml"),
    ),
    (
        "EN 16931 UBL example 2",
        "application/xml",
        include_bytes!("../tests/data/invoices/ubl/en16931-ubl-example2.xml"),
    ),
    (
        "EN 16931 CII example 4",
        "application/xml",
        include_bytes!("../tests/data/invoices/cii/en16931-cii-example4.xml"),
    ),
    (
        "EN 16931 CII rounding case",
        "application/xml",
        include_bytes!("../tests/data/invoices/cii/en16931-cii-rounding-issue.xml"),
    ),
    (
        "Chinese 数电票 (special VAT invoice)",
        "application/xml",
        include_bytes!("../tests/data/invoices/cn/shudian-special-2lines.xml"),
    ),
];

/// Errors of the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// An HTTP call failed.
    #[error("{step}: {detail}")]
    Step {
        /// Which step.
        step: String,
        /// What happened.
        detail: String,
    },
}

fn fail(step: &str, detail: impl std::fmt::Display) -> DemoError {
    DemoError::Step {
        step: step.into(),
        detail: detail.to_string(),
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(
        &self,
        step: &str,
        req: reqwest::RequestBuilder,
        want: u16,
    ) -> Result<Value, DemoError> {
        let r = req.send().await.map_err(|e| fail(step, e))?;
        let status = r.status().as_u16();
        let text = r.text().await.map_err(|e| fail(step, e))?;
        if status != want {
            return Err(fail(step, format!("HTTP {status}: {text}")));
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Replaces the invoice number so each run is new: UBL/CII first `ID`, 数电票 `EIid`.
fn renumber(body: &[u8], run: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(body).into_owned();
    // In CII the number is the ID of rsm:ExchangedDocument (earlier IDs name the guideline).
    let cii_doc = text.find("<rsm:ExchangedDocument>").unwrap_or(0);
    for (open, close, from) in [
        ("<EIid>", "</EIid>", 0),
        ("<cbc:ID>", "</cbc:ID>", 0),
        ("<ram:ID>", "</ram:ID>", cii_doc),
    ] {
        if let Some(s) = text[from..].find(open).map(|s| s + from) {
            let start = s + open.len();
            if let Some(e) = text[start..].find(close) {
                let old = &text[start..start + e];
                // 数电票 numbers are 20 digits: keep the length, vary the tail.
                let new = if open == "<EIid>" {
                    format!("{}{}", &old[..old.len().saturating_sub(run.len())], run)
                } else {
                    format!("{old}-{run}")
                };
                if open == "<EIid>" {
                    // The 数电票 repeats its number (TaxSupervisionInfo/InvoiceNumber).
                    return text
                        .replace(&format!(">{old}<"), &format!(">{new}<"))
                        .into_bytes();
                }
                return format!("{}{new}{}", &text[..start], &text[start + e..]).into_bytes();
            }
        }
    }
    body.to_vec()
}

fn say(step: &str, text: impl std::fmt::Display) {
    println!("\n== {step}\n   {text}");
}

/// Runs the story against a server at `base`, whose state is `state` (for the offline checks'
/// trust anchors: the notary root and the log key, which a court would get out of band).
pub async fn run_story(
    state: &Arc<AppState>,
    base: &str,
    admin_key: &str,
) -> Result<(), DemoError> {
    let c = Client {
        http: reqwest::Client::new(),
        base: base.to_string(),
    };
    let run = format!("{:08}", OffsetDateTimeNowNanos::get() % 100_000_000);

    say(
        "1. Organisations",
        "the operator registers an insurer, a court and an auditor",
    );
    let reg = |name: &str, role: &str| {
        c.http
            .post(c.url("/v1/orgs"))
            .bearer_auth(admin_key)
            .json(&json!({"name": name, "role": role, "tax_id": if role == "issuer" { Some("91440300100012316L") } else { None }}))
    };
    let insurer = c
        .call("register insurer", reg("Demo Insurance Co.", "issuer"), 201)
        .await?;
    let court = c
        .call(
            "register court",
            reg("Hangzhou Internet Court", "court"),
            201,
        )
        .await?;
    let auditor = c
        .call("register auditor", reg("Demo Audit LLP", "auditor"), 201)
        .await?;
    let ikey = insurer["api_key"].as_str().unwrap_or_default().to_string();
    let iid = insurer["org_id"].as_str().unwrap_or_default().to_string();
    let akey = auditor["api_key"].as_str().unwrap_or_default().to_string();
    println!(
        "   insurer {iid}\n   court   {}\n   auditor {}",
        court["org_id"], auditor["org_id"]
    );

    say(
        "2. Identity",
        "the insurer gets a certificate; the server keeps its key (custodial), encrypted at rest",
    );
    let cert = c
        .call(
            "certificate",
            c.http
                .post(c.url(&format!("/v1/orgs/{iid}/certificates")))
                .bearer_auth(&ikey)
                .json(&json!({"custodial": true})),
            201,
        )
        .await?;
    println!(
        "   certificate serial {} issued by the notarium Issuing CA ({})",
        cert["serial"],
        c.url("/v1/ca")
    );

    say(
        "3. Invoices",
        format!(
            "notarizing {} invoices (numbers suffixed with run id {run})",
            SAMPLES.len()
        ),
    );
    let mut receipts = Vec::new();
    for (name, ctype, body) in SAMPLES {
        let body = renumber(body, &run);
        let r = c
            .call(
                name,
                c.http
                    .post(c.url("/v1/invoices?store=true"))
                    .bearer_auth(&ikey)
                    .header("content-type", *ctype)
                    .body(body.clone()),
                201,
            )
            .await?;
        println!(
            "   {name}: record {} at log index {}, document sha256 {}…",
            r["record_id"].as_str().unwrap_or(""),
            r["log_index"],
            &r["document_sha256"].as_str().unwrap_or("")[..16]
        );
        receipts.push((body, r));
    }

    say("4. Duplicates", "submitting the first invoice again");
    let (first_body, first) = &receipts[0];
    let dup = c
        .call(
            "duplicate",
            c.http
                .post(c.url("/v1/invoices"))
                .bearer_auth(&ikey)
                .header("content-type", "application/xml")
                .body(first_body.clone()),
            409,
        )
        .await?;
    println!(
        "   refused with 409: {}",
        dup["detail"].as_str().unwrap_or("")
    );

    say(
        "5. Status history",
        "a partial credit (red-letter) of 50.00 on the first invoice, then a credit beyond its total",
    );
    let fid = first["record_id"].as_str().unwrap_or_default();
    let credit = c
        .call(
            "credit",
            c.http
                .post(c.url(&format!("/v1/invoices/{fid}/status")))
                .bearer_auth(&ikey)
                .json(&json!({"status": "credit", "amount": "50.00", "reason": "returned goods"})),
            201,
        )
        .await?;
    println!("   credit notarized at log index {}", credit["log_index"]);
    let over = c
        .call(
            "over-credit",
            c.http
                .post(c.url(&format!("/v1/invoices/{fid}/status")))
                .bearer_auth(&ikey)
                .json(&json!({"status": "credit", "amount": "100000.00"})),
            422,
        )
        .await?;
    println!(
        "   refused with 422: {}",
        over["detail"].as_str().unwrap_or("")
    );

    say(
        "6. Access",
        "the auditor sees nothing until the insurer grants access",
    );
    let url = c.url(&format!("/v1/records/{fid}"));
    c.call(
        "auditor before grant",
        c.http.get(&url).bearer_auth(&akey),
        404,
    )
    .await?;
    c.call(
        "grant",
        c.http
            .post(c.url("/v1/grants"))
            .bearer_auth(&ikey)
            .json(&json!({"grantee": auditor["org_id"]})),
        201,
    )
    .await?;
    let seen = c
        .call(
            "auditor after grant",
            c.http.get(&url).bearer_auth(&akey),
            200,
        )
        .await?;
    println!(
        "   404 before, 200 after; the record's history has {} entry(ies)",
        seen["history"].as_array().map(|h| h.len()).unwrap_or(0)
    );

    say(
        "7. Offline check",
        "a court checks the Chinese invoice's receipt with nothing but the notary root and the log key",
    );
    let (cn_body, cn) = &receipts[receipts.len() - 1];
    check_receipt(state, cn_body, cn).map_err(|e| fail("offline check", e))?;
    println!(
        "   entry names the document digest: ok\n   inclusion proof to the signed checkpoint: ok\n   RFC 3161 token over the document, chained to the notary root: ok"
    );
    let mut tampered = cn_body.clone();
    if let Some(b) = tampered.iter_mut().rev().find(|b| b.is_ascii_digit()) {
        *b = if *b == b'9' { b'0' } else { *b + 1 };
    }
    match check_receipt(state, &tampered, cn) {
        Ok(()) => return Err(fail("tamper check", "a tampered document passed")),
        Err(e) => println!("   a copy with one digit changed is refused: {e}"),
    }

    say(
        "8. Look around",
        format!(
            "log checkpoint: {}\n   log key:        {}\n   notary roots:   {}\n   TSA:            {} (openssl ts -query … | curl --data-binary @- -H 'content-type: application/timestamp-query')\n   metrics:        {}",
            c.url("/checkpoint"),
            c.url("/v1/log/key"),
            c.url("/v1/ca"),
            c.url("/tsa"),
            c.url("/metrics")
        ),
    );
    Ok(())
}

/// Checks a receipt offline against the document: entry digest, inclusion proof to the signed
/// checkpoint, and the RFC 3161 token chained to the notary root.
pub fn check_receipt(state: &AppState, document: &[u8], receipt: &Value) -> Result<(), String> {
    use sha2::{Digest, Sha256};
    let b64 = |k: &str| {
        B64.decode(receipt[k].as_str().unwrap_or_default())
            .map_err(|_| format!("{k} is not base64"))
    };
    let entry = crate::ledger::Entry::decode(&b64("entry")?).map_err(|e| e.to_string())?;
    let digest: [u8; 32] = Sha256::digest(document).into();
    if entry.document_sha256 != digest {
        return Err("the document's SHA-256 is not the one in the ledger entry".into());
    }
    let verifier =
        crate::ledger::Ed25519Verifier::from_vkey(&state.log_vkey).map_err(|e| e.to_string())?;
    let (cp, _) = crate::ledger::Checkpoint::open(
        receipt["checkpoint"]
            .as_str()
            .unwrap_or_default()
            .as_bytes(),
        &state.config.log_origin,
        &verifier,
    )
    .map_err(|e| format!("checkpoint: {e}"))?;
    let proof: Vec<[u8; 32]> = receipt["inclusion_proof"]
        .as_array()
        .ok_or("no inclusion proof")?
        .iter()
        .map(|h| {
            B64.decode(h.as_str().unwrap_or_default())
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or("bad proof hash")
        })
        .collect::<Result<_, _>>()?;
    let leaf = crate::ledger::leaf_hash(&b64("entry")?);
    crate::ledger::verify_inclusion(
        receipt["log_index"].as_u64().unwrap_or(u64::MAX),
        cp.size,
        &leaf,
        &proof,
        &cp.root,
    )
    .map_err(|e| format!("inclusion proof: {e}"))?;
    let mut trust = crate::timestamp::TrustStore::new();
    trust
        .add_root_der(state.pki.root.cert_der.clone())
        .map_err(|e| e.to_string())?;
    trust
        .add_intermediate_der(state.pki.issuing.cert_der.clone())
        .map_err(|e| e.to_string())?;
    crate::timestamp::verify_token(
        &b64("timestamp_token")?,
        crate::timestamp::HashAlgorithm::Sha256,
        &digest,
        &trust,
    )
    .map_err(|e| format!("token: {e}"))?;
    Ok(())
}

struct OffsetDateTimeNowNanos;

impl OffsetDateTimeNowNanos {
    fn get() -> u128 {
        time::OffsetDateTime::now_utc()
            .unix_timestamp_nanos()
            .unsigned_abs()
            / 1000
    }
}
