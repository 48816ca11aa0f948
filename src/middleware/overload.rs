//! A bound on requests in flight. Excess requests get a fast 503 with `Retry-After` rather
//! than joining a queue that grows while every caller times out; and a whole request, body
//! upload included, is bounded in time.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::sync::Semaphore;

use crate::{error::ApiError, metrics::Metrics};

#[derive(Clone)]
pub struct InFlightLimit {
    pub permits: Arc<Semaphore>,
    pub http_timeout: Duration,
    pub metrics: Arc<Metrics>,
}

pub async fn limit_in_flight(
    State(limit): State<InFlightLimit>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = limit.permits.clone().try_acquire_owned() else {
        limit.metrics.overload_rejections.inc();
        return ApiError::Overloaded.into_response();
    };
    let _gauge = InFlightGauge::enter(&limit.metrics);
    tokio::time::timeout(limit.http_timeout, next.run(request))
        .await
        .unwrap_or_else(|_| ApiError::RequestTimeout.into_response())
}

/// Counts a request in flight until dropped, so a cancelled request is counted out too.
struct InFlightGauge<'a>(&'a Metrics);

impl<'a> InFlightGauge<'a> {
    fn enter(metrics: &'a Metrics) -> Self {
        metrics.in_flight.inc();
        Self(metrics)
    }
}

impl Drop for InFlightGauge<'_> {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}
