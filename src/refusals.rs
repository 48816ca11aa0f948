//! Refused requests (invalid, ineligible, rate limited) are counted in memory and added to the
//! ledger once a second by an owned task: a flood of 429s then costs an atomic add each, not a
//! database write each.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::{PromptStore, RefusalKind};

const KINDS: [RefusalKind; 3] = [
    RefusalKind::Invalid,
    RefusalKind::Ineligible,
    RefusalKind::RateLimited,
];

#[derive(Default)]
pub struct RefusalCounter {
    counts: [AtomicU64; 3],
}

impl RefusalCounter {
    pub fn count(&self, kind: RefusalKind) {
        let slot = KINDS.iter().position(|k| *k == kind).unwrap_or_default();
        self.counts[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// Refusals counted and not yet added to the ledger.
    pub fn unflushed(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// Moves the counts so far to the ledger; a failed write puts them back for next time.
    pub async fn flush(&self, store: &dyn PromptStore) {
        let now = OffsetDateTime::now_utc();
        for (slot, kind) in KINDS.iter().enumerate() {
            let count = self.counts[slot].swap(0, Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            if let Err(error) = store.count_refusals(*kind, now, count).await {
                tracing::warn!(%error, "could not count refused requests; will retry");
                self.counts[slot].fetch_add(count, Ordering::Relaxed);
            }
        }
    }
}

/// The task that flushes a [`RefusalCounter`] every interval until [`RefusalFlusher::finish`].
pub struct RefusalFlusher {
    counter: Arc<RefusalCounter>,
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

/// Flushes every `interval` until [`RefusalFlusher::finish`], then once more. It has a stop
/// signal of its own: requests are still refused (and counted) while the service drains, so
/// its last flush comes after the servers have stopped.
pub fn spawn_flusher(
    counter: Arc<RefusalCounter>,
    store: Arc<dyn PromptStore>,
    interval: Duration,
) -> RefusalFlusher {
    let stop = CancellationToken::new();
    let handle = tokio::spawn({
        let (counter, stop) = (counter.clone(), stop.clone());
        async move {
            loop {
                let stopping = tokio::select! {
                    () = stop.cancelled() => true,
                    () = tokio::time::sleep(interval) => false,
                };
                counter.flush(store.as_ref()).await;
                if stopping {
                    return;
                }
            }
        }
    });
    RefusalFlusher {
        counter,
        stop,
        handle,
    }
}

impl RefusalFlusher {
    /// Makes the last flush, waiting at most `timeout` for the ledger. Returns how many
    /// refusals it could not add (the caller logs them: nothing is left to retry).
    pub async fn finish(mut self, timeout: Duration) -> u64 {
        self.stop.cancel();
        if tokio::time::timeout(timeout, &mut self.handle)
            .await
            .is_err()
        {
            self.handle.abort();
        }
        self.counter.unflushed()
    }
}
