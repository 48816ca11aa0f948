//! What the ledger's writer task is doing, for readiness: a commit that has waited long (a
//! locked table, a database that does not answer) or keeps failing means answers go out
//! before their records are written.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use tokio::time::Instant;

/// Shared between the writer task and its readers. Cheap to clone.
#[derive(Clone, Default)]
pub struct WriterHealth(Arc<State>);

#[derive(Default)]
struct State {
    /// When the commit now running started; `None` between commits.
    commit_started: Mutex<Option<Instant>>,
    /// Whether the last commit attempt failed (it is being retried).
    failing: AtomicBool,
}

impl WriterHealth {
    pub(super) fn commit_starts(&self) {
        *self.lock() = Some(Instant::now());
    }

    pub(super) fn commit_ends(&self, succeeded: bool) {
        *self.lock() = None;
        self.0.failing.store(!succeeded, Ordering::Relaxed);
    }

    /// Whether the last commit failed and nothing has committed since.
    pub fn failing(&self) -> bool {
        self.0.failing.load(Ordering::Relaxed)
    }

    /// How long the commit now running has waited, if one is running.
    pub fn stalled_for(&self) -> Option<Duration> {
        self.lock().map(|started| started.elapsed())
    }

    /// Why the writer cannot commit, when a commit has run longer than `stall` or the last
    /// one failed; `None` when it is keeping up.
    pub fn problem(&self, stall: Duration) -> Option<String> {
        match self.stalled_for() {
            Some(waited) if waited > stall => {
                Some(format!("a commit has waited {:.1} s", waited.as_secs_f64()))
            }
            _ if self.failing() => Some("commits are failing and being retried".into()),
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // A poisoned lock still holds a valid instant: the writer only assigns it.
        self.0
            .commit_started
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
