//! `PromptService`: eligibility, rate limit, delivery, record, correlation, in that order.

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;
use tokio::time::Instant;

mod idempotency;
mod key_settling;
mod outcome;
mod pending;
mod recording;
mod retraction;
mod validation;

pub use idempotency::{Claim, IdempotencyKey, Keyed};
pub use key_settling::UnsettledKeys;
use outcome::failure_code;
pub use outcome::SubmitError;
pub use pending::{pending_writes, PENDING_WRITES_MAX};
pub use recording::RECORD_WAIT_MARGIN;

use crate::{
    config::Acknowledge,
    correlation::CorrelationQueue,
    delivery::{Deliverer, Failure, Leg},
    domain::{Priority, PromptId, PromptRequest, ValidationLimits},
    eligibility::EligibilityPolicy,
    keywords::KeywordVocabulary,
    metrics::{DeliveryOutcome, Metrics},
    rate_limit::RateLimiter,
    refusals::RefusalCounter,
    store::{
        BatchWriter, CorrelationState, DeliveryStatus, PromptRecord, PromptStore, RefusalKind,
        StoreError,
    },
    tenant::OutboundPrompt,
};

pub struct PromptService {
    pub eligibility: EligibilityPolicy,
    pub limiter: Arc<dyn RateLimiter>,
    pub deliverer: Deliverer,
    pub store: Arc<dyn PromptStore>,
    /// Records are written through this, many to a transaction.
    pub ledger: BatchWriter,
    pub refusals: Arc<RefusalCounter>,
    /// Deliveries in progress, detached from their HTTP requests; drained on shutdown.
    pub tasks: tokio_util::task::TaskTracker,
    pub correlation: CorrelationQueue,
    /// A delivered prompt's correlation job gives up after this.
    pub correlation_give_up: Duration,
    pub metrics: Arc<Metrics>,
    pub keywords: KeywordVocabulary,
    pub fallback_content: String,
    pub request_timeout: Duration,
    pub limits: ValidationLimits,
    /// Keep prompt content in records (`false`: only its hash, for privacy).
    pub store_content: bool,
    /// A repeated `Idempotency-Key` replays the first answer within this many seconds.
    pub idempotency_window_secs: u64,
    /// Withdrawals run one at a time, so a repeated `DELETE` sends one withdrawal.
    pub retractions: tokio::sync::Mutex<()>,
    /// Whether a delivered prompt's answer waits for its record's commit.
    pub acknowledge: Acknowledge,
    /// Ledger writes still running past their answers (see [`pending_writes`]).
    pub pending_writes: Arc<tokio::sync::Semaphore>,
    /// Idempotent answers decided here and not yet written to the ledger.
    pub unsettled: UnsettledKeys,
}

/// A prompt the tenant accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptAccepted {
    pub prompt_id: PromptId,
    pub attempt: u32,
    pub fallback: bool,
    pub correlation: CorrelationState,
    /// Answered from an earlier delivery's record; nothing was sent this time.
    pub replayed: bool,
    /// Whether the record had committed when the answer left; `false`: it is still to be
    /// written (the ledger is slow or stalled, or the answer does not wait for it).
    pub recorded: bool,
}

/// Who asked, as the HTTP layer knows it.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The request's `x-request-id`, passed on to the tenant and kept in the record.
    pub request_id: Option<String>,
}

/// Proof that a request passed eligibility and the rate limit; only the service makes one,
/// and [`PromptService::send`] takes it, so nothing is sent that was not admitted.
#[must_use = "an admitted request has taken a rate-limit token"]
pub struct Admitted {
    /// When the request must be answered.
    deadline: Instant,
}

impl PromptService {
    /// When a request arriving now must be answered.
    pub fn deadline(&self) -> Instant {
        Instant::now() + self.request_timeout
    }

    /// Eligibility, then the rate limit: the checks that refuse a request without sending
    /// anything. Nothing here needs the delivery task, so a refusal is answered without one.
    pub async fn admit(
        &self,
        request: &PromptRequest,
        deadline: Instant,
    ) -> Result<Admitted, SubmitError> {
        self.check_eligible(request)?;
        self.take_token(deadline).await
    }

    // Always checked before the bucket (the cheapest check first), so a request refused here
    // costs no token.
    fn check_eligible(&self, request: &PromptRequest) -> Result<(), SubmitError> {
        self.eligibility
            .check(&request.agent_id, request.sentiment)
            .map_err(|ineligible| {
                self.metrics.delivery(DeliveryOutcome::Ineligible);
                self.count_refusal(RefusalKind::Ineligible);
                SubmitError::Ineligible(ineligible)
            })
    }

