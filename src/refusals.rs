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

/// Flushes every `interval` until `stop`, then once more.
pub fn spawn_flusher(
    counter: Arc<RefusalCounter>,
    store: Arc<dyn PromptStore>,
    interval: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
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
    })
}
