//! HTTP routes. Handlers parse, call the service once, and map the result.

mod export;
pub mod health;
pub mod ledger;
pub mod metrics;
pub mod prompts;
mod query;
pub mod simulate;

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, Request},
    middleware::{from_fn, from_fn_with_state},
    response::Response,
    routing::{get, post},
    Extension, Router,
};
use tower::{util::BoxCloneSyncService, ServiceBuilder};
use tower_http::trace::TraceLayer;

use crate::{
    error::ApiError,
    extract::BodyLimit,
    metrics::Metrics,
    middleware::{
        limit_in_flight, require_api_key, tag_route, ApiKeys, HttpMetricsLayer, InFlightLimit,
        RequestId, SetRequestIdLayer,
    },
    service::PromptService,
};

pub use health::Health;
pub use metrics::MetricsSource;

pub type AppState = Arc<PromptService>;

/// Everything the router needs.
pub struct RouterParts {
    pub service: AppState,
    pub health: Health,
    pub api_keys: ApiKeys,
    pub in_flight: InFlightLimit,
    pub metrics: Arc<Metrics>,
    /// `Some((path, source))` when metrics are served on the main listener.
    pub metrics_route: Option<(String, MetricsSource)>,
    pub max_body_bytes: usize,
}

/// A listener's whole request stack, as hyper calls it.
pub type App = BoxCloneSyncService<Request<hyper::body::Incoming>, Response, Infallible>;

/// The API and probes inside the layers every request passes through.
///
/// Those layers wrap the router once, instead of through `Router::layer`, which wraps every
/// route's boxed service: each layer would then cost a boxed clone and a boxed future per
/// request, on the 429 path too. Only the whole stack is boxed, once.
pub fn app(parts: RouterParts) -> App {
    let metrics = parts.metrics.clone();
    let max_body_bytes = parts.max_body_bytes;
    let stack = ServiceBuilder::new()
        .map_request(|request: Request<hyper::body::Incoming>| request.map(Body::new))
        .map_response(|response: axum::http::Response<_>| response.map(Body::new))
        .layer(SetRequestIdLayer)
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(log_response),
        )
        .layer(HttpMetricsLayer::new(metrics))
        .layer(Extension(BodyLimit(max_body_bytes)))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .service(router(parts));
    BoxCloneSyncService::new(stack)
}

/// The separate metrics listener's stack: the metrics endpoint only.
pub fn metrics_app(path: &str, source: MetricsSource) -> App {
    let stack = ServiceBuilder::new()
        .map_request(|request: Request<hyper::body::Incoming>| request.map(Body::new))
        // Scrapes answer with an id like every other response.
        .layer(SetRequestIdLayer)
        .service(metrics_router(path, source));
    BoxCloneSyncService::new(stack)
}

fn router(parts: RouterParts) -> Router {
    // Layers added later run first: auth is checked before a concurrency permit is taken.
    let api = Router::new()
        .route("/simulate-prompt", post(simulate::simulate_prompt))
        .route("/prompts", get(ledger::list_prompts))
        .route("/prompts/export", get(ledger::export_prompts))
        .route("/prompts/{prompt_id}", get(prompts::get_prompt))
        .route(
            "/prompts/{prompt_id}/feedback",
            post(ledger::record_feedback),
        )
        .route("/stats", get(ledger::stats))
        .route("/openapi.json", get(openapi_document))
        .route_layer(from_fn_with_state(parts.in_flight, limit_in_flight))
        .route_layer(from_fn_with_state(parts.api_keys, require_api_key))
        .with_state(parts.service);
    // Probes and scrapes stay open and unthrottled: they must answer under load.
    let mut ops = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .with_state(parts.health);
    if let Some((path, source)) = parts.metrics_route {
        ops = ops.merge(metrics_router(&path, source));
    }
    api.merge(ops)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(from_fn(tag_route))
}

fn metrics_router(path: &str, source: MetricsSource) -> Router {
    Router::new()
        .route(path, get(metrics::metrics))
        .with_state(source)
}

/// Every log line of a request carries its method, path and request id, and from delivery on
/// its prompt id: the one line per request says what happened to which prompt.
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map_or("", |id| id.0.as_str());
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
        prompt_id = tracing::field::Empty,
    )
}

/// The one access line per request. Status and latency are numbers, so a JSON log can be
/// filtered and aggregated by them; microseconds, since most answers take less than one
/// millisecond. (Integers are also cheaper to log than tower-http's `latency=0 ms` text,
/// which matters on the 429 path.)
fn log_response<B>(response: &axum::http::Response<B>, latency: Duration, _span: &tracing::Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        "finished processing request"
    );
}

async fn openapi_document() -> impl axum::response::IntoResponse {
    static DOCUMENT: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(crate::openapi::document);
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
