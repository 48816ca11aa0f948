//! Correlating delivered prompts with their interaction's transcript, off the request path.
//!
//! Deliveries push jobs onto a bounded queue without waiting; a dispatcher runs at most
//! `workers` jobs at once. A full queue skips correlation for that prompt (counted and
//! logged) rather than slowing or failing a delivery. On shutdown the queue stops taking
//! jobs, queued and running ones get `drain_timeout` to finish, and the rest are recorded as
//! skipped.

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    sync::{mpsc, Semaphore},
    task::JoinHandle,
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    config::CorrelationSettings,
    domain::PromptId,
    metrics::{CorrelationLabels, Metrics},
    retry::Backoff,
    store::{CorrelationState, CorrelationUpdate, PromptStore},
    tenant::{Tenant, TranscriptLookup},
};

#[derive(Debug, Clone)]
pub struct CorrelationJob {
    pub prompt_id: PromptId,
    pub interaction_id: String,
    pub agent_id: String,
    pub request_id: Option<String>,
}

/// The sending side, held by the prompt service.
#[derive(Clone)]
pub struct CorrelationQueue {
    tx: mpsc::Sender<CorrelationJob>,
    skipped: Arc<AtomicU64>,
    metrics: Arc<Metrics>,
}

impl CorrelationQueue {
    /// Queues a job without waiting; `false` when the queue is full or closed.
    pub fn enqueue(&self, job: CorrelationJob) -> bool {
        match self.tx.try_send(job) {
            Ok(()) => true,
            Err(err) => {
                let skipped = self.skipped.fetch_add(1, Ordering::Relaxed) + 1;
                count(&self.metrics, CorrelationState::Skipped);
                let job = match &err {
                    mpsc::error::TrySendError::Full(job)
                    | mpsc::error::TrySendError::Closed(job) => job,
                };
                tracing::warn!(
                    prompt_id = %job.prompt_id,
                    skipped_total = skipped,
                    "correlation queue full or closed; correlation skipped"
                );
                false
            }
        }
    }

    /// Jobs turned away since start.
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Jobs waiting for a worker.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

/// Owns the dispatcher and its jobs.
pub struct CorrelationWorker {
    dispatcher: JoinHandle<()>,
    jobs: TaskTracker,
    /// Stops the dispatcher taking new jobs.
    intake: CancellationToken,
    /// Tells running jobs to give up now.
    abort: CancellationToken,
    drain_timeout: Duration,
}

struct JobContext {
    tenant: Arc<dyn Tenant>,
    store: Arc<dyn PromptStore>,
    backoff: Backoff,
    give_up_after: Duration,
    attempt_timeout: Duration,
    abort: CancellationToken,
    metrics: Arc<Metrics>,
}

pub fn spawn(
    settings: &CorrelationSettings,
    tenant: Arc<dyn Tenant>,
    store: Arc<dyn PromptStore>,
    attempt_timeout: Duration,
    metrics: Arc<Metrics>,
) -> (CorrelationQueue, CorrelationWorker) {
    let (tx, rx) = mpsc::channel(settings.queue_capacity);
    let abort = CancellationToken::new();
    let intake = CancellationToken::new();
    let jobs = TaskTracker::new();
    let context = Arc::new(JobContext {
        tenant,
        store,
        backoff: Backoff {
            base: Duration::from_millis(settings.backoff_base_ms),
            max: Duration::from_millis(settings.backoff_max_ms),
        },
        give_up_after: Duration::from_millis(settings.give_up_after_ms),
        attempt_timeout,
        abort: abort.clone(),
        metrics: metrics.clone(),
    });
    let dispatcher = tokio::spawn(dispatch(
        rx,
        Arc::new(Semaphore::new(settings.workers)),
        jobs.clone(),
        intake.clone(),
        context,
    ));
    let queue = CorrelationQueue {
        tx,
        skipped: Arc::default(),
        metrics,
    };
    let worker = CorrelationWorker {
        dispatcher,
        jobs,
        intake,
        abort,
        drain_timeout: Duration::from_millis(settings.drain_timeout_ms),
    };
    (queue, worker)
}

async fn dispatch(
    mut rx: mpsc::Receiver<CorrelationJob>,
    workers: Arc<Semaphore>,
    jobs: TaskTracker,
    intake: CancellationToken,
    context: Arc<JobContext>,
) {
    let mut closed = false;
    loop {
        let job = tokio::select! {
            _ = intake.cancelled(), if !closed => {
                // Already-queued jobs are still received below; only new sends fail.
                rx.close();
                closed = true;
                continue;
            }
            job = rx.recv() => job,
        };
        let Some(job) = job else { break };
        let permit = tokio::select! {
            permit = workers.clone().acquire_owned() => permit.ok(),
            _ = context.abort.cancelled() => None,
        };
        let Some(permit) = permit else {
            skip(&context, job).await;
            continue;
        };
        let context = context.clone();
        jobs.spawn(async move {
            run_job(&context, job).await;
            drop(permit);
        });
    }
    jobs.close();
}

impl CorrelationWorker {
    /// Stops intake, lets queued and running jobs finish within the drain timeout, then
    /// abandons the rest (recorded as skipped).
    pub async fn shutdown(self) {
        let Self {
            mut dispatcher,
            jobs,
            intake,
            abort,
            drain_timeout,
        } = self;
        intake.cancel();
        let deadline = Instant::now() + drain_timeout;
        // A JoinHandle must not be polled again once it has completed, so remember that.
        let mut dispatched_all = tokio::time::timeout_at(deadline, &mut dispatcher)
            .await
            .is_ok();
        let drained =
            dispatched_all && tokio::time::timeout_at(deadline, jobs.wait()).await.is_ok();
        if !drained {
            tracing::warn!(
                running = jobs.len(),
                "correlation did not drain in time; abandoning remaining jobs"
            );
            abort.cancel();
            // Abandoned jobs return at their next await point; give them a moment to record it.
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                if !dispatched_all {
                    let _ = (&mut dispatcher).await;
                    dispatched_all = true;
                }
                jobs.wait().await;
            })
            .await;
            if !dispatched_all {
                dispatcher.abort();
            }
        }
    }
}

