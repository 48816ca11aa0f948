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
//! over but not started included) stays in the ledger, its leases freed once the last writes
//! have committed ([`HeldLeases::release`]), so the next start takes it up when it is due.

mod look_up;
mod poller;

use std::{sync::Arc, time::Duration};

use tokio::{
    sync::{mpsc, Notify, Semaphore},
    task::JoinHandle,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    config::CorrelationSettings,
    metrics::Metrics,
    retry::Backoff,
    store::{BatchWriter, CorrelationClaim, JobLease, PromptStore},
    tenant::Tenant,
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
        // A worker that has stopped leaves the job in the ledger, leased until the process
        // frees its leases on the way out (or, had it died, until the lease runs out).
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
    leases: HeldLeases,
}

/// The leases a stopped worker may still hold: jobs it leased but did not finish, and jobs
/// written leased to it by deliveries that committed while it stopped.
pub struct HeldLeases {
    store: Arc<dyn PromptStore>,
    owner: Arc<str>,
}

impl HeldLeases {
    /// Frees them, so the next start (or another replica) takes their jobs up when they are
    /// due instead of a whole lease later. Call it once nothing more can be written leased.
    /// Waits at most `timeout` for the ledger, then leaves the leases to expire.
    pub async fn release(self, timeout: Duration) {
        match tokio::time::timeout(timeout, self.store.release_correlation_leases(&self.owner))
            .await
        {
            Ok(Ok(0)) => {}
            Ok(Ok(released)) => {
                tracing::info!(
                    released,
                    "correlation jobs left in the ledger for the next start"
                )
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "could not free correlation leases; they run out instead")
            }
            Err(_) => tracing::warn!("freeing correlation leases timed out; they run out instead"),
        }
    }
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
    let leases = HeldLeases {
        store: store.clone(),
        owner: owner.clone(),
    };
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
    let poller = tokio::spawn(poller::poll(
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
        leases,
    };
    (queue, worker)
}

impl CorrelationWorker {
    /// Stops leasing, lets running look-ups finish within the drain timeout, then abandons
    /// the rest; their jobs stay in the ledger, held by the returned leases until those are
    /// released or run out.
    pub async fn shutdown(self) -> HeldLeases {
        let Self {
            mut poller,
            jobs,
            stop,
            abort,
            drain_timeout,
            leases,
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
        leases
    }
}
