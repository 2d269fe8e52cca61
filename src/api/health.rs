//! Liveness and readiness.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: the database answers (and, once present, the sequencer runs).
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let db = match state.store.conn().await {
        Ok(c) => c.simple_query("SELECT 1").await.is_ok(),
        Err(_) => false,
    };
    let clock = clock_synchronised();
    let body = json!({
        "status": if db { "ready" } else { "not ready" },
        "database": db,
        "clock_synchronised": clock,
    });
    let code = if db {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// Whether the kernel says the clock is synchronised (NTP); `None` when it cannot tell.
pub fn clock_synchronised() -> Option<bool> {
    // adjtimex with modes 0 only reads; TIME_ERROR (5) means unsynchronised.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: tx is a valid, zeroed timex; modes = 0 makes the call read-only.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        None
    } else {
        Some(state != libc::TIME_ERROR)
    }
}
