//! Correlating delivered prompts with their interaction's transcript, off the request path.
//!
//! The jobs live in the ledger (a row per delivered prompt, written with its record), so they
//! survive restarts and, with PostgreSQL, are shared by every replica. Each look-up holds a
//! lease on its job, and either finishes the job or puts it back with a backoff.
//!
//! A delivered prompt's job is normally written already leased to this process and handed to
//! its worker once the record commits, so the common case costs no write of its own to lease
//! it. When the worker has no room, the job is written free and a poller leases it later, as
//! it does jobs that are due again and jobs whose lease ran out. A replica that dies holding
//! leases loses them when they expire, and another takes the jobs over. On shutdown the
//! poller stops leasing; running look-ups get the drain timeout; whatever is left (jobs handed
//! over but not started included) stays in the ledger for the next start.

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;
use tokio::{
    sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore},
    task::JoinHandle,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    config::CorrelationSettings,
    domain::PromptId,
    metrics::{CorrelationLabels, Metrics},
    retry::Backoff,
    store::{
        BatchWriter, CorrelationClaim, CorrelationState, CorrelationUpdate, JobLease, LedgerWrite,
        PromptStore,
    },
    tenant::{Tenant, TranscriptLookup},
};

/// How delivered prompts reach the worker: handed over with their job leased already, or,
/// when the worker has no room, left in the ledger with the poller woken to lease them.
#[derive(Clone)]
pub struct CorrelationQueue {
    wake: Arc<Notify>,
    handoff: mpsc::Sender<CorrelationClaim>,
    owner: Arc<str>,
    lease: Duration,
}

/// Room for one job in the worker's hand-off queue, and the lease to write that job with.
pub struct Reservation {
    permit: mpsc::OwnedPermit<CorrelationClaim>,
    pub lease: JobLease,
}

impl CorrelationQueue {
    /// Room for a job about to be written, if the worker has any.
    pub fn reserve(&self) -> Option<Reservation> {
        let permit = self.handoff.clone().try_reserve_owned().ok()?;
        Some(Reservation {
            permit,
            lease: JobLease::from_now(self.owner.clone(), self.lease),
        })
    }

