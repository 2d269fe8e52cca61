//! Contracts: `POST /v1/contracts` (notarize a contract PDF and name the parties),
//! `POST /v1/contracts/{id}/signatures` (a party signs), `GET /v1/contracts/{id}` (status,
//! parties, signatures, receipts), `GET /v1/contracts/{id}/document` (the PDF as submitted)
//! and `GET /v1/contracts/{id}/pdf` (the executed PDF with every PAdES signature).
//!
//! Access: the submitter, the parties and their grantees see a contract; anyone else gets
//! 404, so its existence does not leak. Among those who see it, only a party may sign:
//! anyone else gets 403.

use std::process::Command;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::auth::Caller;
use super::records::record_json;
use super::{ApiError, AppState};
use crate::documents::contract::{
    ContractError, INSPECTOR_SUBCOMMAND, IntakeLimits, PdfInfo, inspect_pdf_isolated,
    inspect_pdf_with_command,
};
use crate::ledger::EntryKind;
use crate::notary::contract::{
    self as flow, Contract, ContractFlowError, execute_if_complete, signature_key,
};
use crate::notary::notarize::{Notarize, Notarized, notarize};
use crate::store::orgs::{self, Role};
use crate::store::records::Record;
use crate::timestamp::{HashAlgorithm, TrustStore, verify_token};

/// Most parties one contract may name.
pub const MAX_PARTIES: usize = 32;
/// Longest title kept, in characters.
const MAX_TITLE: usize = 200;
/// Room for the multipart envelope and the small fields beside the PDF.
pub const MULTIPART_SLACK: usize = 64 * 1024;

impl From<ContractFlowError> for ApiError {
    fn from(e: ContractFlowError) -> Self {
        match e {
            ContractFlowError::Notarize(n) => n.into(),
            ContractFlowError::Store(s) => s.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// The refusal of a PDF at intake: 413 for size, 500 when the inspector itself failed,
/// else 422 `invalid-pdf` with a stable `reason`.
fn intake_refusal(e: ContractError) -> ApiError {
    let reason = match &e {
        ContractError::TooLarge { .. } => return ApiError::PayloadTooLarge(e.to_string()),
        ContractError::Inspector(_) => return ApiError::Internal(e.to_string()),
        ContractError::NotPdf => "not-pdf",
        ContractError::Truncated => "truncated",
        ContractError::Encrypted => "encrypted",
        ContractError::TooManyPages(_) => "too-many-pages",
        ContractError::ParserPanic => "parser-failed",
        ContractError::Timeout(_) => "timeout",
        ContractError::ResourceLimit => "resource-limit",
        ContractError::Unsignable(_) => "unsignable",
        _ => "unreadable",
    };
    ApiError::Unprocessable {
        slug: "invalid-pdf",
        detail: e.to_string(),
        extra: Some(json!({ "reason": reason })),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// Printable text of at most `max` characters, `None` when nothing is left.
fn clean(s: &str, max: usize) -> Option<String> {
    let t: String = s
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect();
    (!t.is_empty()).then_some(t)
}

/// Party ids from `parties` values: comma- or whitespace-separated, repeated fields
/// allowed; order kept, repeats dropped.
fn parse_parties(values: &[String]) -> Result<Vec<Uuid>, ApiError> {
    let mut out: Vec<Uuid> = Vec::new();
    for v in values {
        for token in v.split(|c: char| c == ',' || c.is_whitespace()) {
            if token.is_empty() {
                continue;
            }
            let id: Uuid = token.parse().map_err(|_| {
                ApiError::unprocessable("bad-parties", format!("`{token}` is not an org id"))
            })?;
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    if out.is_empty() {
        return Err(ApiError::unprocessable(
            "bad-parties",
            "name at least one party (`parties`: org ids)",
        ));
    }
    if out.len() > MAX_PARTIES {
        return Err(ApiError::unprocessable(
            "bad-parties",
            format!("at most {MAX_PARTIES} parties"),
        ));
    }
    Ok(out)
}

/// The multipart form of `POST /v1/contracts`.
struct Submission {
    document: Bytes,
    parties: Vec<String>,
    title: Option<String>,
}

async fn read_form(mut form: Multipart) -> Result<Submission, ApiError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(e.body_text())
        } else {
            ApiError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
        }
    };
    let mut document = None;
    let mut parties = Vec::new();
    let mut title = None;
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "document" => {
                if document.is_some() {
                    return Err(ApiError::BadRequest("one `document` per contract".into()));
                }
                document = Some(field.bytes().await.map_err(bad)?);
            }
            "parties" => parties.push(field.text().await.map_err(bad)?),
            "title" => title = Some(field.text().await.map_err(bad)?),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown multipart field `{other}` (expected document, parties, title)"
                )));
            }
        }
    }
    let document = document.ok_or_else(|| {
        ApiError::BadRequest("the multipart field `document` (the PDF) is missing".into())
    })?;
    Ok(Submission {
        document,
        parties,
        title,
    })
}

