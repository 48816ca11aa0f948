//! How a submission ends when no prompt is accepted, and what the caller is answered then.

use super::PromptId;
use crate::{delivery::Failure, eligibility::Ineligible, error::ApiError, rate_limit::Limited};

#[derive(Debug)]
pub enum SubmitError {
    Ineligible(Ineligible),
    RateLimited(Limited),
    Delivery {
        failure: Failure,
        prompt_id: PromptId,
    },
}

pub(super) fn failure_code(failure: &Failure) -> &'static str {
    match failure {
        Failure::Forbidden => "upstream_forbidden",
        Failure::Auth => "upstream_auth",
        Failure::RateLimited { .. } => "upstream_rate_limited",
        Failure::Unavailable { .. } => "upstream_unavailable",
        Failure::Exhausted => "upstream_failed",
        Failure::Timeout => "upstream_timeout",
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::Ineligible(Ineligible { reason }) => ApiError::Ineligible { reason },
            SubmitError::RateLimited(Limited { retry_after }) => {
                ApiError::RateLimited { retry_after }
            }
            SubmitError::Delivery { failure, prompt_id } => {
                let prompt_id = prompt_id.to_string();
                match failure {
                    Failure::Forbidden => ApiError::UpstreamForbidden { prompt_id },
                    Failure::Auth => ApiError::UpstreamAuth { prompt_id },
                    Failure::RateLimited { retry_after } => ApiError::UpstreamRateLimited {
                        retry_after,
                        prompt_id,
                    },
                    Failure::Unavailable { retry_after } => ApiError::UpstreamUnavailable {
                        retry_after,
                        prompt_id,
                    },
                    Failure::Exhausted => ApiError::UpstreamFailed { prompt_id },
                    Failure::Timeout => ApiError::UpstreamTimeout {
                        prompt_id: Some(prompt_id),
                    },
                }
            }
        }
    }
}
