//! The log's public read surface: checkpoints, C2SP tiles, and RFC 9162 proofs.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::ledger::{TileResource, TlogProof, encode_bundle, parse_tile_path};
use crate::notary::log::LogError;
use crate::store::log as store_log;

impl From<LogError> for ApiError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::Proof(p) => ApiError::BadRequest(p.to_string()),
            LogError::Store(s) => s.into(),
            LogError::Empty => ApiError::NotFound("the log has no checkpoint yet".into()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

fn text(body: String, content_type: &'static str, cache: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// The latest durable state: (size, checkpoint note).
pub async fn latest(state: &AppState) -> Result<(u64, String), ApiError> {
    let conn = state.store.conn().await?;
    let st = store_log::state(&**conn).await?.ok_or(LogError::Empty)?;
    Ok((st.size, st.checkpoint))
}

/// `GET /checkpoint`: the latest signed checkpoint (C2SP tlog-checkpoint).
pub async fn checkpoint(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let (_, note) = latest(&state).await?;
    Ok(text(note, "text/plain; charset=utf-8", "no-cache"))
}

/// `GET /v1/log/key`: the log's verifier key.
pub async fn key(State(state): State<Arc<AppState>>) -> Response {
    text(
        format!("{}\n", state.log_vkey),
        "text/plain; charset=utf-8",
        "public, max-age=86400",
    )
}

/// `GET /tile/...`: C2SP tlog-tiles, hash tiles and entry bundles.
pub async fn tile(
    State(state): State<Arc<AppState>>,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    let resource =
        parse_tile_path(&format!("tile/{path}")).map_err(|e| ApiError::NotFound(e.to_string()))?;
    let conn = state.store.conn().await?;
    let size = store_log::state(&**conn)
        .await?
        .map(|s| s.size)
        .unwrap_or(0);
    let (tile, body) = match resource {
        TileResource::Hashes(t) => {
            let width = crate::ledger::tile_width(t.level, t.index, size);
            if width.is_none_or(|w| w < t.width) {
                return Err(ApiError::NotFound(format!(
                    "{} is beyond the tree",
                    t.path()
                )));
            }
            let rows = store_log::tiles(&**conn, &[t]).await?;
            let (_, data) = rows
                .into_iter()
                .next()
                .ok_or_else(|| ApiError::NotFound(format!("{} is not stored", t.path())))?;
            if data.len() < t.byte_len() {
                return Err(ApiError::NotFound(format!("{} is not stored", t.path())));
            }
            (t, data[..t.byte_len()].to_vec())
        }
        TileResource::Entries(t) => {
            let start = t.index * 256;
            let end = start + u64::from(t.width);
            if end > size {
                return Err(ApiError::NotFound(format!(
                    "{} is beyond the log",
                    t.entries_path()
                )));
            }
            let entries = store_log::entries(&**conn, start, end).await?;
            if entries.len() as u64 != end - start {
                return Err(ApiError::internal("entry rows missing"));
            }
            (t, encode_bundle(&entries).map_err(ApiError::internal)?)
        }
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    // Full tiles never change; partial ones are replaced by wider ones as the log grows.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if tile.is_full() {
            "public, max-age=31536000, immutable"
        } else {
            "public, max-age=60"
        }),
    );
    Ok(resp)
}

/// Query of `GET /v1/log/inclusion`.
#[derive(Debug, Deserialize)]
pub struct InclusionQuery {
    index: Option<u64>,
    hash: Option<String>,
    size: Option<u64>,
}

async fn resolve_size(state: &AppState, size: Option<u64>) -> Result<u64, ApiError> {
    let (current, _) = latest(state).await?;
    match size {
        None => Ok(current),
        Some(s) if s > current => Err(ApiError::BadRequest(format!(
            "size {s} is beyond the tree ({current} entries)"
        ))),
        Some(s) => Ok(s),
    }
}

/// `GET /v1/log/inclusion?index=|hash=&size=`.
pub async fn inclusion(
    State(state): State<Arc<AppState>>,
    Query(q): Query<InclusionQuery>,
) -> Result<Response, ApiError> {
    let size = resolve_size(&state, q.size).await?;
    let index = match (q.index, q.hash.as_deref()) {
        (Some(i), None) => i,
        (None, Some(h)) => {
            let leaf = B64
                .decode(h)
                .ok()
                .filter(|b| b.len() == 32)
                .ok_or_else(|| ApiError::BadRequest("hash must be base64 of 32 bytes".into()))?;
            let conn = state.store.conn().await?;
            store_log::index_of_leaf(&**conn, &leaf)
                .await?
                .ok_or_else(|| ApiError::NotFound("no entry with this leaf hash".into()))?
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of index or hash".into(),
            ));
        }
    };
    if index >= size {
        return Err(ApiError::BadRequest(format!(
            "index {index} is not in a tree of {size} entries"
        )));
    }
    let proof = state.log.inclusion_proof(&state.store, index, size).await?;
    let conn = state.store.conn().await?;
    let leaf = store_log::entries(&**conn, index, index + 1).await?;
    let leaf_hash = leaf.first().map(|e| crate::ledger::leaf_hash(e));
    Ok(Json(json!({
        "index": index,
        "size": size,
        "leaf_hash": leaf_hash.map(|h| B64.encode(h)),
        "proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// Query of `GET /v1/log/consistency`.
#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// `GET /v1/log/consistency?from=&to=`.
pub async fn consistency(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<Response, ApiError> {
    let to = resolve_size(&state, q.to).await?;
    if q.from > to {
        return Err(ApiError::BadRequest(format!("from {} > to {to}", q.from)));
    }
    let proof = state
        .log
        .consistency_proof(&state.store, q.from, to)
        .await?;
    Ok(Json(json!({
        "from": q.from,
        "to": to,
        "proof": proof.iter().map(|h| B64.encode(h)).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// Query of `GET /v1/log/proof`.
#[derive(Debug, Deserialize)]
pub struct ProofQuery {
    index: u64,
}

/// The C2SP tlog-proof of `index` against the latest checkpoint.
pub async fn tlog_proof(state: &AppState, index: u64) -> Result<String, ApiError> {
    let (size, note) = latest(state).await?;
    if index >= size {
        return Err(ApiError::BadRequest(format!(
            "index {index} is not in a tree of {size} entries"
        )));
    }
    let proof = state.log.inclusion_proof(&state.store, index, size).await?;
    Ok(TlogProof {
        extra: None,
        index,
        proof,
        checkpoint: note,
    }
    .to_text())
}

/// `GET /v1/log/proof?index=`: a C2SP tlog-proof.
pub async fn proof(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ProofQuery>,
) -> Result<Response, ApiError> {
    Ok(text(
        tlog_proof(&state, q.index).await?,
        "text/plain; charset=utf-8",
        "no-cache",
    ))
}
