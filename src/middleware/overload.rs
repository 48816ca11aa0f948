//! A bound on requests in flight. Excess requests get a fast 503 with `Retry-After` rather
//! than joining a queue that grows while every caller times out; and a whole request, body
//! upload included, is bounded in time.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    extract::Request,
    response::{IntoResponse, Response},
};
use pin_project_lite::pin_project;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::Timeout,
};
use tower::{Layer, Service};

use crate::{error::ApiError, metrics::Metrics};

#[derive(Clone)]
pub struct InFlightLimit {
    pub permits: Arc<Semaphore>,
    pub http_timeout: Duration,
    pub metrics: Arc<Metrics>,
}

impl<S> Layer<S> for InFlightLimit {
    type Service = LimitInFlight<S>;

    fn layer(&self, inner: S) -> LimitInFlight<S> {
        LimitInFlight {
            inner,
            limit: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct LimitInFlight<S> {
    inner: S,
    limit: InFlightLimit,
}

impl<S> Service<Request> for LimitInFlight<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Limited<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Ok(permit) = self.limit.permits.clone().try_acquire_owned() else {
            self.limit.metrics.overload_rejections.inc();
            return Limited::Refused;
        };
        Limited::Admitted {
            inner: tokio::time::timeout(self.limit.http_timeout, self.inner.call(request)),
            _in_flight: InFlight::enter(permit, self.limit.metrics.clone()),
        }
    }
}

pin_project! {
    /// A refused request's 503, or an admitted one's answer (408 once the time is up).
    #[project = LimitedProj]
    pub enum Limited<F> {
        Refused,
        Admitted {
            #[pin]
            inner: Timeout<F>,
            _in_flight: InFlight,
        },
    }
}

impl<F> Future for Limited<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            LimitedProj::Refused => Poll::Ready(Ok(ApiError::Overloaded.into_response())),
            LimitedProj::Admitted { inner, .. } => inner.poll(cx).map(|answer| match answer {
                Ok(answered) => answered,
                Err(_elapsed) => Ok(ApiError::RequestTimeout.into_response()),
            }),
        }
    }
}

/// A request's permit, counted in the in-flight gauge until dropped, so a cancelled
/// request is counted out too.
pub struct InFlight {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
}

impl InFlight {
    fn enter(permit: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> Self {
        metrics.in_flight.inc();
        Self {
            _permit: permit,
            metrics,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.metrics.in_flight.dec();
    }
}
