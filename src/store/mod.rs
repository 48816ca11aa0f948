//! The prompt ledger: delivery records, the correlation queue, idempotency keys, feedback and
//! refusal counts, behind one trait with two engines.
//!
//! SQLite (one file, the default) suits a single replica; PostgreSQL lets several replicas
//! share the ledger and its correlation queue. [`connect`] picks the engine from the URL and
//! applies that engine's migrations (`migrations/sqlite`, `migrations/postgres`, embedded in
//! the binary). Timestamps are kept to the microsecond in both engines.

#![warn(missing_docs)]

mod batch;
mod connect;
mod cursor;
mod error;
mod export;
mod postgres;
mod record;
mod rows;
mod sql;
mod sqlite;
mod stats;
mod support;
mod types;
mod writer_health;

#[cfg(test)]
mod tests;

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use time::OffsetDateTime;

pub use batch::{BatchWriter, BatchWriterTask, PendingCommit};
pub use connect::{connect, redact, LedgerOptions};
pub use cursor::Cursor;
pub use error::StoreError;
pub use postgres::PostgresStore;
pub use record::{CorrelationState, CorrelationUpdate, DeliveryStatus, PromptRecord};
pub use sqlite::SqliteStore;
pub use types::{
    CorrelationClaim, Feedback, FeedbackKind, FeedbackOutcome, GroupBy, IdempotencyBegin, JobLease,
    ListQuery, NewJob, PromptPage, Pruned, RefusalCount, RefusalKind, StatsQuery, StatsRow,
};
pub use writer_health::WriterHealth;

use crate::domain::PromptId;

/// One change to the ledger; [`PromptStore::apply`] commits several at once.
#[derive(Debug, Clone)]
pub enum LedgerWrite {
    /// A new record with its attempts and, when `job` is set and the record's correlation is
    /// pending, its correlation job.
    Record {
        /// The record (boxed: it is far larger than the other variant).
        record: Box<PromptRecord>,
        /// The correlation job to queue with it.
        job: Option<NewJob>,
    },
    /// Where a record's correlation ended (or stands); a final state also removes its job.
    Correlation {
        /// The record's `prompt_id`.
        prompt_id: PromptId,
        /// What the look-ups found.
        update: CorrelationUpdate,
    },
}

/// The URL the service uses when none is configured.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/cxone-assist.db";

/// The ledger. Every method is safe to call from many tasks and, with PostgreSQL (or several
/// processes on one SQLite file), from many processes.
#[async_trait]
pub trait PromptStore: Send + Sync {
    /// A cheap round trip (`SELECT 1`), for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Correlation jobs not yet finished, leased or not (the queue's depth, for metrics).
    async fn pending_correlations(&self) -> Result<u64, StoreError>;

    /// Applies `writes` in order in one transaction: all of them or none. The service hands
    /// its writes to a [`BatchWriter`], so a busy ledger commits once per batch, not once per
    /// prompt.
    async fn apply(&self, writes: &[LedgerWrite]) -> Result<(), StoreError>;

    /// Stores a record (with its attempts) and no correlation job.
    async fn insert(&self, record: PromptRecord) -> Result<(), StoreError> {
        self.apply(&[LedgerWrite::Record {
            record: Box::new(record),
            job: None,
        }])
        .await
    }

    /// Stores a record and, when its correlation is pending, a correlation job due now that
    /// gives up at `completed_at + give_up_after`, in one transaction: a crash right after
    /// delivery leaves the job for a worker to find.
    async fn insert_with_job(
        &self,
        record: PromptRecord,
        give_up_after: Duration,
    ) -> Result<(), StoreError> {
        self.apply(&[LedgerWrite::Record {
            record: Box::new(record),
            job: Some(NewJob {
                give_up_after,
                lease: None,
            }),
        }])
        .await
    }

    /// Finds a record, with its attempts in order, by its `prompt_id` or `primary_prompt_id`.
    async fn get(&self, prompt_id: &str) -> Result<Option<PromptRecord>, StoreError>;

