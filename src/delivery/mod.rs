//! The retry policy for one prompt: a primary leg, then a fallback leg, each with up to
//! `max_attempts` tries (plus one re-send after a 401), all inside the request deadline.
//! Independent of the tenant API.

mod record;

use std::{sync::Arc, time::Duration};

use tokio::{sync::Semaphore, time::Instant};

pub use record::{AttemptRecord, Leg};

use crate::{
    circuit_breaker::CircuitBreaker,
    cooldown::RateLimitCooldown,
    metrics::{AttemptLabels, Metrics},
    retry::{clamp_retry_after, Backoff},
    tenant::{AttemptOutcome, OutboundPrompt, Tenant},
};

#[derive(Debug, Clone, Copy)]
pub struct DeliveryPolicy {
    /// Tries per leg, 429 retries included (a re-send after a 401 is not counted).
    pub max_attempts: u32,
    pub backoff: Backoff,
    /// Ceiling for a wait the tenant asks for with `Retry-After`.
    pub retry_after_max: Duration,
    /// Ceiling for one POST (token fetch included); the deadline may cut it shorter.
    pub attempt_timeout: Duration,
}

/// A delivered prompt: which leg and which POST of that leg succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub leg: Leg,
    /// 1-based number of the successful POST within its leg (a try that found no token
    /// counts as one).
    pub attempt: u32,
}

/// Why a prompt was not delivered.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// 403: the tenant refuses this client.
    Forbidden,
    /// Credentials refused, or 401 with a fresh token.
    Auth,
    /// The tenant asked us to wait longer than the deadline allows.
    RateLimited { retry_after: Duration },
    /// The circuit breaker is open: the tenant has been failing; nothing was sent.
    Unavailable { retry_after: Duration },
    /// Primary and fallback both exhausted.
    Exhausted,
    /// The deadline ran out.
    Timeout,
}

enum LegEnd {
    Delivered(u32),
    /// Retries used up, or a 4xx that retrying cannot fix: the fallback may still help.
    /// `rate_limited`: the last try met a 429, with the wait the tenant asked for.
    Exhausted {
        rate_limited: Option<Duration>,
    },
    /// Nothing more is worth trying for this request.
    Stop(Failure),
}

/// Sends prompts to the tenant under the retry policy, the circuit breaker and the tenant's
/// shared rate-limit cooldown.
pub struct Deliverer {
    pub tenant: Arc<dyn Tenant>,
    pub policy: DeliveryPolicy,
    pub breaker: Arc<CircuitBreaker>,
    pub cooldown: RateLimitCooldown,
    /// One permit per prompt POST in flight (`tenant.max_concurrent_posts`).
    pub posts: Semaphore,
    pub metrics: Arc<Metrics>,
}

impl Deliverer {
    /// Delivers `primary`, or `fallback` if the primary leg is exhausted. Every POST is
    /// appended to `attempts`, which the caller owns, so the record survives even if this
    /// future is cancelled.
    pub async fn deliver(
        &self,
        deadline: Instant,
        primary: &OutboundPrompt,
        fallback: &OutboundPrompt,
        attempts: &mut Vec<AttemptRecord>,
    ) -> Result<Delivered, Failure> {
        let mut last_rate_limit = None;
        for (leg, prompt) in [(Leg::Primary, primary), (Leg::Fallback, fallback)] {
            match self.run_leg(deadline, leg, prompt, attempts).await {
                LegEnd::Delivered(attempt) => return Ok(Delivered { leg, attempt }),
                LegEnd::Stop(failure) => return Err(failure),
                LegEnd::Exhausted { rate_limited } => {
                    tracing::warn!(prompt_id = %prompt.prompt_id, leg = leg.as_str(), "delivery leg exhausted");
                    last_rate_limit = rate_limited;
                }
            }
        }
        // A tenant that throttled to the end is a 429 the caller can wait out, not a fault.
        Err(match last_rate_limit {
            Some(retry_after) => Failure::RateLimited { retry_after },
            None => Failure::Exhausted,
        })
    }

