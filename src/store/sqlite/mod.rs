//! The SQLite engine: one file, WAL, a few connections.
//!
//! Writes run in `BEGIN IMMEDIATE` transactions: SQLite has one writer at a time, and taking
//! the write lock up front makes a busy database wait (`busy_timeout`) instead of failing a
//! transaction that started as a reader. The same holds across processes sharing the file,
//! so two processes never lease the same correlation job.

mod group_statements;
mod group_writes;
mod multi_row;
mod queue;
mod records;

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use futures::stream::BoxStream;
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    SqlitePool,
};
use time::OffsetDateTime;

use super::{
    redact, rows::micros, sql, CorrelationClaim, Feedback, FeedbackOutcome, IdempotencyBegin,
    LedgerOptions, LedgerWrite, ListQuery, PromptPage, PromptRecord, PromptStore, Pruned,
    RefusalCount, RefusalKind, StatsQuery, StatsRow, StoreError,
};
use crate::domain::PromptId;

/// Timestamps are INTEGER microseconds since the epoch (see the migration).
fn ts(t: OffsetDateTime) -> i64 {
    micros(t)
}

/// Takes the write lock at once (see the module docs).
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// The ledger in a SQLite file.
pub struct SqliteStore {
    pool: SqlitePool,
    /// One connection for batched writes and leases, the busiest writers (see `open`).
    writer: SqlitePool,
}

/// WAL pages after which a commit checkpoints. A checkpoint runs inside the commit that
/// crosses the threshold, and every write queued behind it waits: SQLite's default of 1000
/// pages made those waits the slowest percent of answers. At 1000 prompts/s with a 5 ms
/// tenant (bench scenario 2, two runs each) p99 was 11.9 ms at 1000 pages, 9.1–9.4 ms at 250
/// and 9.0–9.3 ms at 64, for 6 % and 20 % more CPU per prompt; 10 000 pages gave 30–32 ms.
/// Checkpoints in a task beside the writer, with commits checkpointing only past 4096 pages,
/// gained about 1 ms of that p99 but stalled answers for up to 0.4 s under full load
/// (BENCHMARKS.md, "Checkpoints beside the writer, committed and reverted").
const WAL_AUTOCHECKPOINT_PAGES: &str = "250";

/// The page cache of each connection in the read pool, in KiB (SQLite's negative
/// `cache_size`; its default is 2000). In WAL mode a connection drops its whole cache when it
/// starts a read after another connection has committed, which under load is every read, so
/// a large cache there is memory that is refilled, never hit. The pool also hands its idle
/// connections out in turn, so one scrape of `/metrics` every 100 ms under load filled all
/// five: 12.5 MiB more SQLite heap than without the scrapes (heaptrack, 256 connections).
const READ_CACHE_KIB: &str = "-256";

/// The writer's page cache, in KiB. Its cache stays valid (the batched writes are nearly all
/// the commits), but what it reads again is small: ledger rows go in at the right-hand edge of
/// each B-tree (ULID keys, received times), and correlation results and job deletes follow a
/// few seconds behind them. With SQLite's default of 2000 KiB the malloc arena of the writer's
/// thread (its SQLite heap) was 3.2 MiB after 10 s of 256 connections, with 512 KiB 1.6 MiB,
/// for 1.0 `pread` per prompt instead of 0.9 (`strace -c`, 32 connections).
const WRITER_CACHE_KIB: &str = "-512";

