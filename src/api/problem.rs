//! The error policy of the HTTP edge, stated once.
//!
//! Every error a client sees is `application/problem+json` (RFC 9457) with a stable `type`
//! (`urn:notarium:problem:<slug>`). Modules return their own error enums; they are mapped to an
//! [`ApiError`] here and nowhere else. Client errors (4xx) are logged at debug level only;
//! internal errors answer a generic message and the cause goes to the log with the request id.
//! Responses made by layers outside our handlers (404 fallback, 405, 413 from the body limit,
//! 408 from the timeout, extractor rejections) are rewritten to problem+json by
//! [`problem_for_plain_errors`].

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// The content type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answered to a client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: a parameter or body is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: nothing here (also for records the caller may not see, so existence never leaks).
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with existing state; `extra` carries e.g. the first record.
    #[error("{detail}")]
    Conflict {
        /// What conflicts.
        detail: String,
        /// Extra members for the problem object.
        extra: Option<Value>,
    },
    /// 413: the body (or a document in it) is larger than accepted.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: wrong content type.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed but invalid; `extra` lists the findings.
    #[error("{detail}")]
    Unprocessable {
        /// Stable slug for `type`.
        slug: &'static str,
        /// Summary.
        detail: String,
        /// Extra members (e.g. `errors`).
        extra: Option<Value>,
    },
    /// 503: overloaded or not ready; `retry_after` seconds.
    #[error("{detail}")]
    Unavailable {
        /// Why.
        detail: String,
        /// Seconds to wait.
        retry_after: u32,
    },
    /// 429: a rate limit; `retry_after` seconds.
    #[error("{detail}")]
    RateLimited {
        /// Which limit.
        detail: String,
        /// Seconds to wait.
        retry_after: u32,
    },
    /// 500: our fault; the message is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A 422 with a slug and a detail.
    pub fn unprocessable(slug: &'static str, detail: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            slug,
            detail: detail.into(),
            extra: None,
        }
    }

    /// An internal error from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    fn status_and_slug(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type")
            }
            ApiError::Unprocessable { slug, .. } => (StatusCode::UNPROCESSABLE_ENTITY, slug),
            ApiError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate-limited"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
}

/// Builds a problem+json response.
pub fn problem_response(
    status: StatusCode,
    slug: &str,
    detail: String,
    extra: Option<Value>,
) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let mut body = serde_json::to_value(Problem {
        kind: format!("urn:notarium:problem:{slug}"),
        title,
        status: status.as_u16(),
        detail,
    })
    .unwrap_or(Value::Null);
    if let (Value::Object(map), Some(Value::Object(more))) = (&mut body, extra) {
        for (k, v) in more {
            map.entry(k).or_insert(v);
        }
    }
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug) = self.status_and_slug();
        let detail = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "an internal error occurred; it has been logged".to_string()
            }
            other => {
                tracing::debug!(error = %other, "client error");
                other.to_string()
            }
        };
        let retry = match &self {
            ApiError::Unavailable { retry_after, .. }
            | ApiError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        };
        let extra = match self {
            ApiError::Conflict { extra, .. } | ApiError::Unprocessable { extra, .. } => extra,
            _ => None,
        };
        let mut resp = problem_response(status, slug, detail, extra);
        if let Some(secs) = retry {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        match e {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Pool(_) => ApiError::Unavailable {
                detail: "database unavailable".into(),
                retry_after: 1,
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::identity::IdentityError> for ApiError {
    fn from(e: crate::identity::IdentityError) -> Self {
        use crate::identity::IdentityError;
        match e {
            IdentityError::Csr(c) => ApiError::unprocessable("bad-csr", c.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<crate::store::keys::KeyStoreError> for ApiError {
    fn from(e: crate::store::keys::KeyStoreError) -> Self {
        match e {
            crate::store::keys::KeyStoreError::Store(s) => s.into(),
            crate::store::keys::KeyStoreError::Identity(i) => i.into(),
        }
    }
}

/// Middleware: turns error responses that are not problem+json into problem+json.
pub async fn problem_for_plain_errors(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_problem = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON));
    if is_problem {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    // Bodies of plain errors are short texts from axum or tower-http; keep them as the detail.
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let detail = match String::from_utf8_lossy(&text).trim() {
        "" => status.canonical_reason().unwrap_or("error").to_string(),
        t => t.to_string(),
    };
    let slug = match status {
        StatusCode::NOT_FOUND => "not-found",
        StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload-too-large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::BAD_REQUEST => "bad-request",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        StatusCode::TOO_MANY_REQUESTS => "rate-limited",
        s if s.is_server_error() => "internal",
        _ => "error",
    };
    let mut out = problem_response(status, slug, detail, None);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    let _ = Body::empty();
    out
}
