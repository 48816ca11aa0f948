//! Fails deliveries fast while the tenant is down, instead of every request spending its
//! whole deadline on retries. Closed → (N consecutive failures) → open → (cooldown) →
//! half-open: one probe; its success closes the breaker, its failure re-opens it.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::clock::Clock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    HalfOpen,
    Open,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }

    /// The value of the `circuit_breaker_state` gauge.
    pub fn as_gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        }
    }
}

/// The breaker refused a call; the tenant may be tried again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerOpen {
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// `probe_started` lets a new probe through if the last one never reported back (its
    /// request was cancelled), so the breaker cannot stick half-open.
    HalfOpen {
        probe_started: Instant,
    },
}

pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub fn new(threshold: u32, cooldown: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            clock,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks to call the tenant.
    pub fn try_pass(&self) -> Result<(), BreakerOpen> {
        let now = self.clock.now();
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } if now < until => Err(BreakerOpen {
                retry_after: until - now,
            }),
            State::HalfOpen { probe_started } if now < probe_started + self.cooldown => {
                Err(BreakerOpen {
                    retry_after: probe_started + self.cooldown - now,
                })
            }
            // Cooldown over, or the last probe vanished: this caller is the probe.
            State::Open { .. } | State::HalfOpen { .. } => {
                *state = State::HalfOpen { probe_started: now };
                Ok(())
            }
        }
    }

    /// The tenant answered (any answer but a 5xx): it is up.
    pub fn record_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    /// A 5xx, timeout or connection error.
    pub fn record_failure(&self) {
        let now = self.clock.now();
        let mut state = self.lock();
        *state = match *state {
            State::Closed { failures } if failures + 1 < self.threshold => State::Closed {
                failures: failures + 1,
            },
            State::Closed { .. } | State::HalfOpen { .. } => {
                tracing::warn!(
                    cooldown_ms = self.cooldown.as_millis() as u64,
                    "circuit breaker opened: the tenant keeps failing"
                );
                State::Open {
                    until: now + self.cooldown,
                }
            }
            open @ State::Open { .. } => open,
        };
    }

    pub fn state(&self) -> BreakerState {
        let now = self.clock.now();
        match *self.lock() {
            State::Closed { .. } => BreakerState::Closed,
            State::Open { until } if now < until => BreakerState::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn breaker(clock: &ManualClock) -> CircuitBreaker {
        CircuitBreaker::new(3, Duration::from_secs(10), Arc::new(clock.clone()))
    }

    #[test]
    fn opens_after_the_threshold_of_consecutive_failures() {
        let clock = ManualClock::default();
        let b = breaker(&clock);
        b.record_failure();
        b.record_failure();
        b.record_success();
        b.record_failure();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Closed, "a success resets the run");
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.try_pass().unwrap_err().retry_after,
            Duration::from_secs(10)
        );
    }

    #[test]
    fn half_opens_after_the_cooldown_for_one_probe() {
        let clock = ManualClock::default();
        let b = breaker(&clock);
        (0..3).for_each(|_| b.record_failure());
        clock.advance(Duration::from_secs(10));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.try_pass().is_ok(), "the probe");
        assert!(b.try_pass().is_err(), "only one probe at a time");
        b.record_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.try_pass().is_ok());
    }

    #[test]
    fn a_failed_probe_reopens_for_a_full_cooldown() {
        let clock = ManualClock::default();
        let b = breaker(&clock);
        (0..3).for_each(|_| b.record_failure());
        clock.advance(Duration::from_secs(10));
        b.try_pass().unwrap();
        b.record_failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.try_pass().unwrap_err().retry_after,
            Duration::from_secs(10)
        );
    }

    #[test]
    fn a_probe_that_never_reports_back_is_replaced() {
        let clock = ManualClock::default();
        let b = breaker(&clock);
        (0..3).for_each(|_| b.record_failure());
        clock.advance(Duration::from_secs(10));
        b.try_pass().unwrap();
        clock.advance(Duration::from_secs(10));
        assert!(b.try_pass().is_ok());
    }
}
