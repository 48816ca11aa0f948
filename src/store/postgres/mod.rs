//! The PostgreSQL engine, for several replicas sharing one ledger.
//!
//! Correlation jobs are leased with `SELECT ... FOR UPDATE SKIP LOCKED`, so replicas claim
//! disjoint jobs without waiting on each other. Migrations take sqlx's advisory lock, so
//! replicas starting together apply them once.

mod queue;
mod records;

use std::{str::FromStr, time::Duration};

use async_trait::async_trait;
use futures::stream::BoxStream;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};
use time::OffsetDateTime;

use super::{
    redact, rows::truncate, sql, CorrelationClaim, Feedback, FeedbackOutcome, IdempotencyBegin,
    LedgerOptions, LedgerWrite, ListQuery, PromptPage, PromptRecord, PromptStore, Pruned,
    RefusalCount, RefusalKind, StatsQuery, StatsRow, StoreError,
};
use crate::domain::PromptId;

/// Timestamps are TIMESTAMPTZ; cut to microseconds here so both engines store the same
/// instant (PostgreSQL would truncate anyway, but rounding rules are then ours).
fn ts(t: OffsetDateTime) -> OffsetDateTime {
    truncate(t)
}

/// The ledger in a PostgreSQL database.
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` and migrates it.
    pub async fn connect(url: &str, options: &LedgerOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::new(format!("invalid PostgreSQL URL {}: {e}", redact(url))))?;
        Self::open(connect, options).await
    }

    /// [`PostgresStore::connect`] with parsed options (tests set `search_path` here).
    pub(crate) async fn open(
        connect: PgConnectOptions,
        options: &LedgerOptions,
    ) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }
}

// Bodies live in `records` (prompts, listing, statistics, retention) and `queue`
// (correlation jobs, idempotency keys, feedback, refusals).
#[async_trait]
impl PromptStore for PostgresStore {
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
            .execute(&self.pool)
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
            .execute(&self.pool)
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
