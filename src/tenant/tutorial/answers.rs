//! How the tutorial tenant's answers map onto the retry policy's outcomes.

use std::time::SystemTime;

use axum::http::{header, StatusCode};

use crate::{
    retry::parse_retry_after,
    tenant::{
        AttemptOutcome, AttemptReport, TokenError, TransientKind, TransportError, UpstreamResponse,
    },
};

/// Classifies the answer to one prompt POST.
pub(super) fn classify(response: &UpstreamResponse) -> AttemptReport {
    let status = response.status;
    let outcome = match status {
        StatusCode::OK | StatusCode::CREATED => AttemptOutcome::Delivered,
        StatusCode::TOO_MANY_REQUESTS => AttemptOutcome::RateLimited {
            retry_after: response
                .headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now())),
        },
        StatusCode::UNAUTHORIZED => AttemptOutcome::Unauthorized,
        StatusCode::FORBIDDEN => AttemptOutcome::Forbidden,
        s if s.is_server_error() => AttemptOutcome::Transient(TransientKind::ServerError),
        s if s.is_success() => AttemptOutcome::Delivered,
        _ => AttemptOutcome::Rejected,
    };
    AttemptReport {
        status: Some(status.as_u16()),
        outcome,
        receipt: None,
    }
}

/// A try that never got as far as a POST because no token could be had.
pub(in crate::tenant) fn token_failure(error: &TokenError) -> AttemptReport {
    match error {
        TokenError::Rejected { status, .. } => AttemptReport {
            status: Some(*status),
            outcome: AttemptOutcome::CredentialsRefused,
            receipt: None,
        },
        // The policy waits a token endpoint's 429 out like the prompts endpoint's.
        TokenError::RateLimited { retry_after } => AttemptReport {
            status: Some(429),
            outcome: AttemptOutcome::RateLimited {
                retry_after: *retry_after,
            },
            receipt: None,
        },
        TokenError::Unavailable { .. } => AttemptReport {
            status: None,
            outcome: AttemptOutcome::Transient(TransientKind::TokenUnavailable),
            receipt: None,
        },
    }
}

pub(in crate::tenant) fn transport_kind(error: TransportError) -> TransientKind {
    match error {
        TransportError::Timeout => TransientKind::Timeout,
        TransportError::Connect => TransientKind::Connect,
        TransportError::Broken => TransientKind::ConnectionClosed,
    }
}
