//! Ledger writes that outlive their answers. A prompt on an agent's screen is answered by its
//! deadline whatever the ledger does; a write that has not finished by then goes on in a task
//! of the service's own (drained on shutdown) and lands when the ledger recovers. Their number
//! is bounded, so a ledger that stays away costs bounded memory.

use std::{future::Future, sync::Arc};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::PromptService;

/// Most ledger writes (records and idempotency answers) kept waiting past their answers;
/// each holds a record of a few KiB, so a few thousand stay within a few tens of MiB.
pub const PENDING_WRITES_MAX: usize = 4096;

/// The permits for [`PENDING_WRITES_MAX`] writes.
pub fn pending_writes() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(PENDING_WRITES_MAX))
}

/// What a write left behind is, for the gauge of records awaiting their commit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PendingKind {
    Record,
    IdempotencyAnswer,
}

impl PromptService {
    /// A slot for one more write past its answer, or `None` when [`PENDING_WRITES_MAX`] are
    /// already waiting.
    pub(super) fn pending_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.pending_writes.clone().try_acquire_owned().ok()
    }

    /// Lets `finish` (the rest of a write whose answer is leaving) run to its end in a task
    /// holding `slot`.
    pub(super) fn keep_pending(
        &self,
        kind: PendingKind,
        slot: OwnedSemaphorePermit,
        finish: impl Future<Output = ()> + Send + 'static,
    ) {
        let metrics = self.metrics.clone();
        let counted = kind == PendingKind::Record;
        if counted {
            metrics.ledger_records_awaiting_commit.inc();
        }
        let task = async move {
            finish.await;
            if counted {
                metrics.ledger_records_awaiting_commit.dec();
            }
            drop(slot);
        };
        self.tasks.spawn(tracing::Instrument::in_current_span(task));
    }

    /// Counts and logs a write given up because [`PENDING_WRITES_MAX`] were waiting.
    pub(super) fn lose_pending(&self, what: &'static str) {
        tracing::error!(
            limit = PENDING_WRITES_MAX,
            what,
            "too many ledger writes are waiting for the ledger; this one is dropped"
        );
        self.metrics.ledger_writes_lost("pending_limit", 1);
    }
}
