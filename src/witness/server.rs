//! The witness process: start-up (database, key, metrics), its HTTP surface, and the mirror
//! task beside it.
//!
//! | method, path | what |
//! |---|---|
//! | `POST /add-checkpoint` | C2SP tlog-witness: cosign a checkpoint given a consistency proof |
//! | `GET /checkpoint` | the mirrored (else the last cosigned) checkpoint with this witness's cosignature |
//! | `GET /tile/<L>/<N>[.p/<W>]`, `GET /tile/entries/<N>[.p/<W>]` | the mirror, as C2SP tlog-tiles |
//! | `GET /v1/witness` | name, verifier key, followed log, sizes (JSON) |
//! | `GET /v1/witness/alarms` | recorded alarms with their evidence (JSON) |
//! | `GET /healthz`, `GET /metrics` | liveness; Prometheus text |

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::api::problem::problem_response;
use crate::identity::master_key::MasterKey;
use crate::ledger::{TILE_WIDTH, TileResource, encode_bundle, parse_tile_path};
use crate::store::Store;
use crate::store::mirror as store_mirror;
use crate::store::witness as store_witness;

use super::config::WitnessConfig;
use super::cosigner::{Cosigner, KnownLog};
use super::error::WitnessError;
use super::key;
use super::log_client::LogClient;
use super::metrics::WitnessMetrics;
use super::request::{AddCheckpoint, MAX_BODY};

/// A running witness's shared state.
pub struct WitnessNode {
    /// The configuration.
    pub config: WitnessConfig,
    /// The witness's own database.
    pub store: Store,
    /// The cosigning path.
    pub cosigner: Cosigner,
    /// Metrics.
    pub metrics: Arc<WitnessMetrics>,
    /// The followed log.
    pub log: KnownLog,
}

impl std::fmt::Debug for WitnessNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the config: it may hold the master key.
        f.debug_struct("WitnessNode")
            .field("name", &self.config.name)
            .field("log", &self.log.origin)
            .finish_non_exhaustive()
    }
}

/// Opens the witness: data directory, database and migrations, master key, witness key,
/// metrics from the stored state.
///
/// # Errors
/// Storage, keys, or a database that belongs to another log.
pub async fn open(config: WitnessConfig) -> Result<Arc<WitnessNode>, WitnessError> {
    std::fs::create_dir_all(&config.base.data_dir).map_err(|source| {
        crate::identity::IdentityError::Io {
            path: config.base.data_dir.clone(),
            source,
        }
    })?;
    let mk = MasterKey::load(config.base.master_key.as_deref(), &config.base.data_dir)?;
    let store = Store::open(&config.base).await?;
    let signer = key::load_or_create(&store, &mk, &config.name).await?;
    let metrics = Arc::new(WitnessMetrics::new());
    let log = KnownLog {
        origin: config.log_origin.clone(),
        key: config.log_key.clone(),
    };
    {
        let conn = store.conn().await?;
        if let Some(m) = store_mirror::state(&**conn).await? {
            if m.origin != log.origin {
                return Err(WitnessError::Config(format!(
                    "this database mirrors the log `{}`, not `{}`; use a new database for \
                     another log",
                    m.origin, log.origin
                )));
            }
            metrics.mirrored(m.size, 0);
        }
        if let Some(h) = store_witness::held(&**conn, &log.origin).await? {
            metrics.set_cosigned_size(h.size);
        }
        let alarms = store_witness::alarm_count(&**conn).await?;
        metrics.set_alarms(alarms);
        if alarms > 0 {
            tracing::error!(
                alarms,
                "this witness holds alarms: see GET /v1/witness/alarms"
            );
        }
    }
    let cosigner = Cosigner::new(signer, vec![log.clone()], metrics.clone());
    tracing::info!(vkey = %cosigner.vkey(), origin = %log.origin, "witness ready");
    Ok(Arc::new(WitnessNode {
        config,
        store,
        cosigner,
        metrics,
        log,
    }))
}

