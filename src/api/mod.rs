//! The HTTP edge (axum + tower): every route in [`router`], shared state in [`AppState`], and
//! the one mapping from module errors to problem+json in [`problem`].

pub mod auth;
pub mod ca;
pub mod contracts;
pub mod evidence;
pub mod evidence_export;
pub mod export_client;
pub mod health;
pub mod invoices;
pub mod log;
pub mod metrics;
pub mod orgs;
pub mod problem;
pub mod records;
pub mod tsa;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request};
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::identity::master_key::MasterKey;
use crate::identity::pki::NotaryPki;
use crate::store::Store;
pub use problem::ApiError;

/// Everything a request handler may use.
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// The notary's CAs.
    pub pki: NotaryPki,
    /// Seals server-held keys.
    pub master_key: MasterKey,
    /// SHA-256 of the admin key.
    pub admin_key_hash: [u8; 32],
    /// Prometheus metrics.
    pub metrics: metrics::Metrics,
    /// The time-stamping authority.
    pub tsa: crate::notary::tsa::TimeStamper,
    /// Per-address limit on `POST /tsa`, when configured.
    pub tsa_limiter: Option<IpLimiter>,
    /// The log's writer (one per database, elected by advisory lock).
    pub sequencer: crate::notary::sequencer::Sequencer,
    /// Proofs from tiles.
    pub log: std::sync::Arc<crate::notary::log::LogReader>,
    /// The log's checkpoint verifier key (C2SP vkey).
    pub log_vkey: String,
    /// Org certificate checks and custodial keys.
    pub signatures: crate::notary::signing::Signatures,
    /// The configured witnesses and the k-of-n policy.
    pub witnesses: Arc<crate::notary::witnesses::WitnessSet>,
    /// Sends new checkpoints to the witnesses.
    pub pusher: crate::notary::witnesses::WitnessPusher,
    /// The notary seal (executed contracts).
    pub seal: crate::notary::seal::NotarySeal,
    /// Bounds the isolated PDF inspectors running at once (each may take a GiB of memory).
    pub pdf_inspections: tokio::sync::Semaphore,
}

/// A rate limiter keyed by client address.
pub type IpLimiter = governor::DefaultKeyedRateLimiter<std::net::IpAddr>;

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP surface, in one place.
pub fn router(state: Arc<AppState>) -> Router {
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/v1/orgs", post(orgs::create).get(orgs::list))
        .route("/v1/orgs/{id}", get(orgs::get))
        .route("/v1/orgs/{id}/certificates", post(orgs::certificates))
        .route("/v1/orgs/{id}/keys", post(orgs::rotate_key))
        .route("/v1/orgs/{id}/revoke", post(orgs::revoke))
        .route("/v1/invoices", post(invoices::submit))
        .route("/v1/invoices/{id}/status", post(invoices::status))
        .route("/v1/records", get(records::list))
        .route("/v1/records/{id}", get(records::get))
        .route("/v1/records/{id}/evidence", get(evidence::bundle))
        .route("/v1/evidence", get(evidence_export::export))
        .route("/records/{id}/certificate", get(evidence::certificate))
        .route(
            "/verify",
            get(evidence::verify_page).post(evidence::verify_upload),
        )
        .route("/v1/grants", post(records::grant))
        .route("/v1/grants/{id}", axum::routing::delete(records::withdraw))
        .route("/v1/ca", get(ca::certificates))
        .route("/v1/crl", get(ca::crl))
        .route("/tsa", post(tsa::timestamp))
        .route("/checkpoint", get(log::checkpoint))
        .route("/tile/{*path}", get(log::tile))
        .route("/v1/log/inclusion", get(log::inclusion))
        .route("/v1/log/consistency", get(log::consistency))
        .route("/v1/log/proof", get(log::proof))
        .route("/v1/log/key", get(log::key))
        .route("/v1/log/witness-policy", get(log::witness_policy_file))
        .route("/v1/tsa/certificate", get(tsa::certificate))
        .route("/v1/contracts/{id}", get(contracts::get))
        .route("/v1/contracts/{id}/signatures", post(contracts::sign))
        .route("/v1/contracts/{id}/document", get(contracts::document))
        .route("/v1/contracts/{id}/pdf", get(contracts::signed_pdf));

    let config = &state.config;
    // Contract PDFs have their own bound (NOTARIUM_CONTRACT_MAX_BYTES), not the body limit.
    let contract_limit = config
        .contract_max_bytes
        .saturating_add(contracts::MULTIPART_SLACK);
    let contract_intake = Router::new()
        .route("/v1/contracts", post(contracts::submit))
        .layer(DefaultBodyLimit::max(contract_limit))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            contract_limit,
        ));
    let overload = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(handle_overload))
        .load_shed()
        .concurrency_limit(config.concurrency_limit)
        .timeout(config.request_timeout());

    routes
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(config.body_limit))
        .merge(contract_intake)
        .layer(overload)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .layer(axum::middleware::map_response(problem::problem_for_plain_errors))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("http", method = %req.method(), uri = %req.uri().path(), request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

async fn handle_overload(err: tower::BoxError) -> ApiError {
    if err.is::<tower::load_shed::error::Overloaded>() {
        ApiError::Unavailable {
            detail: "too many requests in flight; retry shortly".into(),
            retry_after: 1,
        }
    } else if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::Unavailable {
            detail: "request timed out".into(),
            retry_after: 1,
        }
    } else {
        ApiError::internal(err)
    }
}

/// Parses a JSON body with a clear 400 on failure (never axum's plain-text rejection).
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// How long graceful shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