    /// A job was written free: the poller leases it now rather than at its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

impl Reservation {
    /// Hands over the job, once it is committed leased to this worker.
    pub fn hand_over(self, claim: CorrelationClaim) {
        // A worker that has stopped leaves the job in the ledger until the lease runs out.
        let _ = self.permit.send(claim);
    }
}

/// Owns the poller and the look-ups it started.
pub struct CorrelationWorker {
    poller: JoinHandle<()>,
    jobs: TaskTracker,
    /// Stops the poller leasing new jobs.
    stop: CancellationToken,
    /// Tells running look-ups to give up now (their jobs stay in the ledger).
    abort: CancellationToken,
    drain_timeout: Duration,
}

struct Context {
    tenant: Arc<dyn Tenant>,
    store: Arc<dyn PromptStore>,
    /// Finished look-ups are written through this, many to a transaction.
    ledger: BatchWriter,
    metrics: Arc<Metrics>,
    backoff: Backoff,
    attempt_timeout: Duration,
    /// This process's name on the leases it holds.
    owner: Arc<str>,
    lease: Duration,
    poll_interval: Duration,
    abort: CancellationToken,
}

pub fn spawn(
    settings: &CorrelationSettings,
    tenant: Arc<dyn Tenant>,
    store: Arc<dyn PromptStore>,
    ledger: BatchWriter,
    attempt_timeout: Duration,
    metrics: Arc<Metrics>,
) -> (CorrelationQueue, CorrelationWorker) {
    let owner: Arc<str> = format!("cxone-assist-{}", ulid::Ulid::new()).into();
    let lease = Duration::from_millis(settings.lease_ms);
    // As many waiting as can run: a job handed over waits for a worker with its lease
    // running, so the queue is kept short and the rest go through the ledger.
    let (handoff, handed) = mpsc::channel(settings.workers);
    let queue = CorrelationQueue {
        wake: Arc::default(),
        handoff,
        owner: owner.clone(),
        lease,
    };
    let stop = CancellationToken::new();
    let abort = CancellationToken::new();
    let jobs = TaskTracker::new();
    let context = Arc::new(Context {
        tenant,
        store,
        ledger,
        metrics,
        backoff: Backoff {
            base: Duration::from_millis(settings.backoff_base_ms),
            max: Duration::from_millis(settings.backoff_max_ms),
        },
        attempt_timeout,
        owner,
        // A lease outlives any single look-up, so a live worker never loses one mid-call.
        lease,
        poll_interval: Duration::from_millis(settings.poll_interval_ms),
        abort: abort.clone(),
    });
    let poller = tokio::spawn(poll(
        context,
        queue.wake.clone(),
        handed,
        Arc::new(Semaphore::new(settings.workers)),
        jobs.clone(),
        stop.clone(),
    ));
    let worker = CorrelationWorker {
        poller,
        jobs,
        stop,
        abort,
        drain_timeout: Duration::from_millis(settings.drain_timeout_ms),
    };
    (queue, worker)
}

/// How long a woken poller waits for more due jobs before leasing.
const GATHER: Duration = Duration::from_millis(50);

async fn poll(
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

impl CorrelationWorker {
    /// Stops leasing, lets running look-ups finish within the drain timeout, then abandons
    /// the rest; their jobs stay in the ledger and are resumed after their leases expire.
    pub async fn shutdown(self) {
        let Self {
            mut poller,
            jobs,
            stop,
            abort,
            drain_timeout,
        } = self;
        stop.cancel();
        let deadline = tokio::time::Instant::now() + drain_timeout;
        // A JoinHandle must not be polled again once it has completed, so remember that.
        let polled_out = tokio::time::timeout_at(deadline, &mut poller).await.is_ok();
        let drained = polled_out && tokio::time::timeout_at(deadline, jobs.wait()).await.is_ok();
        if !drained {
            tracing::warn!(
                running = jobs.len(),
                "correlation did not drain in time; its jobs stay in the ledger for the next start"
            );
            abort.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(1), jobs.wait()).await;
            if !polled_out {
                poller.abort();
            }
        }
    }
}

/// Queues a finished look-up's result, frees its worker, then waits for the commit. A commit
/// under load takes milliseconds, and a worker waiting for it would look nothing up meanwhile.
async fn record(
    ledger: &BatchWriter,
    prompt_id: PromptId,
    update: CorrelationUpdate,
    worker: OwnedSemaphorePermit,
) {
    let write = LedgerWrite::Correlation {
        prompt_id: prompt_id.clone(),
        update,
    };
    let committed = match ledger.queue(write).await {
        Ok(commit) => {
            drop(worker);
            commit.committed().await
        }
        Err(error) => Err(error),
    };
    if let Err(error) = committed {
        tracing::error!(%error, %prompt_id, "could not record correlation");
    }
}

/// One transcript look-up for a leased job; the result to record when the job is finished.
async fn look_up(
    context: &Context,
    claim: CorrelationClaim,
) -> Option<(PromptId, CorrelationUpdate)> {
    let attempts = claim.attempts + 1;
    let lookup = tokio::select! {
        lookup = context.tenant.fetch_transcript(
            &claim.interaction_id,
            claim.request_id.as_deref(),
            context.attempt_timeout,
        ) => lookup,
        // The lease lapses and the job is taken up again later.
        () = context.abort.cancelled() => return None,
    };
    let finished = match lookup {
        TranscriptLookup::Found { transcript_id } => {
            tracing::info!(
                target: "correlation",
                prompt_id = %claim.prompt_id,
                transcript_id = %transcript_id,
                interaction_id = %claim.interaction_id,
                agent_id = %claim.agent_id,
                attempts,
                "correlation"
            );
            CorrelationUpdate {
                state: CorrelationState::Correlated,
                transcript_id: Some(transcript_id),
                attempts,
            }
        }
        TranscriptLookup::Failed { status } => {
            tracing::warn!(prompt_id = %claim.prompt_id, status, "transcript look-up refused; correlation failed");
            CorrelationUpdate {
                state: CorrelationState::Failed,
                transcript_id: None,
                attempts,
            }
        }
        TranscriptLookup::NotYet | TranscriptLookup::Transient => {
            let next = OffsetDateTime::now_utc() + context.backoff.delay_random(attempts);
            if next <= claim.give_up_at {
                reschedule(context, &claim, attempts, next).await;
                return None;
            }
            tracing::warn!(prompt_id = %claim.prompt_id, attempts, "no transcript in time; correlation failed");
            CorrelationUpdate {
                state: CorrelationState::Failed,
                transcript_id: None,
                attempts,
            }
        }
    };
    count(&context.metrics, finished.state);
    Some((claim.prompt_id, finished))
}

async fn reschedule(
    context: &Context,
    claim: &CorrelationClaim,
    attempts: u32,
    next: OffsetDateTime,
) {
    match context
        .store
        .reschedule_correlation(&claim.prompt_id, &context.owner, attempts, next)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(prompt_id = %claim.prompt_id, "correlation lease lost to another worker")
        }
        Err(error) => {
            tracing::error!(%error, prompt_id = %claim.prompt_id, "could not reschedule correlation")
        }
    }
}

fn count(metrics: &Metrics, state: CorrelationState) {
    metrics
        .correlations
        .get_or_create(&CorrelationLabels {
            outcome: state.as_str(),
        })
        .inc();
}