/// Serves on the configured address until SIGINT or SIGTERM.
///
/// # Errors
/// [`WitnessError::Listen`].
pub async fn serve(node: Arc<WitnessNode>) -> Result<(), WitnessError> {
    let addr = node.config.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WitnessError::Listen {
            addr: addr.to_string(),
            source,
        })?;
    tracing::info!(local = %addr, "witness listening");
    serve_on(node, listener, crate::app::shutdown_signal()).await
}

/// Serves on a bound listener, with the mirror running when a log URL is configured, until
/// `shutdown` completes; then stops the mirror and the database.
///
/// # Errors
/// [`WitnessError::Listen`].
pub async fn serve_on(
    node: Arc<WitnessNode>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), WitnessError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mirror = match &node.config.log_url {
        Some(url) => {
            let client = LogClient::new(url, node.config.fetch_timeout)?;
            Some(tokio::spawn(super::mirror::run(
                node.clone(),
                client,
                node.config.poll_interval,
                stop_rx,
            )))
        }
        None => None,
    };
    let served = axum::serve(listener, router(node.clone()))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| WitnessError::Listen { addr, source });
    let _ = stop_tx.send(true);
    if let Some(m) = mirror {
        // A poll in flight finishes its transaction or is dropped before commit.
        if tokio::time::timeout(Duration::from_secs(10), m)
            .await
            .is_err()
        {
            tracing::warn!("mirror did not stop in time");
        }
    }
    match Arc::try_unwrap(node) {
        Ok(node) => node.store.shutdown().await,
        Err(_) => tracing::debug!("witness state still shared at shutdown"),
    }
    served
}

/// The witness's routes.
pub fn router(node: Arc<WitnessNode>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/checkpoint", get(checkpoint))
        .route("/tile/{*path}", get(tile))
        .route("/v1/witness", get(info))
        .route("/v1/witness/alarms", get(alarms))
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "not-found", "no such route".into()) })
        .with_state(node)
}

fn problem(status: StatusCode, slug: &str, detail: String) -> Response {
    problem_response(status, slug, detail, None)
}

/// The C2SP answer to a refusal: status codes as the spec says; the old-size conflict as
/// `text/x.tlog.size`; internal causes logged, not shown.
impl IntoResponse for WitnessError {
    fn into_response(self) -> Response {
        match self {
            WitnessError::SizeMismatch { current } => {
                let mut r = (StatusCode::CONFLICT, format!("{current}\n")).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/x.tlog.size"),
                );
                r
            }
            WitnessError::SplitView { .. } => {
                problem(StatusCode::CONFLICT, "split-view", self.to_string())
            }
            WitnessError::BadRequest(_) => {
                problem(StatusCode::BAD_REQUEST, "bad-request", self.to_string())
            }
            WitnessError::UnknownLog => {
                problem(StatusCode::NOT_FOUND, "unknown-log", self.to_string())
            }
            WitnessError::NotSigned(_) => {
                problem(StatusCode::FORBIDDEN, "not-signed", self.to_string())
            }
            WitnessError::BadProof(_) => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad-proof",
                self.to_string(),
            ),
            WitnessError::Inconsistent(_) => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "inconsistent-proof",
                self.to_string(),
            ),
            WitnessError::Store(crate::store::StoreError::Pool(_)) => {
                let mut r = problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "database unavailable".into(),
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(1));
                r
            }
            other => {
                tracing::error!(cause = %other, "internal error");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "an internal error occurred; it has been logged".into(),
                )
            }
        }
    }
}

/// `POST /add-checkpoint`.
async fn add_checkpoint(State(node): State<Arc<WitnessNode>>, body: Bytes) -> Response {
    let req = match AddCheckpoint::parse(&body) {
        Ok(r) => r,
        Err(e) => {
            node.metrics.refused("bad-request");
            return e.into_response();
        }
    };
    match node.cosigner.add_checkpoint(&node.store, &req).await {
        Ok(c) => text(StatusCode::OK, c.line, "text/plain; charset=utf-8"),
        Err(e) => e.into_response(),
    }
}

