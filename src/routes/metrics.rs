use std::sync::Arc;

use axum::{extract::State, http::header, response::IntoResponse};

use crate::{
    circuit_breaker::CircuitBreaker, correlation::CorrelationQueue, metrics::Metrics,
    rate_limit::RateLimiter,
};

/// What the scrape reads, beside the counters: gauges sampled at scrape time.
#[derive(Clone)]
pub struct MetricsSource {
    pub metrics: Arc<Metrics>,
    pub limiter: Arc<dyn RateLimiter>,
    pub correlation: CorrelationQueue,
    pub breaker: Arc<CircuitBreaker>,
}

pub async fn metrics(State(source): State<MetricsSource>) -> impl IntoResponse {
    let m = &source.metrics;
    m.rate_limiter_tokens.set(source.limiter.available().await);
    m.correlation_queue_depth
        .set(source.correlation.depth() as i64);
    m.breaker_state.set(source.breaker.state().as_gauge());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
}
