//! `POST /tsa`: the RFC 3161 time-stamp protocol over HTTP, and `GET /v1/tsa/certificate`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::identity::pki::pem_cert;
use crate::timestamp::{parse_request, rejection_response};

/// Content type of a time-stamp query.
pub const QUERY_TYPE: &str = "application/timestamp-query";
/// Content type of a time-stamp reply.
pub const REPLY_TYPE: &str = "application/timestamp-reply";

fn reply(der: Vec<u8>) -> Response {
    let mut resp = der.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(REPLY_TYPE));
    resp
}

/// `POST /tsa`. Malformed requests get a `rejection` reply with the right PKIFailureInfo
/// (HTTP 200, as RFC 3161 section 3.4 has it), never a 500.
pub async fn timestamp(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ctype.starts_with(QUERY_TYPE) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "POST /tsa takes {QUERY_TYPE}, not `{ctype}`"
        )));
    }
    if let Some(limiter) = &state.tsa_limiter
        && limiter.check_key(&peer.ip()).is_err()
    {
        return Err(ApiError::RateLimited {
            detail: "too many time-stamp requests from this address".into(),
            retry_after: 1,
        });
    }
    let tsa = &state.tsa;
    match parse_request(&body, tsa.policies()) {
        Ok(req) => {
            let der = tsa
                .grant(&state.store, &req)
                .await
                .map_err(ApiError::internal)?;
            state.metrics.inc("tsa_tokens");
            Ok(reply(der))
        }
        Err(e) => {
            state.metrics.inc("tsa_rejections");
            let der =
                rejection_response(e.failure_info(), &e.to_string()).map_err(ApiError::internal)?;
            Ok(reply(der))
        }
    }
}

/// `GET /v1/tsa/certificate`: the TSA certificate then the issuing CA and root (PEM).
pub async fn certificate(State(state): State<Arc<AppState>>) -> Response {
    let mut pem = pem_cert(state.tsa.certificate_der());
    pem.push_str(&state.pki.chain_pem());
    let mut resp = pem.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pem-certificate-chain"),
    );
    resp
}