/// Runs the isolated inspector on `pdf` (bounded in number by `pdf_inspections`).
async fn inspect(state: &AppState, pdf: Bytes) -> Result<PdfInfo, ApiError> {
    let _permit = state
        .pdf_inspections
        .acquire()
        .await
        .map_err(ApiError::internal)?;
    let limits = IntakeLimits {
        max_bytes: state.config.contract_max_bytes,
        ..IntakeLimits::default()
    };
    let inspector = state.config.pdf_inspector.clone();
    tokio::task::spawn_blocking(move || match inspector {
        Some(exe) => {
            let mut command = Command::new(exe);
            command.arg(INSPECTOR_SUBCOMMAND);
            inspect_pdf_with_command(command, &pdf, &limits)
        }
        None => inspect_pdf_isolated(&pdf, &limits),
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(intake_refusal)
}

fn x_signature(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("x-signature")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::unprocessable("bad-signature", "X-Signature is not ASCII"))
        })
        .transpose()
}

/// `POST /v1/contracts` (issuer): multipart `document` (the PDF), `parties` (org ids,
/// comma-separated or repeated), optional `title`; `X-Signature` as for invoices (the
/// org's signature over the PDF bytes), else custodial. Answers 201 with the receipt, the
/// contract id and its status.
pub async fn submit(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    headers: HeaderMap,
    form: Multipart,
) -> Result<Response, ApiError> {
    let org = caller.org_with_role(Role::Issuer)?.clone();
    let x_sig = x_signature(&headers)?.map(str::to_string);
    let form = read_form(form).await?;
    let parties = parse_parties(&form.parties)?;
    let conn = state.store.conn().await?;
    let mut party_names = Vec::with_capacity(parties.len());
    for p in &parties {
        let party = orgs::get_org(&**conn, *p)
            .await
            .map_err(|_| ApiError::unprocessable("bad-parties", format!("no organisation {p}")))?;
        if party.role != Role::Issuer {
            return Err(ApiError::unprocessable(
                "bad-parties",
                format!(
                    "organisation {p} is a {}, not an issuer",
                    party.role.as_str()
                ),
            ));
        }
        party_names.push(party.name);
    }
    drop(conn);

    let info = inspect(&state, form.document.clone()).await?;
    if info.encrypted {
        return Err(intake_refusal(ContractError::Encrypted));
    }
    let title = form
        .title
        .as_deref()
        .and_then(|t| clean(t, MAX_TITLE))
        .or_else(|| info.title.as_deref().and_then(|t| clean(t, MAX_TITLE)));
    let meta = json!({
        "parties": parties,
        "title": title,
        "page_count": info.page_count,
        "pdf_version": info.version,
        "size": form.document.len(),
        "info": {
            "title": info.title,
            "author": info.author,
            "producer": info.producer,
            "creation_date": info.creation_date,
            "modification_date": info.modification_date,
        },
        "already_signed": info.has_signatures(),
    });
    let detail = format!("contract {}", title.as_deref().unwrap_or("(untitled)"));
    let result = notarize(
        &state,
        Notarize {
            kind: EntryKind::Contract,
            org_id: org.id,
            body: &form.document,
            x_signature: x_sig.as_deref(),
            canonical_sha256: None,
            unique_key: None,
            refers_to: None,
            detail: clean(&detail, MAX_TITLE + 16).unwrap_or_default(),
            meta,
            store_document: true,
            check: None,
        },
    )
    .await?;
    match result {
        Notarized::Receipt(r) => {
            let mut body = serde_json::to_value(&*r).map_err(ApiError::internal)?;
            body["contract_id"] = json!(r.record_id);
            body["status"] = json!("awaiting-signatures");
            body["title"] = json!(title);
            body["parties"] = parties
                .iter()
                .zip(&party_names)
                .map(|(id, name)| json!({"org_id": id, "name": name}))
                .collect();
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Notarized::Duplicate { record_id, .. } => Err(ApiError::Conflict {
            detail: format!("already notarized as record {record_id}"),
            extra: Some(json!({ "record_id": record_id })),
        }),
        Notarized::Refused(reason) => Err(ApiError::unprocessable("refused", reason)),
    }
}

/// Body of `POST /v1/contracts/{id}/signatures`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// Base64 of the party's DER ECDSA P-256 / SHA-256 signature over the contract PDF's
    /// bytes as submitted (`GET /v1/contracts/{id}/document`).
    pub signature: Option<String>,
    /// The server signs with the key it keeps for the party.
    #[serde(default)]
    pub custodial: bool,
}

