//! One leg of a delivery: the POSTs of one prompt (primary or fallback) until the tenant
//! accepts it, refuses it for good, or the leg's tries run out.

use tokio::time::Instant;

use super::{tenant_gate::verdict, AttemptRecord, Deliverer, Failure, Leg};
use crate::{
    metrics::AttemptLabels,
    retry::clamp_retry_after,
    tenant::{AttemptOutcome, OutboundPrompt},
};

pub(super) enum LegEnd {
    /// The POST's number within the leg, and the tenant's id for the prompt.
    Delivered(u32, Option<String>),
    /// Retries used up, or a 4xx that retrying cannot fix: the fallback may still help.
    /// `rate_limited`: the last try met a 429, with the wait the tenant asked for.
    Exhausted {
        rate_limited: Option<std::time::Duration>,
    },
    /// Nothing more is worth trying for this request.
    Stop(Failure),
}

impl Deliverer {
    pub(super) async fn run_leg(
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
            // A spent deadline outranks whatever cooldown or breaker state there is.
            if Instant::now() >= deadline {
                return LegEnd::Stop(Failure::Timeout);
            }
            if let Err(failure) = self.wait_for_tenant(deadline, !attempts.is_empty()).await {
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
            self.record(verdict(&report.outcome, budget >= policy.attempt_timeout));
            if report.outcome == AttemptOutcome::Unauthorized {
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
                    if last {
                        return LegEnd::Exhausted { rate_limited: None };
                    }
                    policy.backoff.delay_random(tries)
                }
                AttemptOutcome::RateLimited { retry_after } => {
                    let asked = retry_after.unwrap_or_else(|| policy.backoff.delay_random(tries));
                    // Later requests wait this out too (capped like our own wait), instead of
                    // each meeting a 429.
                    self.cooldown.note(asked.min(policy.retry_after_max));
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
                AttemptOutcome::Delivered => return LegEnd::Delivered(number, report.receipt),
                AttemptOutcome::Forbidden => return LegEnd::Stop(Failure::Forbidden),
                AttemptOutcome::CredentialsRefused => return LegEnd::Stop(Failure::Auth),
                AttemptOutcome::Rejected | AttemptOutcome::Unauthorized => {
                    return LegEnd::Exhausted { rate_limited: None }
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
}