    async fn run_leg(
        &self,
        deadline: Instant,
        leg: Leg,
        prompt: &OutboundPrompt,
        attempts: &mut Vec<AttemptRecord>,
    ) -> LegEnd {
        let policy = &self.policy;
        // `number` counts the leg's POSTs (and tries that found no token); `tries` counts
        // what the policy allows. A re-send after a 401 is a POST of its own but no extra
        // try: it fixes our token, not the tenant.
        let mut number = 0;
        let mut tries = 0;
        let mut refreshed = false;
        loop {
            if let Err(failure) = self.wait_for_tenant(deadline).await {
                return LegEnd::Stop(failure);
            }
            // Past the cap a delivery waits its turn, within its deadline, instead of opening
            // one more connection to the tenant. The slot is held for the POST only.
            let Ok(Ok(slot)) = tokio::time::timeout_at(deadline, self.posts.acquire()).await else {
                return LegEnd::Stop(Failure::Timeout);
            };
            let budget = deadline.saturating_duration_since(Instant::now());
            if budget.is_zero() {
                return LegEnd::Stop(Failure::Timeout);
            }
            number += 1;
            let record = AttemptRecord::start(&prompt.prompt_id, leg, number);
            let report = self
                .tenant
                .send_prompt(prompt, budget.min(policy.attempt_timeout))
                .await;
            drop(slot);
            tracing::debug!(
                prompt_id = %prompt.prompt_id,
                leg = leg.as_str(),
                attempt = number,
                status = report.status,
                outcome = report.outcome.as_str(),
                "delivery attempt"
            );
            self.metrics
                .delivery_attempts
                .get_or_create(&AttemptLabels {
                    leg: leg.as_str(),
                    outcome: report.outcome.as_str(),
                })
                .inc();
            attempts.push(record.finish(&report));
            if report.outcome == AttemptOutcome::Unauthorized {
                // The tenant answered: it is up.
                self.breaker.record_success();
                if refreshed {
                    return LegEnd::Stop(Failure::Auth);
                }
                refreshed = true;
                continue;
            }
            tries += 1;
            let last = tries >= policy.max_attempts;

            let wait = match report.outcome {
                AttemptOutcome::Transient(_) => {
                    self.breaker.record_failure();
                    if last {
                        return LegEnd::Exhausted { rate_limited: None };
                    }
                    policy.backoff.delay_random(tries)
                }
                AttemptOutcome::RateLimited { retry_after } => {
                    let asked = retry_after.unwrap_or_else(|| policy.backoff.delay_random(tries));
                    // Later requests wait this out too (capped like our own wait), instead of
                    // each meeting a 429. The tenant is up: a 429 is an answer.
                    self.cooldown.note(asked.min(policy.retry_after_max));
                    self.breaker.record_success();
                    let wait = clamp_retry_after(asked, policy.retry_after_max, rand::random());
                    // Waiting past the deadline would only turn a clear 429 into a 504.
                    if Instant::now() + wait >= deadline {
                        return LegEnd::Stop(Failure::RateLimited { retry_after: asked });
                    }
                    // The fallback's first POST waits out the same cooldown.
                    if last {
                        return LegEnd::Exhausted {
                            rate_limited: Some(asked),
                        };
                    }
                    self.metrics.retry_after_wait.observe(wait.as_secs_f64());
                    wait
                }
                outcome => {
                    // Any other answer means the tenant is up.
                    self.breaker.record_success();
                    return match outcome {
                        AttemptOutcome::Delivered => LegEnd::Delivered(number),
                        AttemptOutcome::Forbidden => LegEnd::Stop(Failure::Forbidden),
                        AttemptOutcome::CredentialsRefused => LegEnd::Stop(Failure::Auth),
                        _ => LegEnd::Exhausted { rate_limited: None },
                    };
                }
            };
            tracing::info!(
                prompt_id = %prompt.prompt_id,
                leg = leg.as_str(),
                attempt = number,
                wait_ms = wait.as_millis() as u64,
                "retrying delivery"
            );
            tokio::time::sleep_until((Instant::now() + wait).min(deadline)).await;
        }
    }

    /// Waits out a tenant cooldown if it ends before the deadline, and asks the breaker.
    async fn wait_for_tenant(&self, deadline: Instant) -> Result<(), Failure> {
        if let Some(left) = self.cooldown.remaining() {
            if Instant::now() + left >= deadline {
                return Err(Failure::RateLimited { retry_after: left });
            }
            self.metrics.retry_after_wait.observe(left.as_secs_f64());
            tokio::time::sleep(left).await;
        }
        self.breaker.try_pass().map_err(|open| {
            self.metrics.breaker_rejections.inc();
            Failure::Unavailable {
                retry_after: open.retry_after,
            }
        })
    }
}