/// The contract the caller may see, else 404.
async fn visible(state: &AppState, caller: &Caller, id: Uuid) -> Result<Contract, ApiError> {
    let hidden = || ApiError::NotFound("no such contract".into());
    let contract = flow::load(state, id).await?.ok_or_else(hidden)?;
    match caller {
        Caller::Admin => Ok(contract),
        Caller::Org(o) if flow::may_see(state, o.id, &contract).await? => Ok(contract),
        Caller::Org(_) => Err(hidden()),
    }
}

/// Executes a fully signed contract that is not executed yet; a failure is logged and
/// leaves it for the next read to retry.
async fn settle(state: &Arc<AppState>, contract: Contract) -> Contract {
    if contract.executed.is_some() || !contract.all_signed() {
        return contract;
    }
    match execute_if_complete(state, &contract).await {
        Ok(executed) => Contract {
            executed,
            ..contract
        },
        Err(e) => {
            tracing::error!(contract = %contract.id(), error = %e, "contract execution failed; retried on the next read");
            contract
        }
    }
}

/// `POST /v1/contracts/{id}/signatures` (a party): JSON `{"signature": base64}` (own key)
/// or `{"custodial": true}`. Answers 201 with the signature's receipt and the contract's
/// status; 403 for a non-party, 409 when the party already signed, 422 for a signature
/// that does not verify over the PDF.
pub async fn sign(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let org = caller.org()?.clone();
    let contract = visible(&state, &caller, id).await?;
    if !contract.is_party(org.id) {
        return Err(ApiError::Forbidden(
            "only a party named in the contract may sign it".into(),
        ));
    }
    let req: SignRequest = super::json_body(&body)?;
    let x_sig = match (req.signature, req.custodial) {
        (Some(s), false) => Some(s),
        (None, true) => None,
        _ => {
            return Err(ApiError::BadRequest(
                "give either `signature` (base64 DER ECDSA over the PDF) or `custodial: true`"
                    .into(),
            ));
        }
    };
    if let Some(done) = contract.signature_of(org.id) {
        return Err(already_signed(done.id));
    }
    let pdf = flow::open_document(&state, id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("contract {id} has no stored document")))?;
    let result = notarize(
        &state,
        Notarize {
            kind: EntryKind::ContractSignature,
            org_id: org.id,
            body: &pdf,
            x_signature: x_sig.as_deref(),
            canonical_sha256: None,
            unique_key: Some(signature_key(id, org.id)),
            refers_to: Some(id),
            detail: format!("signs contract {id}"),
            meta: json!({ "contract": id, "party_name": org.name }),
            store_document: false,
            check: None,
        },
    )
    .await?;
    let receipt = match result {
        Notarized::Receipt(r) => r,
        Notarized::Duplicate { record_id, .. } => return Err(already_signed(record_id)),
        Notarized::Refused(reason) => return Err(ApiError::unprocessable("refused", reason)),
    };
    // Read back after our commit: of two racing last signatures, the later commit sees both.
    let contract = flow::load(&state, id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("contract {id} vanished")))?;
    let contract = settle(&state, contract).await;
    let mut out = serde_json::to_value(&*receipt).map_err(ApiError::internal)?;
    out["contract_id"] = json!(id);
    out["contract_status"] = json!(contract.status());
    out["executed"] = contract.executed.as_ref().map_or(Value::Null, |e| {
        json!({"record_id": e.id, "log_index": e.log_index, "pdf_sha256": hex::encode(&e.document_sha256)})
    });
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

