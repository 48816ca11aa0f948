//! `x-request-id`: taken from the caller when it sent a sane one, made up otherwise; returned
//! on every response, recorded on every log line of the request and passed to the tenant.

use std::task::{Context, Poll};

use axum::http::{HeaderName, HeaderValue, Request, Response};
use tower::{Layer, Service};

use super::marked::{Mark, Marked};

pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");
const MAX_LEN: usize = 128;

/// The request's id, in the request's extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Gives every request an id and every response its `x-request-id` header.
///
/// A plain tower service, not `axum::middleware::from_fn`: it runs on every request,
/// refusals included, and this way it costs no boxed future.
#[derive(Clone, Copy, Default)]
pub struct SetRequestIdLayer;

impl<S> Layer<S> for SetRequestIdLayer {
    type Service = SetRequestId<S>;

    fn layer(&self, inner: S) -> SetRequestId<S> {
        SetRequestId { inner }
    }
}

#[derive(Clone)]
pub struct SetRequestId<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for SetRequestId<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Marked<S::Future, Option<IdHeader>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let sent = (request.headers().get(&REQUEST_ID_HEADER))
            .filter(|v| v.to_str().is_ok_and(is_acceptable))
            .cloned();
        let id = (sent.as_ref())
            .and_then(|v| v.to_str().ok())
            .map_or_else(|| ulid::Ulid::new().to_string(), str::to_owned);
        // A sane id is sent back as it came; a made-up one (a ULID) is always a valid value.
        let header = sent.or_else(|| HeaderValue::from_str(&id).ok());
        request.extensions_mut().insert(RequestId(id));
        Marked::new(self.inner.call(request), header.map(IdHeader))
    }
}

/// The `x-request-id` a response gets.
pub struct IdHeader(HeaderValue);

impl Mark for IdHeader {
    fn mark<B>(self, response: &mut Response<B>) {
        response.headers_mut().insert(REQUEST_ID_HEADER, self.0);
    }
}

/// Ids end up in logs and upstream headers: short, printable, no spaces.
fn is_acceptable(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_printable_ids_and_refuses_the_rest() {
        assert!(is_acceptable("req-123_abc.DEF"));
        assert!(!is_acceptable(""));
        assert!(!is_acceptable("has space"));
        assert!(!is_acceptable(&"x".repeat(129)));
    }
}
