//! `PromptService`: eligibility, rate limit, delivery, record, correlation, in that order.

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;
use tokio::time::Instant;

use crate::{
    correlation::{CorrelationJob, CorrelationQueue},
    delivery::{self, DeliveryPolicy, Failure, Leg},
    domain::{Priority, PromptId, PromptRequest, ValidationLimits},
    eligibility::{EligibilityPolicy, Ineligible},
    error::ApiError,
    keywords::KeywordVocabulary,
    rate_limit::{Limited, RateLimiter},
    store::{
        CorrelationState, CorrelationUpdate, DeliveryStatus, PromptRecord, PromptStore, StoreError,
    },
    tenant::{OutboundPrompt, Tenant},
};

pub struct PromptService {
    pub eligibility: EligibilityPolicy,
    pub limiter: Arc<dyn RateLimiter>,
    pub tenant: Arc<dyn Tenant>,
    pub store: Arc<dyn PromptStore>,
    pub correlation: CorrelationQueue,
    pub policy: DeliveryPolicy,
    pub keywords: KeywordVocabulary,
    pub fallback_content: String,
    pub request_timeout: Duration,
    pub limits: ValidationLimits,
    /// Keep prompt content in records (`false`: only its hash, for privacy).
    pub store_content: bool,
}

/// A prompt the tenant accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptAccepted {
    pub prompt_id: PromptId,
    pub attempt: u32,
    pub fallback: bool,
    pub correlation: CorrelationState,
}

#[derive(Debug)]
pub enum SubmitError {
    Ineligible(Ineligible),
    RateLimited(Limited),
    Delivery {
        failure: Failure,
        prompt_id: PromptId,
    },
}

impl PromptService {
    pub async fn submit(&self, request: PromptRequest) -> Result<PromptAccepted, SubmitError> {
        // Cheapest checks first, and before the bucket, so refused requests cost no token.
        self.eligibility
            .check(&request.agent_id, request.sentiment)
            .map_err(SubmitError::Ineligible)?;
        self.limiter
            .try_acquire()
            .await
            .map_err(SubmitError::RateLimited)?;

        let received_at = OffsetDateTime::now_utc();
        let deadline = Instant::now() + self.request_timeout;
        let (primary, fallback) = self.outbound(request);
        let mut attempts = Vec::new();
        let delivery = delivery::deliver(
            self.tenant.as_ref(),
            &self.policy,
            deadline,
            &primary,
            &fallback,
            &mut attempts,
        );
        // The policy watches the deadline itself; this is the backstop for anything that
        // does not (a tenant adapter stuck past its own timeout).
        let result = tokio::time::timeout_at(deadline, delivery)
            .await
            .unwrap_or(Err(Failure::Timeout));

        let delivered_leg = result.as_ref().ok().map(|d| d.leg);
        let prompt_id = match delivered_leg {
            Some(Leg::Fallback) => fallback.prompt_id.clone(),
            _ => primary.prompt_id.clone(),
        };
        let record = PromptRecord {
            prompt_id: prompt_id.clone(),
            primary_prompt_id: primary.prompt_id.clone(),
            interaction_id: primary.interaction_id.clone(),
            agent_id: primary.agent_id.clone(),
            priority: primary.priority,
            sentiment: primary.sentiment,
            content_hash: content_hash(&primary.content),
            content: self.store_content.then(|| primary.content.clone()),
            request_id: None,
            status: match result {
                Ok(_) => DeliveryStatus::Delivered,
                Err(_) => DeliveryStatus::Failed,
            },
            failure: result.as_ref().err().map(failure_code),
            fallback: delivered_leg == Some(Leg::Fallback),
            attempt: result.as_ref().ok().map(|d| d.attempt),
            attempts,
            received_at,
            completed_at: OffsetDateTime::now_utc(),
            correlation: match result {
                Ok(_) => CorrelationState::Pending,
                Err(_) => CorrelationState::NotApplicable,
            },
            transcript_id: None,
            correlated_at: None,
            correlation_attempts: 0,
        };
        self.save(record).await;

        let delivered = result.map_err(|failure| SubmitError::Delivery {
            failure,
            prompt_id: prompt_id.clone(),
        })?;
        let correlation = self
            .start_correlation(CorrelationJob {
                prompt_id: prompt_id.clone(),
                interaction_id: primary.interaction_id,
                agent_id: primary.agent_id,
            })
            .await;
        tracing::info!(
            %prompt_id,
            attempt = delivered.attempt,
            fallback = delivered.leg == Leg::Fallback,
            "prompt delivered"
        );
        Ok(PromptAccepted {
            prompt_id,
            attempt: delivered.attempt,
            fallback: delivered.leg == Leg::Fallback,
            correlation,
        })
    }

    pub async fn find(&self, prompt_id: &str) -> Result<Option<PromptRecord>, StoreError> {
        self.store.get(prompt_id).await
    }

    fn outbound(&self, request: PromptRequest) -> (OutboundPrompt, OutboundPrompt) {
        let keywords = request
            .keywords
            .unwrap_or_else(|| self.keywords.find_in(&request.content));
        let fallback = OutboundPrompt {
            prompt_id: PromptId::generate(&request.interaction_id),
            interaction_id: request.interaction_id.clone(),
            agent_id: request.agent_id.clone(),
            content: self.fallback_content.clone(),
            priority: Priority::Low,
            sentiment: request.sentiment,
            keywords: keywords.clone(),
        };
        let primary = OutboundPrompt {
            prompt_id: PromptId::generate(&request.interaction_id),
            interaction_id: request.interaction_id,
            agent_id: request.agent_id,
            content: request.content,
            priority: request.priority,
            sentiment: request.sentiment,
            keywords,
        };
        (primary, fallback)
    }

    /// A delivered prompt must still get its answer when the record cannot be written, so a
    /// store failure is logged, not returned.
    async fn save(&self, record: PromptRecord) {
        let prompt_id = record.prompt_id.clone();
        if let Err(error) = self.store.insert(record).await {
            tracing::error!(%error, %prompt_id, "could not record prompt");
        }
    }

    async fn start_correlation(&self, job: CorrelationJob) -> CorrelationState {
        let prompt_id = job.prompt_id.clone();
        if self.correlation.enqueue(job) {
            return CorrelationState::Pending;
        }
        let update = CorrelationUpdate {
            state: CorrelationState::Skipped,
            transcript_id: None,
            attempts: 0,
        };
        if let Err(error) = self.store.update_correlation(&prompt_id, update).await {
            tracing::error!(%error, %prompt_id, "could not record skipped correlation");
        }
        CorrelationState::Skipped
    }
}

fn content_hash(content: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(content.as_bytes()))
}

fn failure_code(failure: &Failure) -> &'static str {
    match failure {
        Failure::Forbidden => "upstream_forbidden",
        Failure::Auth => "upstream_auth",
        Failure::RateLimited { .. } => "upstream_rate_limited",
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
                    Failure::Exhausted => ApiError::UpstreamFailed { prompt_id },
                    Failure::Timeout => ApiError::UpstreamTimeout {
                        prompt_id: Some(prompt_id),
                    },
                }
            }
        }
    }
}