fn already_signed(record_id: Uuid) -> ApiError {
    ApiError::Conflict {
        detail: format!("this party already signed the contract (record {record_id})"),
        extra: Some(json!({ "record_id": record_id })),
    }
}

/// The genTime of one of our tokens over `digest`, checked against our own roots.
fn token_time(state: &AppState, token: &[u8], digest: &[u8]) -> Option<OffsetDateTime> {
    let mut trust = TrustStore::new();
    trust.add_root_der(state.pki.root.cert_der.clone()).ok()?;
    trust
        .add_intermediate_der(state.pki.issuing.cert_der.clone())
        .ok()?;
    trust
        .add_intermediate_der(state.tsa.certificate_der().to_vec())
        .ok()?;
    verify_token(token, HashAlgorithm::Sha256, digest, &trust)
        .ok()
        .map(|t| t.gen_time)
}

/// A record with its receipt: the inclusion proof to the checkpoint of `size`.
async fn with_receipt(
    state: &AppState,
    r: &Record,
    size: u64,
    checkpoint: &str,
) -> Result<Value, ApiError> {
    let proof = state
        .log
        .inclusion_proof(&state.store, r.log_index, size)
        .await?;
    let mut v = record_json(r);
    v["time_stamped_at"] = json!(token_time(state, &r.token, &r.document_sha256).map(rfc3339));
    v["receipt"] = json!({
        "log_index": r.log_index,
        "leaf_hash": B64.encode(&r.leaf_hash),
        "tree_size": size,
        "inclusion_proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
        "checkpoint": checkpoint,
    });
    Ok(v)
}

/// `GET /v1/contracts/{id}` (submitter, parties, their grantees): status, parties and who
/// signed when (the time-stamp's time), and every record with its receipt to the latest
/// checkpoint.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let contract = visible(&state, &caller, id).await?;
    let contract = settle(&state, contract).await;
    let (size, checkpoint) = super::log::latest(&state).await?;
    let conn = state.store.conn().await?;
    let mut parties = Vec::with_capacity(contract.parties.len());
    for p in &contract.parties {
        let name = orgs::get_org(&**conn, *p).await.ok().map(|o| o.name);
        let signed = contract.signature_of(*p);
        parties.push(json!({
            "org_id": p,
            "name": name,
            "signed": signed.is_some(),
            "signed_at": signed.and_then(|s| token_time(&state, &s.token, &s.document_sha256)).map(rfc3339),
            "signer": signed.map(|s| s.signer.clone()),
            "signature_record": signed.map(|s| s.id),
        }));
    }
    drop(conn);
    let mut signatures = Vec::with_capacity(contract.signatures.len());
    for s in &contract.signatures {
        signatures.push(with_receipt(&state, s, size, &checkpoint).await?);
    }
    let executed = match &contract.executed {
        Some(e) => Some(with_receipt(&state, e, size, &checkpoint).await?),
        None => None,
    };
    let meta = &contract.record.meta;
    Ok(Json(json!({
        "contract_id": id,
        "status": contract.status(),
        "title": meta["title"],
        "submitter": contract.record.org_id,
        "document_sha256": hex::encode(&contract.record.document_sha256),
        "size": meta["size"],
        "page_count": meta["page_count"],
        "pdf_version": meta["pdf_version"],
        "info": meta["info"],
        "parties": parties,
        "contract": with_receipt(&state, &contract.record, size, &checkpoint).await?,
        "signatures": signatures,
        "executed": executed,
    }))
    .into_response())
}

