//! Deletes records older than the retention period, in small batches so no statement holds
//! the ledger's locks for long.

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::PromptStore;

/// Records deleted per statement.
const BATCH: u32 = 500;

/// Runs every `interval` until `stop` is cancelled; owned by the application, which awaits the
/// handle on shutdown. `None` when retention is off (0 days).
pub fn spawn(
    store: Arc<dyn PromptStore>,
    retention_days: u32,
    interval: Duration,
    stop: CancellationToken,
) -> Option<JoinHandle<()>> {
    if retention_days == 0 {
        return None;
    }
    let keep = time::Duration::days(i64::from(retention_days));
    Some(tokio::spawn(async move {
        loop {
            prune(store.as_ref(), OffsetDateTime::now_utc() - keep, &stop).await;
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }))
}

/// Deletes everything received before `cutoff`, batch by batch; returns how many records.
pub async fn prune(
    store: &dyn PromptStore,
    cutoff: OffsetDateTime,
    stop: &CancellationToken,
) -> u64 {
    let mut total = 0;
    while !stop.is_cancelled() {
        match store.prune(cutoff, BATCH).await {
            Ok(deleted) => {
                total += deleted;
                if deleted < u64::from(BATCH) {
                    break;
                }
                // Let other writers in between batches.
                tokio::task::yield_now().await;
            }
            Err(error) => {
                tracing::warn!(%error, "retention pass failed; will retry at the next interval");
                break;
            }
        }
    }
    if total > 0 {
        tracing::info!(deleted = total, "retention pass removed old records");
    }
    total
}
