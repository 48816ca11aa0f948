//! What stands between a prompt and the tenant: the tenant's own cooldown and the circuit
//! breaker, and what one attempt tells the breaker about the tenant.

use tokio::time::Instant;

use super::{Deliverer, Failure};
use crate::{
    retry::clamp_retry_after,
    tenant::{AttemptOutcome, TransientKind},
};

/// What an attempt says about the tenant's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The tenant answered: it is up.
    Up,
    /// The tenant failed this exchange.
    Failed,
    /// The attempt says nothing the breaker should count.
    NotCounted,
}

/// The breaker counts tenant exchanges, not requests, and only faults that are the tenant's:
/// - any answer (2xx, 4xx, 429, 401) is `Up`: the tenant is there;
/// - a 5xx, a refused or broken connection, or a timeout of a POST that had its full
///   `attempt_timeout` is `Failed`;
/// - a timeout of a POST given less than its full `attempt_timeout` is `NotCounted`: the
///   request's own deadline cut it short (after waiting for a POST slot, say), which says
///   nothing about the tenant;
/// - a try that found no token is `NotCounted` here: the token cache counts each fetch once
///   where it runs, however many requests waited on it; so is one that found no API host
///   (discovery runs once for all waiting requests, after a token was had).
pub(super) fn verdict(outcome: &AttemptOutcome, full_budget: bool) -> Verdict {
    match outcome {
        AttemptOutcome::Transient(
            TransientKind::TokenUnavailable | TransientKind::DiscoveryUnavailable,
        ) => Verdict::NotCounted,
        AttemptOutcome::Transient(TransientKind::Timeout) if !full_budget => Verdict::NotCounted,
        AttemptOutcome::Transient(_) => Verdict::Failed,
        _ => Verdict::Up,
    }
}

impl Deliverer {
    pub(super) fn record(&self, verdict: Verdict) {
        match verdict {
            Verdict::Up => self.breaker.record_success(),
            Verdict::Failed => self.breaker.record_failure(),
            Verdict::NotCounted => {}
        }
    }

    /// Waits out a tenant cooldown if it ends before the deadline, and asks the breaker.
    /// `sent` says whether this prompt has had a POST already (a breaker refusal then is not
    /// "nothing was sent").
    pub(super) async fn wait_for_tenant(
        &self,
        deadline: Instant,
        sent: bool,
    ) -> Result<(), Failure> {
        if let Some(left) = self.cooldown.remaining() {
            // Everyone waiting on one cooldown would otherwise reach the tenant in the same
            // instant it ends: spread them over up to a tenth of the wait.
            let wait = clamp_retry_after(left, left, rand::random());
            if Instant::now() + wait >= deadline {
                return Err(Failure::RateLimited { retry_after: left });
            }
            self.metrics.retry_after_wait.observe(wait.as_secs_f64());
            tokio::time::sleep(wait).await;
        }
        self.breaker.try_pass().map_err(|open| {
            self.metrics.breaker_rejections.inc();
            if sent {
                Failure::Exhausted
            } else {
                Failure::Unavailable {
                    retry_after: open.retry_after,
                }
            }
        })
    }
}
