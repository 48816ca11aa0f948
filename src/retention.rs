//! Deletes records older than the retention period, and expired idempotency keys, in small
//! batches so no statement holds the ledger's locks for long.

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::store::{PromptStore, Pruned};

/// Records (and, separately, idempotency keys) deleted per statement.
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

/// Deletes everything received before `cutoff` and every expired idempotency key, batch by
/// batch; returns how many records.
pub async fn prune(
    store: &dyn PromptStore,
    cutoff: OffsetDateTime,
    stop: &CancellationToken,
) -> u64 {
    prune_in_batches(store, cutoff, BATCH, stop).await.records
}

/// [`prune`] with batches of `batch`. Records and keys each continue until one of their
/// batches comes back short: a busy service makes far more keys than old records, so ending
/// with the records would leave keys to pile up.
pub(crate) async fn prune_in_batches(
    store: &dyn PromptStore,
    cutoff: OffsetDateTime,
    batch: u32,
    stop: &CancellationToken,
) -> Pruned {
    let mut total = Pruned::default();
    while !stop.is_cancelled() {
        match store.prune(cutoff, batch).await {
            Ok(pruned) => {
                total.records += pruned.records;
                total.idempotency_keys += pruned.idempotency_keys;
                if !pruned.more_left(batch) {
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
    if total != Pruned::default() {
        tracing::info!(
            records = total.records,
            idempotency_keys = total.idempotency_keys,
            "retention pass removed old records and expired keys"
        );
    }
    total
}
