//! Prometheus metrics: requests by route and status, latency by route, database pool usage.
//! Served as Prometheus text at `GET /metrics`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// Extra named gauges other modules publish (sequencer queue, log size, ...).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NameLabels {
    /// The gauge's name.
    pub name: String,
}

/// The registry and the metric handles.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    pool_size: Gauge,
    pool_available: Gauge,
    pool_waiting: Gauge,
    /// Gauges set by other modules, labelled by name.
    pub gauges: Family<NameLabels, Gauge>,
    /// Counters bumped by other modules, labelled by name.
    pub counters: Family<NameLabels, Counter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("notarium");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0002, 2.0, 18))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            latency.clone(),
        );
        let pool_size = Gauge::default();
        registry.register(
            "db_pool_size",
            "Connections open in the pool",
            pool_size.clone(),
        );
        let pool_available = Gauge::default();
        registry.register(
            "db_pool_available",
            "Idle connections in the pool",
            pool_available.clone(),
        );
        let pool_waiting = Gauge::default();
        registry.register(
            "db_pool_waiting",
            "Tasks waiting for a connection",
            pool_waiting.clone(),
        );
        let gauges = Family::<NameLabels, Gauge>::default();
        registry.register("state", "Internal state gauges", gauges.clone());
        let counters = Family::<NameLabels, Counter>::default();
        registry.register("events", "Internal event counters", counters.clone());
        Self {
            registry,
            requests,
            latency,
            pool_size,
            pool_available,
            pool_waiting,
            gauges,
            counters,
        }
    }

    /// Sets a named gauge.
    pub fn set_gauge(&self, name: &str, value: i64) {
        self.gauges
            .get_or_create(&NameLabels { name: name.into() })
            .set(value);
    }

    /// Bumps a named counter.
    pub fn inc(&self, name: &str) {
        self.counters
            .get_or_create(&NameLabels { name: name.into() })
            .inc();
    }
}

/// Middleware recording every request.
pub async fn track(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    let m = &state.metrics;
    m.requests
        .get_or_create(&RequestLabels {
            method,
            route: route.clone(),
            status: resp.status().as_u16(),
        })
        .inc();
    m.latency
        .get_or_create(&RouteLabels { route })
        .observe(start.elapsed().as_secs_f64());
    resp
}

/// `GET /metrics`.
pub async fn render(State(state): State<Arc<AppState>>) -> Response {
    let status = state.store.pool.status();
    let m = &state.metrics;
    m.pool_size.set(status.size as i64);
    m.pool_available.set(status.available as i64);
    m.pool_waiting.set(status.waiting as i64);
    let mut out = String::new();
    if encode(&mut out, &m.registry).is_err() {
        return super::ApiError::internal("metrics encoding failed").into_response();
    }
    let mut resp = out.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}