fn pdf_response(bytes: Vec<u8>, filename: &str) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// `GET /v1/contracts/{id}/document`: the PDF as submitted (what parties sign).
pub async fn document(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    visible(&state, &caller, id).await?;
    let pdf = flow::open_document(&state, id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("contract {id} has no stored document")))?;
    Ok(pdf_response(pdf, &format!("contract-{id}.pdf")))
}

/// `GET /v1/contracts/{id}/pdf`: once executed, the PDF with one PAdES B-T signature per
/// party and the notary seal's (always the same bytes: they are the executed entry's
/// document); 409 before.
pub async fn signed_pdf(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let contract = visible(&state, &caller, id).await?;
    let contract = settle(&state, contract).await;
    let Some(executed) = &contract.executed else {
        let signed = contract
            .parties
            .iter()
            .filter(|p| contract.signature_of(**p).is_some())
            .count();
        return Err(ApiError::Conflict {
            detail: format!(
                "the contract is not executed yet: {signed} of {} parties signed",
                contract.parties.len()
            ),
            extra: Some(json!({ "status": contract.status() })),
        });
    };
    let pdf = flow::open_document(&state, executed.id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("execution {} has no document", executed.id)))?;
    Ok(pdf_response(pdf, &format!("contract-{id}-signed.pdf")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parties_are_comma_or_space_separated_and_repeatable() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let got = parse_parties(&[format!("{a}, {b}"), format!("{b}")]).unwrap();
        assert_eq!(got, [a, b]);
        let got = parse_parties(&[format!("{b}\n{a}")]).unwrap();
        assert_eq!(got, [b, a]);
        for bad in [vec![], vec![" , ".to_string()], vec!["nope".to_string()]] {
            assert!(matches!(
                parse_parties(&bad),
                Err(ApiError::Unprocessable {
                    slug: "bad-parties",
                    ..
                })
            ));
        }
        let many: Vec<String> = (0..=MAX_PARTIES as u128)
            .map(|i| Uuid::from_u128(i + 10).to_string())
            .collect();
        assert!(parse_parties(&many).is_err());
    }

    #[test]
    fn intake_refusals_map_to_stable_reasons() {
        let reason = |e: ContractError| match intake_refusal(e) {
            ApiError::Unprocessable {
                slug: "invalid-pdf",
                extra: Some(x),
                ..
            } => x["reason"].as_str().unwrap().to_string(),
            other => format!("{other:?}"),
        };
        assert_eq!(reason(ContractError::NotPdf), "not-pdf");
        assert_eq!(reason(ContractError::Truncated), "truncated");
        assert_eq!(reason(ContractError::Encrypted), "encrypted");
        assert_eq!(reason(ContractError::ParserPanic), "parser-failed");
        assert_eq!(reason(ContractError::ResourceLimit), "resource-limit");
        assert_eq!(reason(ContractError::Unreadable("x".into())), "unreadable");
        assert!(matches!(
            intake_refusal(ContractError::TooLarge { size: 2, limit: 1 }),
            ApiError::PayloadTooLarge(_)
        ));
        assert!(matches!(
            intake_refusal(ContractError::Inspector("gone".into())),
            ApiError::Internal(_)
        ));
    }

    #[test]
    fn titles_are_trimmed_printable_and_bounded() {
        assert_eq!(clean("  Lease\u{7} ", 10).as_deref(), Some("Lease"));
        assert_eq!(clean(" \n ", 10), None);
        assert_eq!(clean(&"x".repeat(300), MAX_TITLE).unwrap().len(), MAX_TITLE);
    }
}
