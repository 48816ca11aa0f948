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
    response::Response,
    routing::{get, post, MethodRouter},
    Extension, Router,
};
use tower::{util::BoxCloneSyncService, ServiceBuilder};
use tower_http::trace::TraceLayer;

use crate::{
    error::ApiError,
    extract::BodyLimit,
    metrics::Metrics,
    middleware::{
        ApiKeys, HttpMetricsLayer, InFlightLimit, RequestId, RequireApiKeyLayer, SetRequestIdLayer,
        TagRouteLayer,
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
    // Each route gets its tag and guards as one layer: every layer added to a route is
    // another boxed service cloned, and another boxed future, per request. Auth is checked
    // before a concurrency permit is taken; an unmatched path or method gets neither.
    let guards = ServiceBuilder::new()
        .layer(RequireApiKeyLayer(parts.api_keys))
        .layer(parts.in_flight);
    let api = [
        ("/simulate-prompt", post(simulate::simulate_prompt)),
        ("/prompts", get(ledger::list_prompts)),
        ("/prompts/export", get(ledger::export_prompts)),
        (
            "/prompts/{prompt_id}",
            get(prompts::get_prompt).delete(prompts::retract_prompt),
        ),
        (
            "/prompts/{prompt_id}/feedback",
            post(ledger::record_feedback),
        ),
        ("/stats", get(ledger::stats)),
        ("/openapi.json", get(openapi_document)),
    ]
    .into_iter()
    .fold(Router::new(), |api, (path, methods)| {
        let layers = ServiceBuilder::new()
            .layer(TagRouteLayer::new(path))
            .layer(guards.clone());
        api.route(path, methods.route_layer(layers))
    })
    .with_state(parts.service);
    // Probes and scrapes stay open and unthrottled: they must answer under load.
    let mut ops = [
        ("/healthz", get(health::healthz)),
        ("/readyz", get(health::readyz)),
    ]
    .into_iter()
    .fold(Router::new(), |ops, (path, methods)| {
        ops.route(path, tagged(path, methods))
    })
    .with_state(parts.health);
    if let Some((path, source)) = parts.metrics_route {
        ops = ops.merge(metrics_router(&path, source));
    }
    api.merge(ops)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

fn tagged<S: Clone + Send + Sync + 'static>(
    path: &str,
    methods: MethodRouter<S>,
) -> MethodRouter<S> {
    methods.route_layer(TagRouteLayer::new(path))
}

fn metrics_router(path: &str, source: MetricsSource) -> Router {
    Router::new()
        .route(path, tagged(path, get(metrics::metrics)))
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