fn text(status: StatusCode, body: String, content_type: &'static str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `GET /checkpoint`: the mirrored checkpoint (else the last cosigned one) with this
/// witness's cosignature over it, when it gave one.
async fn checkpoint(State(node): State<Arc<WitnessNode>>) -> Result<Response, WitnessError> {
    let conn = node.store.conn().await?;
    let mirrored = store_mirror::state(&**conn).await?.and_then(|s| s.note);
    let note = match mirrored {
        Some(n) => n,
        None => match store_witness::held(&**conn, &node.log.origin).await? {
            Some(h) => h.note,
            None => {
                return Ok(problem(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "no checkpoint yet".into(),
                ));
            }
        },
    };
    let (_, own, _) = node.cosigner.open(note.as_bytes())?;
    let mut out = own.to_text();
    if let Some(line) =
        store_witness::cosignature_for(&**conn, &node.log.origin, own.text()).await?
    {
        out.push_str(&line);
    }
    let mut r = text(StatusCode::OK, out, "text/plain; charset=utf-8");
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(r)
}

/// `GET /tile/...`: hash tiles and entry bundles of the mirror.
async fn tile(
    State(node): State<Arc<WitnessNode>>,
    Path(path): Path<String>,
) -> Result<Response, WitnessError> {
    let Ok(resource) = parse_tile_path(&format!("tile/{path}")) else {
        return Ok(problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "malformed tile path".into(),
        ));
    };
    let conn = node.store.conn().await?;
    let body = match resource {
        TileResource::Hashes(t) => {
            let rows = store_mirror::tiles(&**conn, &[t]).await?;
            match rows
                .into_iter()
                .find(|(s, d)| s.width >= t.width && d.len() >= t.byte_len())
            {
                Some((_, mut d)) => {
                    d.truncate(t.byte_len());
                    d
                }
                None => {
                    return Ok(problem(
                        StatusCode::NOT_FOUND,
                        "not-found",
                        "no such tile".into(),
                    ));
                }
            }
        }
        TileResource::Entries(t) => {
            let start = t.index.saturating_mul(TILE_WIDTH);
            let end = start.saturating_add(u64::from(t.width));
            let entries = store_mirror::entries(&**conn, start, end).await?;
            if entries.len() != usize::from(t.width) {
                return Ok(problem(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "no such bundle".into(),
                ));
            }
            encode_bundle(&entries)?
        }
    };
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    // A tile path names fixed content: a partial tile grows under another path (`.p/<W>`).
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(r)
}

/// `GET /v1/witness`.
async fn info(State(node): State<Arc<WitnessNode>>) -> Result<Response, WitnessError> {
    let conn = node.store.conn().await?;
    let held = store_witness::held(&**conn, &node.log.origin).await?;
    let mirror = store_mirror::state(&**conn).await?;
    let alarms = store_witness::alarm_count(&**conn).await?;
    Ok(axum::Json(json!({
        "name": node.config.name,
        "vkey": node.cosigner.vkey(),
        "log": {
            "origin": node.log.origin,
            "vkey": node.log.key.to_vkey(),
            "url": node.config.log_url,
        },
        "cosigned_size": held.map(|h| h.size),
        "mirrored_size": mirror.map(|m| m.size),
        "alarms": alarms,
    }))
    .into_response())
}

/// `GET /v1/witness/alarms`: the latest 100 alarms with their evidence.
async fn alarms(State(node): State<Arc<WitnessNode>>) -> Result<Response, WitnessError> {
    let conn = node.store.conn().await?;
    let list = store_witness::alarms(&**conn, 100).await?;
    Ok(axum::Json(json!({ "alarms": list })).into_response())
}

/// `GET /metrics`.
async fn metrics(State(node): State<Arc<WitnessNode>>) -> Response {
    match node.metrics.render() {
        Some(body) => text(
            StatusCode::OK,
            body,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
        None => WitnessError::Config("metrics encoding failed".into()).into_response(),
    }
}
