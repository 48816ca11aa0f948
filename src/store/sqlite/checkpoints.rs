//! WAL checkpoints beside the writer, so that commits seldom run one themselves.
//!
//! SQLite runs a checkpoint inside the commit that takes the WAL past `wal_autocheckpoint`
//! pages, with its `fsync`s, and every write queued behind that commit waits for them: those
//! waits were the slowest answers under load. Here a task copies committed pages into the
//! database file after commits (`PRAGMA wal_checkpoint(PASSIVE)`, on a read connection: it
//! takes no lock a writer needs and waits for none), then pauses. The commits' own checkpoint
//! stays, at a higher threshold, as the WAL's bound: a checkpoint beside a busy writer rarely
//! copies every frame, and only a writer that finds every frame copied starts the WAL over.

use std::{sync::Arc, time::Duration};

use sqlx::SqlitePool;
use tokio::sync::Notify;
use tokio_util::{
    sync::{CancellationToken, DropGuard},
    task::TaskTracker,
};

/// The pause after each checkpoint: commits in it are copied by the next one. Shorter pauses
/// leave the commits that do cross the threshold less to copy, for more checkpoints (each a
/// hand-off to a connection's thread and two `fsync`s).
pub(super) const PAUSE: Duration = Duration::from_millis(25);

/// After a failed checkpoint (a full disk, say): the commits' own checkpoints still bound the
/// WAL, and one warning per pause would flood the log.
const PAUSE_AFTER_ERROR: Duration = Duration::from_secs(5);

/// The task, woken by commits.
pub(super) struct Checkpoints {
    wake: Arc<Notify>,
    stop: CancellationToken,
    task: TaskTracker,
    /// A store dropped without [`Checkpoints::close`] still stops the task (and so the
    /// connections it holds).
    _stop_on_drop: DropGuard,
}

impl Checkpoints {
    /// Starts the task on `pool`'s connections.
    pub(super) fn spawn(pool: SqlitePool, pause: Duration) -> Self {
        let (wake, stop, task) = (
            Arc::new(Notify::new()),
            CancellationToken::new(),
            TaskTracker::new(),
        );
        task.spawn(run(pool, wake.clone(), stop.clone(), pause));
        task.close();
        Self {
            wake,
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
            task,
        }
    }

    /// A commit happened. Commits while a checkpoint runs or in its pause wake it once.
    pub(super) fn committed(&self) {
        self.wake.notify_one();
    }

    /// Whether the task has returned.
    #[cfg(test)]
    pub(super) fn is_stopped(&self) -> bool {
        self.task.is_empty()
    }

    /// Stops the task and waits for a checkpoint in progress (which waits for nothing).
    pub(super) async fn close(&self) {
        self.stop.cancel();
        self.task.wait().await;
    }
}

async fn run(pool: SqlitePool, wake: Arc<Notify>, stop: CancellationToken, pause: Duration) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
        }
        let wait = match sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            Ok(_) => pause,
            Err(error) => {
                tracing::warn!(%error, "WAL checkpoint failed; commits still checkpoint");
                PAUSE_AFTER_ERROR
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}
