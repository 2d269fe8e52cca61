//! Evidence: `GET /v1/records/{id}/evidence` (the bundle), `GET /records/{id}/certificate`
//! (the printable evidence certificate), and the `/verify` page.
//!
//! Each entry of a bundle carries the inclusion proof to the checkpoint its batch produced, and
//! a consistency proof from that checkpoint to the latest one, which the bundle includes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::evidence::{
    BundleInput, DocumentFile, EntryInput, RecordSummary, VerifyOptions, build_bundle,
    certificate_data, render_certificate, verify_bundle,
};
use crate::ledger::TlogProof;
use crate::store::records::{self, Record};
use crate::store::{log as store_log, orgs};

fn extension_of(bytes: &[u8]) -> &'static str {
    let t = bytes.trim_ascii_start();
    if t.starts_with(b"%PDF") {
        "pdf"
    } else if t.starts_with(b"{") {
        "json"
    } else {
        "xml"
    }
}

async fn document_of(state: &AppState, r: &Record) -> Result<Option<DocumentFile>, ApiError> {
    if !r.has_document {
        return Ok(None);
    }
    let conn = state.store.conn().await?;
    let Some(sealed) = records::sealed_document(&**conn, r.id).await? else {
        return Ok(None);
    };
    let bytes = state
        .master_key
        .open(&crate::notary::notarize::document_label(r.id), &sealed)
        .map_err(ApiError::from)?;
    Ok(Some(DocumentFile {
        extension: extension_of(&bytes).into(),
        bytes: bytes.to_vec(),
    }))
}

async fn entry_input(
    state: &AppState,
    r: &Record,
    latest_size: u64,
    trusted: Option<&(u64, String)>,
    own_document: bool,
) -> Result<EntryInput, ApiError> {
    let conn = state.store.conn().await?;
    let entry = store_log::entries(&**conn, r.log_index, r.log_index + 1)
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal(format!("entry {} missing", r.log_index)))?;
    let cert = orgs::certificate_by_fingerprint(&**conn, &r.cert_fingerprint)
        .await?
        .ok_or_else(|| ApiError::internal("signer certificate missing"))?;
    // The checkpoint the entry's batch produced: the first at a size beyond its index.
    let row = conn
        .query_opt(
            "SELECT size, note FROM log_checkpoints WHERE size > $1 ORDER BY size LIMIT 1",
            &[&(r.log_index as i64)],
        )
        .await
        .map_err(crate::store::StoreError::from)?
        .ok_or_else(|| ApiError::internal("no checkpoint covers the entry"))?;
    drop(conn);
    let (size, note): (i64, String) = (row.get(0), row.get(1));
    // With witnesses required, prove to the latest checkpoint that meets the policy (the batch's
    // own checkpoint may never have been cosigned); otherwise to the batch's checkpoint, with a
    // consistency proof to the latest.
    let (size, note, latest_size) = match trusted {
        Some((tsize, tnote)) if *tsize > r.log_index => (*tsize, tnote.clone(), *tsize),
        _ => (size as u64, note, latest_size),
    };
    let proof = state
        .log
        .inclusion_proof(&state.store, r.log_index, size)
        .await?;
    let consistency = if size < latest_size {
        Some(
            state
                .log
                .consistency_proof(&state.store, size, latest_size)
                .await?,
        )
    } else {
        None
    };
    let mut trust = crate::timestamp::TrustStore::new();
    trust
        .add_root_der(state.pki.root.cert_der.clone())
        .and_then(|_| trust.add_intermediate_der(state.pki.issuing.cert_der.clone()))
        .map_err(ApiError::internal)?;
    let verified = crate::timestamp::verify_token(
        &r.token,
        crate::timestamp::HashAlgorithm::Sha256,
        &r.document_sha256,
        &trust,
    )
    .map_err(|e| ApiError::internal(format!("stored token: {e}")))?;
    let document = if own_document {
        document_of(state, r).await?
    } else {
        None
    };
    Ok(EntryInput {
        entry,
        certificate_der: cert.cert_der,
        chain_der: vec![state.pki.issuing.cert_der.clone()],
        token_der: r.token.clone(),
        token_time: verified.gen_time,
        proof: TlogProof {
            extra: None,
            index: r.log_index,
            proof,
            checkpoint: note,
        }
        .to_text(),
        consistency,
        document,
    })
}

