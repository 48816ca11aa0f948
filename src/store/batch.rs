//! Group commit. Writes from many tasks queue for one writer task, which applies whatever has
//! queued up in one transaction. Each caller still waits until its own write has committed,
//! so a record is durable before its prompt's answer leaves; under load one commit (and, with
//! SQLite, one WAL append) serves many prompts instead of each prompt paying for its own.

use std::sync::Arc;

use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tokio_util::sync::CancellationToken;

use super::{LedgerWrite, PromptStore, StoreError};

/// Most writes in one transaction: large enough to amortise a commit, small enough that a
/// transaction never holds SQLite's write lock for long.
const MAX_BATCH: usize = 256;

/// Writes waiting beyond this make their callers wait for room, rather than grow memory.
const QUEUE_CAPACITY: usize = 4096;

struct Queued {
    write: LedgerWrite,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Hands writes to the ledger's writer task. Cheap to clone.
#[derive(Clone)]
pub struct BatchWriter {
    queue: mpsc::Sender<Queued>,
}

/// The writer task; [`BatchWriterTask::shutdown`] commits what is queued and stops it.
pub struct BatchWriterTask {
    stop: CancellationToken,
    handle: JoinHandle<()>,
}

impl BatchWriter {
    /// Starts the writer task for `store`.
    pub fn spawn(store: Arc<dyn PromptStore>) -> (Self, BatchWriterTask) {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let stop = CancellationToken::new();
        let handle = tokio::spawn(run(store, receiver, stop.clone()));
        (Self { queue }, BatchWriterTask { stop, handle })
    }

    /// Queues `write` and waits until it has committed (or failed).
    pub async fn write(&self, write: LedgerWrite) -> Result<(), StoreError> {
        self.queue(write).await?.committed().await
    }

    /// Queues `write`, waiting only for room in the queue; the commit is awaited separately.
    pub async fn queue(&self, write: LedgerWrite) -> Result<PendingCommit, StoreError> {
        let (done, committed) = oneshot::channel();
        self.queue
            .send(Queued { write, done })
            .await
            .map_err(|_| StoreError("the ledger writer has stopped".into()))?;
        Ok(PendingCommit(committed))
    }
}

/// A queued write's commit, still to come.
pub struct PendingCommit(oneshot::Receiver<Result<(), StoreError>>);

impl PendingCommit {
    /// Waits until the write has committed (or failed).
    pub async fn committed(self) -> Result<(), StoreError> {
        self.0.await.unwrap_or_else(|_| {
            Err(StoreError(
                "the ledger writer stopped before committing".into(),
            ))
        })
    }
}

impl BatchWriterTask {
    /// Refuses new writes, commits those already queued, and waits for the task to end.
    /// Call it after everything that writes has stopped.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Err(error) = self.handle.await {
            tracing::error!(%error, "ledger writer task failed");
        }
    }
}

async fn run(
    store: Arc<dyn PromptStore>,
    mut queue: mpsc::Receiver<Queued>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut closed = false;
    loop {
        let received = tokio::select! {
            received = queue.recv_many(&mut batch, MAX_BATCH) => received,
            // Closing keeps what is already queued: `recv_many` hands it out, then returns 0.
            () = stop.cancelled(), if !closed => {
                queue.close();
                closed = true;
                continue;
            }
        };
        if received == 0 {
            return;
        }
        commit(store.as_ref(), std::mem::take(&mut batch)).await;
        batch.reserve(MAX_BATCH);
    }
}

async fn commit(store: &dyn PromptStore, batch: Vec<Queued>) {
    let (writes, waiters): (Vec<_>, Vec<_>) = batch.into_iter().map(|q| (q.write, q.done)).unzip();
    match store.apply(&writes).await {
        Ok(()) => {
            for waiter in waiters {
                let _ = waiter.send(Ok(()));
            }
        }
        // One bad write (a reused prompt id, say) must not fail the others with it.
        Err(_) if writes.len() > 1 => {
            for (write, waiter) in writes.iter().zip(waiters) {
                let _ = waiter.send(store.apply(std::slice::from_ref(write)).await);
            }
        }
        Err(error) => {
            for waiter in waiters {
                let _ = waiter.send(Err(error.clone()));
            }
        }
    }
}
