use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, LazyLock},
    task::{ready, Context, Poll},
    time::Instant,
};

use axum::{
    extract::Request,
    http::{Method, Response},
};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::marked::{Mark, Marked};
use crate::metrics::{HttpLabels, Metrics, RouteLabel, RouteLabels};

/// The matched route template, carried on the response so the outer metrics layer (which
/// runs before routing) can label by it.
#[derive(Clone)]
pub struct RouteTemplate(RouteLabel);

/// The label of answers no route gave.
static UNMATCHED: LazyLock<RouteLabel> = LazyLock::new(|| RouteLabel(Arc::from("unmatched")));

/// Route layer: marks each answer of one route with its template, made once per route.
#[derive(Clone)]
pub struct TagRouteLayer(RouteTemplate);

impl TagRouteLayer {
    pub fn new(template: &str) -> Self {
        Self(RouteTemplate(RouteLabel(Arc::from(template))))
    }
}

impl<S> Layer<S> for TagRouteLayer {
    type Service = TagRoute<S>;

    fn layer(&self, inner: S) -> TagRoute<S> {
        TagRoute {
            inner,
            template: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct TagRoute<S> {
    inner: S,
    template: RouteTemplate,
}

impl<S, B, R> Service<Request<B>> for TagRoute<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Marked<S::Future, RouteTemplate>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        Marked::new(self.inner.call(request), self.template.clone())
    }
}

impl Mark for RouteTemplate {
    fn mark<B>(self, response: &mut Response<B>) {
        response.extensions_mut().insert(self);
    }
}

/// Counts every answer by route template, method and status, and times it. Outside the
/// router, so unmatched paths are counted too; a plain tower service, so it costs no boxed
/// future per request.
#[derive(Clone)]
pub struct HttpMetricsLayer {
    metrics: Arc<Metrics>,
}

impl HttpMetricsLayer {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self { metrics }
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetrics<S>;

    fn layer(&self, inner: S) -> HttpMetrics<S> {
        HttpMetrics {
            inner,
            metrics: self.metrics.clone(),
        }
    }
}

#[derive(Clone)]
pub struct HttpMetrics<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S, B, R> Service<Request<B>> for HttpMetrics<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Recorded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        Recorded {
            method: method_label(request.method()),
            started: Instant::now(),
            metrics: self.metrics.clone(),
            inner: self.inner.call(request),
        }
    }
}

pin_project! {
    /// The inner response, counted and timed once it is ready.
    pub struct Recorded<F> {
        #[pin]
        inner: F,
        method: &'static str,
        started: Instant,
        metrics: Arc<Metrics>,
    }
}

impl<F, R, E> Future for Recorded<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        let route = (response.extensions().get::<RouteTemplate>())
            .map_or_else(|| UNMATCHED.clone(), |t| t.0.clone());
        let metrics = this.metrics;
        metrics
            .http_requests
            .get_or_create(&HttpLabels {
                route: route.clone(),
                method: this.method,
                status: response.status().as_u16(),
            })
            .inc();
        metrics
            .http_duration
            .get_or_create(&RouteLabels { route })
            .observe(this.started.elapsed().as_secs_f64());
        Poll::Ready(Ok(response))
    }
}

/// Methods outside the standard set share one label, so odd methods cannot add series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
