//! The retry policy for one prompt: a primary leg, then a fallback leg, each with up to
//! `max_attempts` tries (plus one re-send after a 401), all inside the request deadline.
//! Independent of the tenant API.
//!
//! How a delivery ends, the first of these that applies:
//! 1. the tenant accepted a POST: delivered, whatever else happened;
//! 2. the request's deadline is spent: [`Failure::Timeout`], whatever cooldown or breaker
//!    state exists (our own clock ran out; the tenant did not refuse anything);
//! 3. the tenant's final word: [`Failure::Forbidden`], [`Failure::Auth`];
//! 4. the tenant asked for a wait that would pass the deadline: [`Failure::RateLimited`];
//! 5. the breaker refused before any POST of this prompt was sent: [`Failure::Unavailable`]
//!    (nothing was sent); once a POST has gone out, a refusal ends the prompt as
//!    [`Failure::Exhausted`];
//! 6. otherwise [`Failure::Exhausted`].

mod leg;
mod record;
mod tenant_gate;
#[cfg(test)]
mod tests;

use std::{sync::Arc, time::Duration};

use tokio::{sync::Semaphore, time::Instant};

pub use record::{AttemptRecord, Leg};

use crate::{
    circuit_breaker::CircuitBreaker,
    cooldown::RateLimitCooldown,
    metrics::Metrics,
    retry::Backoff,
    tenant::{OutboundPrompt, Tenant},
};
use leg::LegEnd;

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
    /// The tenant's own id for the prompt, when it gives one.
    pub receipt: Option<String>,
}

/// Why a prompt was not delivered; the module's documentation says which wins when several
/// apply.
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
                LegEnd::Delivered(attempt, receipt) => {
                    return Ok(Delivered {
                        leg,
                        attempt,
                        receipt,
                    })
                }
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
}