async fn skip(context: &JobContext, job: CorrelationJob) {
    let update = CorrelationUpdate {
        state: CorrelationState::Skipped,
        transcript_id: None,
        attempts: 0,
    };
    if let Err(error) = context
        .store
        .update_correlation(&job.prompt_id, update)
        .await
    {
        tracing::error!(%error, prompt_id = %job.prompt_id, "could not record skipped correlation");
    }
}

async fn run_job(context: &JobContext, job: CorrelationJob) {
    let give_up_at = Instant::now() + context.give_up_after;
    let mut attempts = 0u32;
    let state = loop {
        attempts += 1;
        let lookup = tokio::select! {
            lookup = context.tenant.fetch_transcript(
                &job.interaction_id,
                job.request_id.as_deref(),
                context.attempt_timeout,
            ) => lookup,
            _ = context.abort.cancelled() => break CorrelationState::Skipped,
        };
        match lookup {
            TranscriptLookup::Found { transcript_id } => {
                tracing::info!(
                    target: "correlation",
                    prompt_id = %job.prompt_id,
                    transcript_id = %transcript_id,
                    interaction_id = %job.interaction_id,
                    agent_id = %job.agent_id,
                    attempts,
                    "correlation"
                );
                let update = CorrelationUpdate {
                    state: CorrelationState::Correlated,
                    transcript_id: Some(transcript_id),
                    attempts,
                };
                record(context, &job, update).await;
                return;
            }
            TranscriptLookup::Failed { status } => {
                tracing::warn!(prompt_id = %job.prompt_id, status, "transcript look-up refused; correlation failed");
                break CorrelationState::Failed;
            }
            TranscriptLookup::NotYet | TranscriptLookup::Transient => {
                let wait = context.backoff.delay_random(attempts);
                if Instant::now() + wait > give_up_at {
                    tracing::warn!(prompt_id = %job.prompt_id, attempts, "no transcript in time; correlation failed");
                    break CorrelationState::Failed;
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = context.abort.cancelled() => break CorrelationState::Skipped,
                }
            }
        }
    };
    let update = CorrelationUpdate {
        state,
        transcript_id: None,
        attempts,
    };
    record(context, &job, update).await;
}

fn count(metrics: &Metrics, state: CorrelationState) {
    metrics
        .correlations
        .get_or_create(&CorrelationLabels {
            outcome: state.as_str(),
        })
        .inc();
}

async fn record(context: &JobContext, job: &CorrelationJob, update: CorrelationUpdate) {
    count(&context.metrics, update.state);
    if let Err(error) = context
        .store
        .update_correlation(&job.prompt_id, update)
        .await
    {
        tracing::error!(%error, prompt_id = %job.prompt_id, "could not record correlation");
    }
}
