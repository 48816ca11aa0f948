//! The local rate limit applied before delivery: a token bucket (burst, then a sustained
//! rate). Behind a trait so a shared backend for several replicas can replace it.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use async_trait::async_trait;

use crate::{
    clock::Clock,
    config::{RateLimitBackend, RateLimitSettings},
};

/// No token is free; one will be after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limited {
    pub retry_after: Duration,
}

#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Takes one token, or says how long until one is free.
    async fn try_acquire(&self) -> Result<(), Limited>;

    /// Tokens available now (for the metrics gauge).
    async fn available(&self) -> f64;
}

/// Builds the limiter the settings ask for.
pub fn from_settings(settings: &RateLimitSettings, clock: Arc<dyn Clock>) -> Arc<dyn RateLimiter> {
    match settings.backend {
        RateLimitBackend::Memory => Arc::new(LocalBucket::new(
            f64::from(settings.burst),
            settings.per_second,
            clock,
        )),
    }
}

/// An in-process bucket. The lock is held only for a few arithmetic operations.
pub struct LocalBucket {
    burst: f64,
    per_second: f64,
    clock: Arc<dyn Clock>,
    state: Mutex<BucketState>,
}

#[derive(Debug, Clone, Copy)]
struct BucketState {
    tokens: f64,
    updated: Instant,
}

impl LocalBucket {
    /// Starts full, so a fresh process allows a whole burst.
    pub fn new(burst: f64, per_second: f64, clock: Arc<dyn Clock>) -> Self {
        let updated = clock.now();
        Self {
            burst,
            per_second,
            clock,
            state: Mutex::new(BucketState {
                tokens: burst,
                updated,
            }),
        }
    }
}

#[async_trait]
impl RateLimiter for LocalBucket {
    async fn try_acquire(&self) -> Result<(), Limited> {
        let now = self.clock.now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(state.updated);
        state.tokens = refill(state.tokens, elapsed, self.per_second, self.burst);
        state.updated = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            Ok(())
        } else {
            Err(Limited {
                retry_after: wait_for_one(state.tokens, self.per_second),
            })
        }
    }

    async fn available(&self) -> f64 {
        let now = self.clock.now();
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(state.updated);
        refill(state.tokens, elapsed, self.per_second, self.burst)
    }
}

/// Tokens after `elapsed` at `per_second`, never above `burst`.
fn refill(tokens: f64, elapsed: Duration, per_second: f64, burst: f64) -> f64 {
    (tokens + elapsed.as_secs_f64() * per_second).min(burst)
}

/// Time until the bucket holds one whole token.
fn wait_for_one(tokens: f64, per_second: f64) -> Duration {
    // Saturates rather than panics for a rate so slow the wait overflows a Duration.
    Duration::try_from_secs_f64(((1.0 - tokens) / per_second).max(0.0)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn refill_is_linear_and_capped_at_burst() {
        assert_eq!(refill(0.0, Duration::from_millis(500), 2.0, 10.0), 1.0);
        assert_eq!(refill(9.5, Duration::from_secs(10), 2.0, 10.0), 10.0);
        assert_eq!(refill(3.0, Duration::ZERO, 2.0, 10.0), 3.0);
    }

    #[test]
    fn wait_is_the_time_to_one_whole_token() {
        assert_eq!(wait_for_one(0.0, 2.0), Duration::from_millis(500));
        assert_eq!(wait_for_one(0.75, 0.5), Duration::from_millis(500));
        assert_eq!(wait_for_one(1.0, 2.0), Duration::ZERO);
        assert_eq!(wait_for_one(0.0, 1e-300), Duration::MAX);
    }

    #[tokio::test]
    async fn burst_then_limited_then_refilled() {
        let clock = ManualClock::default();
        let bucket = LocalBucket::new(3.0, 2.0, Arc::new(clock.clone()));
        for _ in 0..3 {
            assert!(bucket.try_acquire().await.is_ok());
        }
        let limited = bucket.try_acquire().await.unwrap_err();
        assert_eq!(limited.retry_after, Duration::from_millis(500));

        clock.advance(Duration::from_millis(499));
        assert!(bucket.try_acquire().await.is_err());
        clock.advance(Duration::from_millis(1));
        assert!(bucket.try_acquire().await.is_ok());
        assert!(bucket.try_acquire().await.is_err());

        clock.advance(Duration::from_secs(60));
        for _ in 0..3 {
            assert!(bucket.try_acquire().await.is_ok());
        }
        assert!(
            bucket.try_acquire().await.is_err(),
            "refill never exceeds the burst"
        );
    }
}