impl SqliteStore {
    /// Opens (creating when missing) the database at `url` and migrates it.
    pub async fn connect(url: &str, options: &LedgerOptions) -> Result<Self, StoreError> {
        let connect = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::new(format!("invalid SQLite URL {}: {e}", redact(url))))?;
        // Each connection to a private in-memory database would see its own empty database.
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        Self::open(connect, options, in_memory).await
    }

    /// [`SqliteStore::connect`] with parsed options.
    pub(crate) async fn open(
        connect: SqliteConnectOptions,
        options: &LedgerOptions,
        in_memory: bool,
    ) -> Result<Self, StoreError> {
        let connect = connect
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5))
            // With WAL, NORMAL can lose the last commits on power loss, never integrity.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            // A multi-row statement inside a batch's transaction keeps a statement journal
            // (the pages it changed, to undo just that statement if it fails). On disk each
            // is a file in /var/tmp, created, unlinked and written: under strace, 118 of them
            // in 6 s at 600 prompts/s, and 9.5 `pwrite`s per prompt where in memory it is 6.1.
            .pragma("temp_store", "MEMORY");
        if !in_memory {
            if let Some(dir) = connect.get_filename().parent() {
                if !dir.as_os_str().is_empty() {
                    tokio::fs::create_dir_all(dir).await.map_err(|e| {
                        StoreError::new(format!("cannot create directory {}: {e}", dir.display()))
                    })?;
                }
            }
        }
        let pool = if in_memory {
            // One connection that never closes, so the database lives as long as the pool.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(options.max_connections.max(1))
        }
        .acquire_timeout(options.acquire_timeout)
        .connect_with(if in_memory {
            connect.clone()
        } else {
            connect.clone().pragma("cache_size", READ_CACHE_KIB)
        })
        .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        // Batched writes and leases get a connection of their own, so its page cache stays
        // warm: a pool would hand each transaction whichever connection is idle, whose cache
        // the others' commits have made stale, and SQLite would re-read every page it touches.
        let writer = if in_memory {
            pool.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(1)
                // A ping before each transaction is one more hand-off to the connection's
                // thread per group commit, and tells nothing the transaction's own first
                // statement would not: a local file has no peer that can go away.
                .test_before_acquire(false)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect.pragma("cache_size", WRITER_CACHE_KIB))
                .await?
        };
        Ok(Self { pool, writer })
    }
}

// Bodies live in `records` (prompts, listing, statistics, retention) and `queue`
// (correlation jobs, idempotency keys, feedback, refusals).
#[async_trait]
impl PromptStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn pending_correlations(&self) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM correlation_jobs")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn apply(&self, writes: &[LedgerWrite]) -> Result<(), StoreError> {
        self.apply_writes(writes).await
    }

    async fn get(&self, prompt_id: &str) -> Result<Option<PromptRecord>, StoreError> {
        self.read_record(prompt_id).await
    }

    async fn mark_retracted(&self, prompt_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query(sql::MARK_RETRACTED)
            .bind(prompt_id)
            .bind(ts(at))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn claim_correlation_jobs(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<CorrelationClaim>, StoreError> {
        self.claim(owner, lease, limit).await
    }

    async fn reschedule_correlation(
        &self,
        prompt_id: &PromptId,
        owner: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.reschedule(prompt_id, owner, attempts, next_attempt_at)
            .await
    }

    async fn release_correlation_leases(&self, owner: &str) -> Result<u64, StoreError> {
        let released = sqlx::query(sql::RELEASE_LEASES)
            .bind(owner)
            .execute(&self.writer)
            .await?;
        Ok(released.rows_affected())
    }

    async fn begin_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        lease: Duration,
        owner: &str,
    ) -> Result<IdempotencyBegin, StoreError> {
        self.begin_key(scope, key, request_hash, lease, owner).await
    }

    async fn peek_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<Option<IdempotencyBegin>, StoreError> {
        self.peek_key(scope, key, request_hash).await
    }

    async fn complete_idempotent(
        &self,
        scope: &str,
        key: &str,
        owner: &str,
        status: u16,
        body: &serde_json::Value,
        window: Duration,
    ) -> Result<bool, StoreError> {
        self.complete_key(scope, key, owner, status, body, window)
            .await
    }

    async fn abandon_idempotent(
        &self,
        scope: &str,
        key: &str,
        owner: &str,
    ) -> Result<bool, StoreError> {
        self.abandon_key(scope, key, owner).await
    }

    async fn record_feedback(
        &self,
        prompt_id: &str,
        feedback: &Feedback,
    ) -> Result<FeedbackOutcome, StoreError> {
        self.feedback(prompt_id, feedback).await
    }

    async fn stats(&self, query: &StatsQuery) -> Result<Vec<StatsRow>, StoreError> {
        self.compute_stats(query).await
    }

    async fn list_prompts(&self, query: &ListQuery) -> Result<PromptPage, StoreError> {
        self.list(query).await
    }

    fn export(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> BoxStream<'_, Result<PromptRecord, StoreError>> {
        self.export_stream(from, to)
    }

    async fn count_refusals(
        &self,
        kind: RefusalKind,
        at: OffsetDateTime,
        count: u64,
    ) -> Result<(), StoreError> {
        self.add_refusal(kind, at, count).await
    }

    async fn refusals(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> Result<Vec<RefusalCount>, StoreError> {
        self.refusal_counts(from, to).await
    }

    async fn prune(&self, older_than: OffsetDateTime, batch: u32) -> Result<Pruned, StoreError> {
        self.prune_batch(older_than, batch).await
    }
}

#[cfg(test)]
mod tests;
