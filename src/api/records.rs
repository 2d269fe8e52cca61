//! Records: one record with its history and current receipt, search, and grants.
//!
//! Access: an org sees its own records and those granted to it; anything else answers 404,
//! never 403, so a record's existence does not leak. The admin sees every record.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::store::orgs::Role;
use crate::store::records::{self, Record, Search};

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// JSON view of a record (without its proof).
pub fn record_json(r: &Record) -> Value {
    json!({
        "record_id": r.id,
        "kind": r.kind,
        "org_id": r.org_id,
        "refers_to": r.refers_to,
        "log_index": r.log_index,
        "leaf_hash": B64.encode(&r.leaf_hash),
        "document_sha256": hex::encode(&r.document_sha256),
        "canonical_sha256": r.canonical_sha256.as_ref().map(hex::encode),
        "timestamp_token": B64.encode(&r.token),
        "signature": B64.encode(&r.signature),
        "signer": r.signer,
        "cert_fingerprint": hex::encode(&r.cert_fingerprint),
        "document_stored": r.has_document,
        "meta": r.meta,
        "notarized_at": rfc3339(r.created_at),
    })
}

/// Loads a record the caller may see, else 404.
pub async fn visible_record(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
) -> Result<Record, ApiError> {
    let conn = state.store.conn().await?;
    let hidden = || ApiError::NotFound("no such record".into());
    let record = records::get(&**conn, id).await?.ok_or_else(hidden)?;
    match caller {
        Caller::Admin => Ok(record),
        Caller::Org(o) => {
            if records::may_see(&**conn, o.id, &record).await? {
                Ok(record)
            } else {
                Err(hidden())
            }
        }
    }
}

/// `GET /v1/records/{id}`: the record, its history in log order, and its current receipt
/// (inclusion proof to the latest checkpoint).
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let record = visible_record(&state, &caller, id).await?;
    let conn = state.store.conn().await?;
    let history = records::history(&**conn, id).await?;
    drop(conn);
    let (size, checkpoint) = super::log::latest(&state).await?;
    let proof = state
        .log
        .inclusion_proof(&state.store, record.log_index, size)
        .await?;
    Ok(Json(json!({
        "record": record_json(&record),
        "history": history.iter().map(record_json).collect::<Vec<_>>(),
        "receipt": {
            "log_index": record.log_index,
            "tree_size": size,
            "inclusion_proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
            "checkpoint": checkpoint,
        },
    }))
    .into_response())
}

/// Query of `GET /v1/records`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    digest: Option<String>,
    number: Option<String>,
    seller: Option<String>,
    org: Option<Uuid>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

pub(super) fn parse_time(name: &str, v: Option<&str>) -> Result<Option<OffsetDateTime>, ApiError> {
    v.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339)
            .map_err(|_| ApiError::BadRequest(format!("{name} must be an RFC 3339 time")))
    })
    .transpose()
}

fn encode_cursor(r: &Record) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}|{}", r.created_at.unix_timestamp_nanos(), r.id))
}

fn decode_cursor(c: &str) -> Result<(OffsetDateTime, Uuid), ApiError> {
    let bad = || ApiError::BadRequest("invalid cursor".into());
    let text = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?;
    let text = String::from_utf8(text).map_err(|_| bad())?;
    let (nanos, id) = text.split_once('|').ok_or_else(bad)?;
    let nanos: i128 = nanos.parse().map_err(|_| bad())?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| bad())?;
    Ok((at, id.parse().map_err(|_| bad())?))
}

/// `GET /v1/records?digest=&number=&seller=&org=&from=&to=&cursor=&limit=`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let viewer = match &caller {
        Caller::Admin => None,
        Caller::Org(o) => Some(o.id),
    };
    let digest = q
        .digest
        .as_deref()
        .map(|d| {
            hex::decode(d)
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| ApiError::BadRequest("digest must be 64 hex characters".into()))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let search = Search {
        digest,
        number: q.number,
        seller: q.seller,
        org: q.org,
        from: parse_time("from", q.from.as_deref())?,
        to: parse_time("to", q.to.as_deref())?,
        after: q.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: limit + 1,
    };
    let conn = state.store.conn().await?;
    let mut rows = records::search(&**conn, viewer, &search).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(json!({
        "records": rows.iter().map(record_json).collect::<Vec<_>>(),
        "next_cursor": next,
    }))
    .into_response())
}

/// Body of `POST /v1/grants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    /// The auditor or court.
    pub grantee: Uuid,
    /// Time range of the records granted.
    #[serde(default)]
    pub scope: GrantScope,
}

/// The records a grant covers, by notarization time.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GrantScope {
    /// From (RFC 3339), open if absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub from: Option<OffsetDateTime>,
    /// To (RFC 3339), open if absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub to: Option<OffsetDateTime>,
}

/// `POST /v1/grants` (issuer): let an auditor or court see its records.
pub async fn grant(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let org = caller.org_with_role(Role::Issuer)?;
    let g: NewGrant = super::json_body(&body)?;
    let conn = state.store.conn().await?;
    let grantee = crate::store::orgs::get_org(&**conn, g.grantee)
        .await
        .map_err(|_| ApiError::unprocessable("bad-grant", "no such grantee organisation"))?;
    if !matches!(grantee.role, Role::Auditor | Role::Court) {
        return Err(ApiError::unprocessable(
            "bad-grant",
            "grants go to auditors and courts",
        ));
    }
    if let (Some(f), Some(t)) = (g.scope.from, g.scope.to)
        && f > t
    {
        return Err(ApiError::unprocessable(
            "bad-grant",
            "scope.from is after scope.to",
        ));
    }
    let created =
        records::create_grant(&**conn, org.id, g.grantee, g.scope.from, g.scope.to).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `DELETE /v1/grants/{id}` (the issuer that made it).
pub async fn withdraw(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let org = caller.org_with_role(Role::Issuer)?;
    let conn = state.store.conn().await?;
    if records::withdraw_grant(&**conn, org.id, id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound("no such grant".into()))
    }
}