/// Collects a record's evidence (the caller has been checked already).
pub async fn bundle_input(state: &AppState, record: &Record) -> Result<BundleInput, ApiError> {
    let conn = state.store.conn().await?;
    let history = records::history(&**conn, record.id).await?;
    let org = orgs::get_org(&**conn, record.org_id).await?;
    drop(conn);
    let (latest_size, latest_note) = super::log::latest(state).await?;
    let trusted = if state.witnesses.policy().threshold() > 0 {
        crate::notary::witnesses::latest_trusted_checkpoint(&state.store, &state.witnesses)
            .await
            .map_err(ApiError::internal)?
            .map(|t| (t.size, t.note))
    } else {
        None
    };
    let mut entries = vec![entry_input(state, record, latest_size, trusted.as_ref(), false).await?];
    for h in &history {
        entries.push(entry_input(state, h, latest_size, trusted.as_ref(), true).await?);
    }
    let needs_later = entries.iter().any(|e| e.consistency.is_some());
    let document_sha256: [u8; 32] = record
        .document_sha256
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::internal("stored digest is not 32 bytes"))?;
    Ok(BundleInput {
        record: RecordSummary {
            id: record.id,
            kind: record.kind.clone(),
            org_id: record.org_id,
            org_name: org.name,
            document_sha256,
        },
        document: document_of(state, record).await?,
        entries,
        roots_der: vec![state.pki.root.cert_der.clone()],
        log_vkey: state.log_vkey.clone(),
        witness_vkeys: super::log::witness_policy(state).1,
        witness_threshold: super::log::witness_policy(state).0,
        crl_der: Some(super::ca::current_crl(state).await?),
        later_checkpoint: needs_later.then_some(latest_note),
        generated_at: OffsetDateTime::now_utc(),
    })
}

/// `GET /v1/records/{id}/evidence`: the evidence bundle (zip).
pub async fn bundle(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let record = super::records::visible_record(&state, &caller, id).await?;
    let input = bundle_input(&state, &record).await?;
    let zip = build_bundle(&input).map_err(ApiError::internal)?;
    let mut resp = zip.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"evidence-{id}.zip\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `GET /records/{id}/certificate`: the printable evidence certificate (HTML).
pub async fn certificate(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let record = super::records::visible_record(&state, &caller, id).await?;
    let input = bundle_input(&state, &record).await?;
    let data = certificate_data(&input).map_err(ApiError::internal)?;
    Ok(Html(render_certificate(&data)).into_response())
}

const VERIFY_PAGE: &str = include_str!("../../templates/verify.html");

/// `GET /verify`: the page where a court clerk drops a bundle (and optionally the document).
pub async fn verify_page() -> Html<&'static str> {
    Html(VERIFY_PAGE)
}

/// `POST /verify` (multipart `bundle`, optional `document`): the same checks as
/// `notarium verify`, against this notary's roots and log key — never its database.
pub async fn verify_upload(
    State(state): State<Arc<AppState>>,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    let mut bundle: Option<Bytes> = None;
    let mut document: Option<Bytes> = None;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::BadRequest(format!("multipart: {e}")))?
    {
        let name = field.name().unwrap_or("").to_string();
        let data = field
            .bytes()
            .await
            .map_err(|e| ApiError::BadRequest(format!("multipart: {e}")))?;
        match name.as_str() {
            "bundle" => bundle = Some(data),
            "document" if !data.is_empty() => document = Some(data),
            _ => {}
        }
    }
    let bundle = bundle.ok_or_else(|| ApiError::BadRequest("no `bundle` file".into()))?;
    let mut opts = VerifyOptions::new(OffsetDateTime::now_utc());
    opts.document = document.map(|d| d.to_vec());
    opts.trust_roots = Some(vec![state.pki.root.cert_der.clone()]);
    opts.log_key = Some(state.log_vkey.clone());
    let (k, keys) = super::log::witness_policy(&state);
    opts.witness_policy = Some(
        crate::evidence::parse_policy(crate::evidence::policy_text(k, &keys).as_bytes())
            .map_err(ApiError::internal)?,
    );
    let report = tokio::task::spawn_blocking(move || verify_bundle(&bundle, &opts))
        .await
        .map_err(ApiError::internal)?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        report.to_json(),
    )
        .into_response())
}
