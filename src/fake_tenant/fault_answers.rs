//! The answers behind each injected prompt fault.

use std::time::{Duration, SystemTime};

use axum::{
    body::{Body, Bytes},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::json;

use super::faults::PromptFault;

/// The answer for `fault`; `retry_after_secs` is the wait a 429 asks for. `None` for a hang,
/// which its handler answers as delivered once the wait is over.
pub(crate) fn answer(fault: PromptFault, retry_after_secs: u64) -> Option<Response> {
    let response = match fault {
        PromptFault::ServerError(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            (status, Json(json!({ "error": "server_error" }))).into_response()
        }
        PromptFault::RetryAfterSeconds => rate_limited(Some(HeaderValue::from(retry_after_secs))),
        PromptFault::RetryAfterDate => {
            let at = SystemTime::now() + Duration::from_secs(retry_after_secs);
            let date = HeaderValue::from_str(&httpdate::fmt_http_date(at)).ok();
            rate_limited(date)
        }
        PromptFault::RateLimitedWithoutHeader => rate_limited(None),
        PromptFault::ConnectionReset => connection_reset(),
        PromptFault::Hang => return None,
    };
    Some(response)
}

fn rate_limited(retry_after: Option<HeaderValue>) -> Response {
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        Json(json!({ "error": "rate_limited" })),
    )
        .into_response();
    if let Some(value) = retry_after {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A response whose body fails before its first byte. hyper then gives up on the connection
/// without flushing the status line it had buffered, so the client sees the connection close
/// with no answer at all, as when a tenant's process or load balancer drops it.
fn connection_reset() -> Response {
    let broken = futures::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))
    });
    Response::new(Body::from_stream(broken))
}
