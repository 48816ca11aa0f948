//! How the tutorial tenant's answers map onto the retry policy's outcomes.

use axum::http::StatusCode;

use crate::tenant::{
    upstream::retry_after, AttemptOutcome, AttemptReport, TransientKind, UpstreamResponse,
};

/// Classifies the answer to one prompt POST.
pub(super) fn classify(response: &UpstreamResponse) -> AttemptReport {
    let status = response.status;
    let outcome = match status {
        StatusCode::OK | StatusCode::CREATED => AttemptOutcome::Delivered,
        StatusCode::TOO_MANY_REQUESTS => AttemptOutcome::RateLimited {
            retry_after: retry_after(&response.headers),
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
