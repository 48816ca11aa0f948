//! What every adapter does with an upstream call: build it with the token, send it timed,
//! and read what its answer means for the retry policy.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use axum::http::{header, HeaderMap, Method};
use tokio::time::Instant;

use super::{
    AttemptOutcome, AttemptReport, HttpClient, Token, TokenCache, TokenError, TransientKind,
    TransportError, UpstreamResponse,
};
use crate::{
    metrics::{Endpoint, Metrics},
    retry::parse_retry_after,
};

const REQUEST_ID: &str = "x-request-id";

/// A request with the token, `Accept: application/json` (without which CXone answers in plain
/// text) and, when there is one, the request id.
pub(super) fn authorized(
    http: &HttpClient,
    method: Method,
    url: url::Url,
    token: &Token,
    request_id: Option<&str>,
) -> Result<reqwest::RequestBuilder, TransportError> {
    let authorization = token.authorization().map_err(|_| TransportError::Broken)?;
    let mut request = (http.request(method, url))
        .header(header::ACCEPT, "application/json")
        .header(header::AUTHORIZATION, authorization);
    if let Some(id) = request_id {
        request = request.header(REQUEST_ID, id);
    }
    Ok(request)
}

/// Sends one request within `deadline`, recording its status class and latency (the answer
/// read whole).
pub(super) async fn send_timed(
    http: &HttpClient,
    metrics: &Metrics,
    endpoint: Endpoint,
    request: Result<reqwest::RequestBuilder, TransportError>,
    deadline: Instant,
) -> Result<UpstreamResponse, TransportError> {
    let started = Instant::now();
    let result = match request {
        Ok(request) => http.send(request, remaining(deadline)).await,
        Err(error) => Err(error),
    };
    let status = result.as_ref().ok().map(|r| r.status.as_u16());
    metrics.upstream(endpoint, status, started.elapsed());
    result
}

/// A prompt delivery's answer as an attempt: `classify` reads an answer; a 401 drops the
/// token it was sent with, so the policy's re-send fetches a fresh one.
pub(super) fn attempt_report(
    sent: Result<UpstreamResponse, TransportError>,
    classify: impl FnOnce(&UpstreamResponse) -> AttemptReport,
    tokens: &TokenCache,
    token: &Arc<Token>,
) -> AttemptReport {
    match sent {
        Err(error) => AttemptReport {
            status: None,
            outcome: AttemptOutcome::Transient(transport_kind(error)),
            receipt: None,
        },
        Ok(response) => {
            let report = classify(&response);
            if report.outcome == AttemptOutcome::Unauthorized {
                tokens.invalidate(token);
            }
            report
        }
    }
}

/// A try that never got as far as a POST because no token could be had.
pub(super) fn token_failure(error: &TokenError) -> AttemptReport {
    let (status, outcome) = match error {
        TokenError::Rejected { status, .. } => (Some(*status), AttemptOutcome::CredentialsRefused),
        // The policy waits a token endpoint's 429 out like the prompts endpoint's.
        TokenError::RateLimited { retry_after } => (
            Some(429),
            AttemptOutcome::RateLimited {
                retry_after: *retry_after,
            },
        ),
        TokenError::Unavailable { .. } => (
            None,
            AttemptOutcome::Transient(TransientKind::TokenUnavailable),
        ),
    };
    AttemptReport {
        status,
        outcome,
        receipt: None,
    }
}

/// The wait a 429 asks for, when its `Retry-After` is usable.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

fn transport_kind(error: TransportError) -> TransientKind {
    match error {
        TransportError::Timeout => TransientKind::Timeout,
        TransportError::Connect => TransientKind::Connect,
        TransportError::Broken => TransientKind::ConnectionClosed,
    }
}

pub(super) fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
