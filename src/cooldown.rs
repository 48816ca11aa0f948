//! The tenant's own rate limit, shared by every request: once the tenant answers 429 with
//! `Retry-After`, later deliveries wait out (or fail fast against) the same cooldown instead
//! of each discovering it with another 429.

use std::{sync::Mutex, time::Duration};

use tokio::time::Instant;

#[derive(Default)]
pub struct RateLimitCooldown {
    until: Mutex<Option<Instant>>,
}

impl RateLimitCooldown {
    /// Records a 429; the cooldown only ever extends.
    pub fn note(&self, retry_after: Duration) {
        let Some(candidate) = Instant::now().checked_add(retry_after) else {
            return;
        };
        let mut until = self.until.lock().unwrap_or_else(|e| e.into_inner());
        if until.is_none_or(|current| current < candidate) {
            *until = Some(candidate);
        }
    }

    /// How long until the tenant accepts prompts again; `None` when it does now.
    pub fn remaining(&self) -> Option<Duration> {
        let until = *self.until.lock().unwrap_or_else(|e| e.into_inner());
        until
            .map(|until| until.saturating_duration_since(Instant::now()))
            .filter(|left| !left.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_cooldown_extends_but_never_shrinks_and_then_ends() {
        let c = RateLimitCooldown::default();
        assert_eq!(c.remaining(), None);
        c.note(Duration::from_secs(5));
        c.note(Duration::from_secs(2));
        assert_eq!(c.remaining(), Some(Duration::from_secs(5)));
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(c.remaining(), Some(Duration::from_secs(1)));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(c.remaining(), None);
    }
}
