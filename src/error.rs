//! The one error type every route returns. Each variant has a stable machine `code` and one
//! HTTP status; the JSON body never carries internal error text.

use std::time::Duration;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::Value;

/// The JSON body of every error response (for the API description).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// What went wrong, for people.
    #[schema(example = "priority must be HIGH, MEDIUM or LOW, got \"URGENT\"")]
    pub error: String,
    /// A stable identifier for machines.
    #[schema(example = "invalid_field")]
    pub code: String,
    /// The offending request field (400 `invalid_field`).
    pub field: Option<String>,
    /// Which eligibility rule failed (403 `ineligible`).
    pub reason: Option<String>,
    /// The prompt an upstream error concerns; its record has the attempts.
    pub prompt_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{message}")]
    InvalidField { field: String, message: String },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{0}")]
    NotFound(String),
    #[error("agent is not eligible for this prompt")]
    Ineligible { reason: String },
    #[error("rate limit exceeded; retry in {} s", retry_after_secs(.retry_after))]
    RateLimited { retry_after: Duration },
    #[error("the tenant is rate limiting prompts; retry in {} s", retry_after_secs(.retry_after))]
    UpstreamRateLimited {
        retry_after: Duration,
        prompt_id: String,
    },
    #[error("the tenant rejected the service's credentials")]
    UpstreamAuth { prompt_id: String },
    #[error("the tenant refused the prompt (403)")]
    UpstreamForbidden { prompt_id: String },
    #[error("the tenant is failing; deliveries are paused for {} s", retry_after_secs(.retry_after))]
    UpstreamUnavailable {
        retry_after: Duration,
        prompt_id: String,
    },
    #[error("the tenant did not accept the prompt or its fallback")]
    UpstreamFailed { prompt_id: String },
    #[error("the prompt could not be delivered within the request deadline")]
    UpstreamTimeout { prompt_id: Option<String> },
    #[error("a request with this Idempotency-Key is still being handled; retry shortly")]
    IdempotencyInProgress,
    #[error("this Idempotency-Key was used with a different request body")]
    IdempotencyKeyReused,
    #[error("missing or invalid API key (Authorization: Bearer <key>)")]
    Unauthorized,
    #[error("too many requests in flight; retry shortly")]
    Overloaded,
    #[error("the request took too long to arrive")]
    RequestTimeout,
    #[error("the prompt cannot be withdrawn: {reason}")]
    NotRetractable { reason: String },
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            MalformedJson(_) | InvalidField { .. } => StatusCode::BAD_REQUEST,
            PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            NotFound(_) => StatusCode::NOT_FOUND,
            Ineligible { .. } => StatusCode::FORBIDDEN,
            RateLimited { .. } | UpstreamRateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            UpstreamAuth { .. }
            | UpstreamForbidden { .. }
            | UpstreamFailed { .. }
            | UpstreamUnavailable { .. } => StatusCode::BAD_GATEWAY,
            Unauthorized => StatusCode::UNAUTHORIZED,
            IdempotencyInProgress | NotRetractable { .. } => StatusCode::CONFLICT,
            IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable identifier for machines; never changes for a given failure.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            MalformedJson(_) => "malformed_json",
            InvalidField { .. } => "invalid_field",
            PayloadTooLarge { .. } => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            MethodNotAllowed => "method_not_allowed",
            NotFound(_) => "not_found",
            Ineligible { .. } => "ineligible",
            RateLimited { .. } => "rate_limited",
            UpstreamRateLimited { .. } => "upstream_rate_limited",
            UpstreamAuth { .. } => "upstream_auth",
            UpstreamForbidden { .. } => "upstream_forbidden",
            UpstreamFailed { .. } => "upstream_failed",
            UpstreamUnavailable { .. } => "upstream_unavailable",
            Unauthorized => "unauthorized",
            IdempotencyInProgress => "idempotency_in_progress",
            IdempotencyKeyReused => "idempotency_key_reused",
            Overloaded => "overloaded",
            RequestTimeout => "request_timeout",
            UpstreamTimeout { .. } => "upstream_timeout",
            NotRetractable { .. } => "not_retractable",
            Internal => "internal",
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after }
            | ApiError::UpstreamRateLimited { retry_after, .. }
            | ApiError::UpstreamUnavailable { retry_after, .. } => Some(*retry_after),
            ApiError::Overloaded | ApiError::IdempotencyInProgress => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// The body: `error` and `code`, and the fields that spare callers parsing messages.
    fn wire(&self) -> WireError<'_> {
        let mut wire = WireError {
            error: self,
            code: self.code(),
            field: None,
            reason: None,
            prompt_id: None,
        };
        match self {
            ApiError::InvalidField { field, .. } => wire.field = Some(field),
            ApiError::Ineligible { reason } => wire.reason = Some(reason),
            ApiError::UpstreamRateLimited { prompt_id, .. }
            | ApiError::UpstreamUnavailable { prompt_id, .. }
            | ApiError::UpstreamAuth { prompt_id }
            | ApiError::UpstreamForbidden { prompt_id }
            | ApiError::UpstreamFailed { prompt_id }
            | ApiError::UpstreamTimeout {
                prompt_id: Some(prompt_id),
            } => wire.prompt_id = Some(prompt_id),
            _ => {}
        }
        wire
    }
}

/// [`ErrorBody`] as written: borrowed from the error, absent fields left out, and the
/// message formatted straight into the output.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct WireError<'a> {
    #[serde(serialize_with = "serialize_display")]
    error: &'a ApiError,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_id: Option<&'a str>,
}

fn serialize_display<S: serde::Serializer>(
    value: &&ApiError,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// `Retry-After` takes whole seconds; round up so a caller never retries too early.
pub fn retry_after_secs(wait: &Duration) -> u64 {
    wait.as_secs()
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
}

impl ApiError {
    /// The JSON body of the response, as a value (to keep for a replay).
    pub fn body(&self) -> Value {
        serde_json::to_value(self.wire()).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.wire())).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(wait) = self.retry_after() {
            let secs = retry_after_secs(&wait).max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(&Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(&Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(&Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(&Duration::ZERO), 0);
        // A bucket refilling too slowly to say saturates instead of overflowing.
        assert_eq!(retry_after_secs(&Duration::MAX), u64::MAX);
    }

    #[test]
    fn the_body_has_the_message_the_code_and_only_the_fields_that_apply() {
        let invalid = ApiError::InvalidField {
            field: "priority".into(),
            message: "priority must be HIGH, MEDIUM or LOW, got \"URGENT\"".into(),
        };
        assert_eq!(
            invalid.body(),
            serde_json::json!({
                "error": "priority must be HIGH, MEDIUM or LOW, got \"URGENT\"",
                "code": "invalid_field",
                "field": "priority",
            })
        );
        let failed = ApiError::UpstreamFailed {
            prompt_id: "p-1".into(),
        };
        assert_eq!(
            failed.body(),
            serde_json::json!({
                "error": "the tenant did not accept the prompt or its fallback",
                "code": "upstream_failed",
                "promptId": "p-1",
            })
        );
    }
}