    async fn take_token(&self, deadline: Instant) -> Result<Admitted, SubmitError> {
        match self.limiter.try_acquire().await {
            Ok(()) => Ok(Admitted { deadline }),
            Err(limited) => {
                self.metrics.delivery(DeliveryOutcome::RateLimited);
                self.count_refusal(RefusalKind::RateLimited);
                Err(SubmitError::RateLimited(limited))
            }
        }
    }

    /// Delivers an admitted prompt (with retries and the fallback), records it, and queues
    /// its correlation.
    pub async fn send(
        &self,
        request: PromptRequest,
        context: &RequestContext,
        admitted: Admitted,
    ) -> Result<PromptAccepted, SubmitError> {
        let received_at = OffsetDateTime::now_utc();
        let started = Instant::now();
        let deadline = admitted.deadline;
        let (primary, fallback) = self.outbound(request, context);
        let mut attempts = Vec::new();
        let delivery = self
            .deliverer
            .deliver(deadline, &primary, &fallback, &mut attempts);
        // The policy watches the deadline itself; this is the backstop for anything that
        // does not (a tenant adapter stuck past its own timeout).
        let result = tokio::time::timeout_at(deadline, delivery)
            .await
            .unwrap_or(Err(Failure::Timeout));

        // Prompts turned away before any attempt (breaker, cooldown, a POST slot never free)
        // would pull the latency percentiles down in an outage: they are not timed.
        let reached_tenant = !attempts.is_empty();
        let delivered_leg = result.as_ref().ok().map(|d| d.leg);
        let prompt_id = match delivered_leg {
            Some(Leg::Fallback) => fallback.prompt_id.clone(),
            _ => primary.prompt_id.clone(),
        };
        tracing::Span::current().record("prompt_id", prompt_id.as_str());
        // The record keeps what reached the agent's screen: the fallback's text when the
        // fallback leg delivered, the primary's otherwise (also when nothing was delivered).
        let shown = match delivered_leg {
            Some(Leg::Fallback) => &fallback.content,
            _ => &primary.content,
        };
        let record = PromptRecord {
            prompt_id: prompt_id.clone(),
            primary_prompt_id: primary.prompt_id.clone(),
            interaction_id: primary.interaction_id.clone(),
            agent_id: primary.agent_id.clone(),
            priority: primary.priority,
            sentiment: primary.sentiment,
            content_hash: content_hash(shown),
            content: self.store_content.then(|| shown.clone()),
            request_id: context.request_id.clone(),
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
            tenant_message_id: result.as_ref().ok().and_then(|d| d.receipt.clone()),
            correlation_detail: None,
            retracted_at: None,
        };
        let recorded = self.save(record, deadline).await;
        self.metrics.delivery(match &result {
            Ok(d) if d.leg == Leg::Fallback => DeliveryOutcome::Fallback,
            Ok(_) => DeliveryOutcome::Delivered,
            Err(_) => DeliveryOutcome::Failed,
        });
        if reached_tenant {
            self.metrics
                .delivery_duration
                .observe(started.elapsed().as_secs_f64());
        }
        let delivered = result.map_err(|failure| SubmitError::Delivery {
            failure,
            prompt_id: prompt_id.clone(),
        })?;
        tracing::debug!(
            attempt = delivered.attempt,
            fallback = delivered.leg == Leg::Fallback,
            "prompt delivered"
        );
        Ok(PromptAccepted {
            prompt_id,
            attempt: delivered.attempt,
            fallback: delivered.leg == Leg::Fallback,
            correlation: CorrelationState::Pending,
            replayed: false,
            recorded,
        })
    }

    pub async fn find(&self, prompt_id: &str) -> Result<Option<PromptRecord>, StoreError> {
        self.store.get(prompt_id).await
    }

    fn outbound(
        &self,
        request: PromptRequest,
        context: &RequestContext,
    ) -> (OutboundPrompt, OutboundPrompt) {
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
            request_id: context.request_id.clone(),
        };
        let primary = OutboundPrompt {
            prompt_id: request.prompt_id.map_or_else(
                || PromptId::generate(&request.interaction_id),
                PromptId::from_existing,
            ),
            interaction_id: request.interaction_id,
            agent_id: request.agent_id,
            content: request.content,
            priority: request.priority,
            sentiment: request.sentiment,
            keywords,
            request_id: context.request_id.clone(),
        };
        (primary, fallback)
    }

    /// Refused requests are counted (per day in the ledger), not recorded one by one.
    pub fn count_refusal(&self, kind: RefusalKind) {
        self.refusals.count(kind);
    }
}

fn content_hash(content: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(content.as_bytes()))
}
