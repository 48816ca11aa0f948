//! Time for validity windows (token expiry, bucket refill). Injected so tests can move time
//! forward instead of sleeping. Waiting itself (backoff, deadlines) uses tokio's timer.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to; for tests.
#[derive(Debug, Clone)]
pub struct ManualClock {
    start: Instant,
    offset: Arc<Mutex<Duration>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            offset: Arc::default(),
        }
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        let mut offset = self.offset.lock().unwrap_or_else(|e| e.into_inner());
        *offset += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + *self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }
}
