use std::sync::Arc;

use axum::{extract::State, http::header, response::IntoResponse};

use crate::{
    circuit_breaker::CircuitBreaker, metrics::Metrics, rate_limit::RateLimiter, store::PromptStore,
};

/// What the scrape reads, beside the counters: gauges sampled at scrape time.
#[derive(Clone)]
pub struct MetricsSource {
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<dyn RateLimiter>,
    pub store: Arc<dyn PromptStore>,
    pub breaker: Arc<CircuitBreaker>,
}

pub async fn metrics(State(source): State<MetricsSource>) -> impl IntoResponse {
    let m = &source.metrics;
    m.rate_limiter_tokens.set(source.limiter.available().await);
    if let Ok(pending) = source.store.pending_correlations().await {
        m.correlation_queue_depth
            .set(i64::try_from(pending).unwrap_or(i64::MAX));
    }
    m.breaker_state.set(source.breaker.state().as_gauge());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
}
