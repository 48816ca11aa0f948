//! The poller: starts look-ups for jobs handed over, and leases due jobs from the ledger
//! in batches as workers free up.

use std::{sync::Arc, time::Duration};

use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use super::{
    look_up::{look_up, record},
    Context,
};
use crate::store::CorrelationClaim;

/// How long a woken poller waits for more due jobs before leasing.
const GATHER: Duration = Duration::from_millis(50);

pub(super) async fn poll(
    context: Arc<Context>,
    wake: Arc<Notify>,
    mut handed: mpsc::Receiver<CorrelationClaim>,
    workers: Arc<Semaphore>,
    jobs: TaskTracker,
    stop: CancellationToken,
) {
    // Idle workers make one lease wait for more: a quarter of the pool.
    let refill = (workers.available_permits() / 4).max(1);
    let mut busy = false;
    'poll: loop {
        // Jobs handed over are leased already: they go first.
        while let Ok(claim) = handed.try_recv() {
            if !start(&context, &workers, &jobs, &stop, claim).await {
                break 'poll;
            }
        }
        if !busy {
            tokio::select! {
                () = stop.cancelled() => break,
                Some(claim) = handed.recv() => {
                    // As for leases from the ledger: let more arrive, so their look-ups run
                    // (and their results commit) together rather than one at a time.
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(GATHER) => {}
                    }
                    if !start(&context, &workers, &jobs, &stop, claim).await {
                        break;
                    }
                    continue;
                }
                () = wake.notified() => {
                    // Deliveries come in bursts: let more of them commit their jobs and
                    // lease those in one write transaction instead of one each. A transcript
                    // is seconds away.
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(GATHER) => {}
                    }
                }
                () = tokio::time::sleep(context.poll_interval) => {}
            }
        } else if stop.is_cancelled() {
            break;
        }
        let free = workers.available_permits();
        busy = false;
        if free < refill {
            // Lease in batches: each lease is a write transaction, so one per freed worker
            // would cost a commit per look-up under load.
            tokio::select! {
                () = stop.cancelled() => break,
                permits = workers.acquire_many(refill as u32) => drop(permits),
            }
            busy = true;
            continue;
        }
        let claims = match context
            .store
            .claim_correlation_jobs(&context.owner, context.lease, free as u32)
            .await
        {
            Ok(claims) => claims,
            Err(error) => {
                tracing::warn!(%error, "could not lease correlation jobs");
                continue;
            }
        };
        // A full batch means more may be due: look again without waiting.
        busy = claims.len() == free;
        for claim in claims {
            if !start(&context, &workers, &jobs, &stop, claim).await {
                break 'poll;
            }
        }
    }
    jobs.close();
}

/// Starts the look-up for `claim` once a worker is free; `false` when stopping instead.
async fn start(
    context: &Arc<Context>,
    workers: &Arc<Semaphore>,
    jobs: &TaskTracker,
    stop: &CancellationToken,
    claim: CorrelationClaim,
) -> bool {
    let permit = tokio::select! {
        permit = workers.clone().acquire_owned() => match permit {
            Ok(permit) => permit,
            Err(_) => return false,
        },
        () = stop.cancelled() => return false,
    };
    let context = context.clone();
    jobs.spawn(async move {
        if let Some((prompt_id, update)) = look_up(&context, claim).await {
            record(&context.ledger, prompt_id, update, permit).await;
        }
    });
    true
}