    /// Marks a record withdrawn from the agent's screen at `at`, unless it already is; either
    /// of the prompt's ids finds it.
    async fn mark_retracted(&self, prompt_id: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Records where correlation ended (or stands). A final state also removes the job.
    async fn update_correlation(
        &self,
        prompt_id: &PromptId,
        update: CorrelationUpdate,
    ) -> Result<(), StoreError> {
        self.apply(&[LedgerWrite::Correlation {
            prompt_id: prompt_id.clone(),
            update,
        }])
        .await
    }

    /// Leases up to `limit` due jobs (`next_attempt_at <= now`, unleased or lease expired) to
    /// `owner` for `lease`. No two callers ever hold the same job's lease at once.
    async fn claim_correlation_jobs(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<CorrelationClaim>, StoreError>;

    /// Puts a leased job back for a later try: releases the lease, sets the attempts made
    /// (also on the record) and when it is next due. `false` (and no change) when `owner` no
    /// longer holds the lease, e.g. because it expired and another worker took the job.
    async fn reschedule_correlation(
        &self,
        prompt_id: &PromptId,
        owner: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Frees every job `owner` leases, for a worker that is stopping: the next start (or
    /// another replica) takes them up when they are due rather than when the leases run out.
    /// How many were freed.
    async fn release_correlation_leases(&self, owner: &str) -> Result<u64, StoreError>;

    /// Claims `(scope, key)` for `owner` (a token of the claiming request's own), for a
    /// request whose body hashes to `request_hash`, for `lease`: how long the request may
    /// take. A claim whose lease ran out (its request died with its process) or a completed
    /// key whose window ended is replaced. Race-free across replicas.
    async fn begin_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        lease: Duration,
        owner: &str,
    ) -> Result<IdempotencyBegin, StoreError>;

    /// What [`PromptStore::begin_idempotent`] would find, without writing: `None` when the
    /// key is free (never used, or its lease or window ran out).
    async fn peek_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<Option<IdempotencyBegin>, StoreError>;

    /// Stores the answer to replay for `(scope, key)`, replayed for `window` from now, if
    /// `owner` still holds its claim. `false` (and no change) when it does not: its lease ran
    /// out and another request took the key over, or the key was pruned.
    async fn complete_idempotent(
        &self,
        scope: &str,
        key: &str,
        owner: &str,
        status: u16,
        body: &serde_json::Value,
        window: Duration,
    ) -> Result<bool, StoreError>;

    /// Forgets `owner`'s in-progress claim so the request may be retried (a failure that
    /// must not be replayed). Completed keys, and claims another request holds, are kept:
    /// `false` then.
    async fn abandon_idempotent(
        &self,
        scope: &str,
        key: &str,
        owner: &str,
    ) -> Result<bool, StoreError>;

    /// Records feedback once per (prompt, outcome); either of the prompt's ids finds it.
    async fn record_feedback(
        &self,
        prompt_id: &str,
        feedback: &Feedback,
    ) -> Result<FeedbackOutcome, StoreError>;

    /// Delivery and feedback figures over records received in `[from, to)`, by group.
    async fn stats(&self, query: &StatsQuery) -> Result<Vec<StatsRow>, StoreError>;

    /// One page of records, newest first, continuing after `query.cursor`.
    async fn list_prompts(&self, query: &ListQuery) -> Result<PromptPage, StoreError>;

    /// Every record received in `[from, to)`, oldest first, with attempts, read in batches so
    /// memory stays flat however many there are.
    fn export(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> BoxStream<'_, Result<PromptRecord, StoreError>>;

    /// Adds `count` refusals of `kind` to `at`'s UTC day.
    async fn count_refusals(
        &self,
        kind: RefusalKind,
        at: OffsetDateTime,
        count: u64,
    ) -> Result<(), StoreError>;

    /// Refusal counts for the UTC days overlapping `[from, to)`, by day then kind.
    async fn refusals(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> Result<Vec<RefusalCount>, StoreError>;

    /// Deletes up to `batch` records received before `older_than`, oldest first (their
    /// attempts, feedback and jobs go with them), up to `batch` expired idempotency keys and
    /// the refusal counts of days before `older_than`'s. Returns how many records and keys
    /// went; call again while either filled its batch ([`Pruned::more_left`]), so no
    /// statement holds locks for long. Keys expire on their own schedule, not with records,
    /// so either may run out first.
    async fn prune(&self, older_than: OffsetDateTime, batch: u32) -> Result<Pruned, StoreError>;
}
