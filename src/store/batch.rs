//! Group commit. Writes from many tasks queue for one writer task, which applies whatever has
//! queued up in one transaction. Each caller still waits until its own write has committed,
//! so a record is durable before its prompt's answer leaves; under load one commit (and, with
//! SQLite, one WAL append) serves many prompts instead of each prompt paying for its own.
//!
//! A batch that fails because the database is unavailable or busy is kept and tried again,
//! with a capped backoff, until it commits: those writes belong to prompts already on agents'
//! screens. A write the database refuses (a reused prompt id) fails alone.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use super::{LedgerWrite, PromptStore, StoreError, WriterHealth};
use crate::retry::Backoff;

/// Most writes in one transaction: large enough to amortise a commit, small enough that a
/// transaction never holds SQLite's write lock for long.
const MAX_BATCH: usize = 256;

/// Writes waiting beyond this make their callers wait for room, rather than grow memory.
const QUEUE_CAPACITY: usize = 4096;

/// Waits between tries of a batch that met a transient failure: soon after a blip, never
/// more often than every 2 s while the database stays away.
const RETRY_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(50),
    max: Duration::from_secs(2),
};

struct Queued {
    write: LedgerWrite,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Hands writes to the ledger's writer task. Cheap to clone.
#[derive(Clone)]
pub struct BatchWriter {
    queue: mpsc::Sender<Queued>,
    health: WriterHealth,
    /// Writes queued (or being committed) and not yet committed or failed.
    outstanding: Arc<AtomicUsize>,
}

/// The writer task; [`BatchWriterTask::shutdown`] commits what is queued and stops it.
pub struct BatchWriterTask {
    stop: CancellationToken,
    handle: JoinHandle<()>,
    outstanding: Arc<AtomicUsize>,
}

impl BatchWriter {
    /// Starts the writer task for `store`.
    pub fn spawn(store: Arc<dyn PromptStore>) -> (Self, BatchWriterTask) {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let stop = CancellationToken::new();
        let health = WriterHealth::default();
        let outstanding = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            store,
            health: health.clone(),
            outstanding: outstanding.clone(),
        };
        let handle = tokio::spawn(writer.run(receiver, stop.clone()));
        let task = BatchWriterTask {
            stop,
            handle,
            outstanding: outstanding.clone(),
        };
        let writer = Self {
            queue,
            health,
            outstanding,
        };
        (writer, task)
    }

    /// Whether the writer task is committing, for readiness.
    pub fn health(&self) -> WriterHealth {
        self.health.clone()
    }

    /// Queues `write` and waits until it has committed (or failed).
    pub async fn write(&self, write: LedgerWrite) -> Result<(), StoreError> {
        self.queue(write).await?.committed().await
    }

    /// Queues `write`, waiting only for room in the queue; the commit is awaited separately.
    pub async fn queue(&self, write: LedgerWrite) -> Result<PendingCommit, StoreError> {
        let (done, committed) = oneshot::channel();
        let permit = self
            .queue
            .reserve()
            .await
            .map_err(|_| StoreError::new("the ledger writer has stopped"))?;
        self.outstanding.fetch_add(1, Ordering::Relaxed);
        permit.send(Queued { write, done });
        Ok(PendingCommit(committed))
    }
}

/// A queued write's commit, still to come.
pub struct PendingCommit(oneshot::Receiver<Result<(), StoreError>>);

impl PendingCommit {
    /// Waits until the write has committed (or failed).
    pub async fn committed(self) -> Result<(), StoreError> {
        self.0.await.unwrap_or_else(|_| {
            Err(StoreError::new(
                "the ledger writer stopped before committing",
            ))
        })
    }
}

impl BatchWriterTask {
    /// Refuses new writes, commits those already queued, and waits for the task to end, for
    /// at most `timeout`: a ledger that cannot commit must not hold the process. Returns how
    /// many writes were left uncommitted. Call it after everything that writes has stopped.
    pub async fn shutdown(mut self, timeout: Duration) -> usize {
        self.stop.cancel();
        match tokio::time::timeout(timeout, &mut self.handle).await {
            Ok(Ok(())) => 0,
            Ok(Err(error)) => {
                tracing::error!(%error, "ledger writer task failed");
                self.outstanding.load(Ordering::Relaxed)
            }
            Err(_) => {
                self.handle.abort();
                self.outstanding.load(Ordering::Relaxed)
            }
        }
    }
}

struct Writer {
    store: Arc<dyn PromptStore>,
    health: WriterHealth,
    outstanding: Arc<AtomicUsize>,
}

impl Writer {
    async fn run(self, mut queue: mpsc::Receiver<Queued>, stop: CancellationToken) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        let mut closed = false;
        loop {
            let received = tokio::select! {
                received = queue.recv_many(&mut batch, MAX_BATCH) => received,
                // Closing keeps what is already queued: `recv_many` hands it out, then 0.
                () = stop.cancelled(), if !closed => {
                    queue.close();
                    closed = true;
                    continue;
                }
            };
            if received == 0 {
                return;
            }
            self.commit(std::mem::take(&mut batch)).await;
            batch.reserve(MAX_BATCH);
        }
    }

    async fn commit(&self, batch: Vec<Queued>) {
        let (writes, waiters): (Vec<_>, Vec<_>) =
            batch.into_iter().map(|q| (q.write, q.done)).unzip();
        match self.apply(&writes).await {
            Ok(()) => self.answer(waiters, &Ok(())),
            // One bad write (a reused prompt id, say) must not fail the others with it.
            Err(_) if writes.len() > 1 => {
                for (write, waiter) in writes.iter().zip(waiters) {
                    let result = self.apply(std::slice::from_ref(write)).await;
                    self.answer(vec![waiter], &result);
                }
            }
            Err(error) => self.answer(waiters, &Err(error)),
        }
    }

    /// Applies `writes` in one transaction, trying again while the failure is transient;
    /// returns only once they committed or the database refused them.
    async fn apply(&self, writes: &[LedgerWrite]) -> Result<(), StoreError> {
        let mut failures = 0;
        loop {
            self.health.commit_starts();
            let result = self.store.apply(writes).await;
            self.health.commit_ends(result.is_ok());
            match result {
                Err(error) if error.is_transient() => {
                    failures += 1;
                    let wait = RETRY_BACKOFF.delay_random(failures);
                    tracing::warn!(
                        %error,
                        writes = writes.len(),
                        failures,
                        retry_in_ms = wait.as_millis() as u64,
                        "the ledger cannot commit; the writes are kept and tried again"
                    );
                    tokio::time::sleep(wait).await;
                }
                result => return result,
            }
        }
    }

    fn answer(
        &self,
        waiters: Vec<oneshot::Sender<Result<(), StoreError>>>,
        result: &Result<(), StoreError>,
    ) {
        self.outstanding.fetch_sub(waiters.len(), Ordering::Relaxed);
        for waiter in waiters {
            let _ = waiter.send(result.clone());
        }
    }
}
