//! Correlation jobs, idempotency keys, feedback and refusal counts.

use std::time::Duration;

use sqlx::Sqlite;
use time::OffsetDateTime;

use super::{ts, SqliteStore, BEGIN_WRITE};
use crate::{
    domain::PromptId,
    store::{
        rows::utc_day,
        sql::{self, claim_jobs, due_jobs},
        support::{last_instant_before, plus, ClaimRow, IdempotencyRow, RefusalRow},
        CorrelationClaim, Feedback, FeedbackOutcome, IdempotencyBegin, RefusalCount, RefusalKind,
        StoreError,
    },
};

/// One statement, run under the write lock, so no two claimers see the same job as free.
const CLAIM: &str = claim_jobs!(due_jobs!());
/// `$1` scope, `$2` key (and `$3` now in [`PEEK_IDEMPOTENT`]).
macro_rules! select_idempotent {
    () => {
        "SELECT request_hash, state, response_status, response_body \
     FROM idempotency_keys WHERE scope = $1 AND key = $2"
    };
}
const SELECT_IDEMPOTENT: &str = select_idempotent!();
/// A key still in force: a lapsed lease or an ended window counts as no key.
const PEEK_IDEMPOTENT: &str = concat!(select_idempotent!(), " AND expires_at > $3");

impl SqliteStore {
    pub(super) async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<CorrelationClaim>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = OffsetDateTime::now_utc();
        let mut tx = self.writer.begin_with(BEGIN_WRITE).await?;
        let rows = sqlx::query_as::<_, ClaimRow<i64>>(CLAIM)
            .bind(owner)
            .bind(ts(plus(now, lease)))
            .bind(ts(now))
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.into_iter().map(ClaimRow::into_claim).collect()
    }

    pub(super) async fn reschedule(
        &self,
        prompt_id: &PromptId,
        owner: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with(BEGIN_WRITE).await?;
        let held = sqlx::query(sql::RESCHEDULE_JOB)
            .bind(prompt_id.as_str())
            .bind(owner)
            .bind(i64::from(attempts))
            .bind(ts(next_attempt_at))
            .execute(&mut *tx)
            .await?
            .rows_affected()
            > 0;
        if !held {
            return Ok(false);
        }
        sqlx::query(sql::SET_CORRELATION_ATTEMPTS)
            .bind(prompt_id.as_str())
            .bind(i64::from(attempts))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub(super) async fn begin_key(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        lease: Duration,
        owner: &str,
    ) -> Result<IdempotencyBegin, StoreError> {
        let now = OffsetDateTime::now_utc();
        // A key deleted between the two statements (abandoned, pruned) is simply tried again.
        for _ in 0..3 {
            let owned = sqlx::query(sql::BEGIN_IDEMPOTENT)
                .bind(scope)
                .bind(key)
                .bind(request_hash)
                .bind(ts(now))
                .bind(ts(plus(now, lease)))
                .bind(owner)
                .fetch_optional(&self.pool)
                .await?;
            if owned.is_some() {
                return Ok(IdempotencyBegin::Started);
            }
            let existing = sqlx::query_as::<_, IdempotencyRow>(SELECT_IDEMPOTENT)
                .bind(scope)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
            if let Some(existing) = existing {
                return existing.classify(request_hash);
            }
        }
        Err(StoreError::new("idempotency key changed repeatedly; retry"))
    }

    pub(super) async fn peek_key(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<Option<IdempotencyBegin>, StoreError> {
        let existing = sqlx::query_as::<_, IdempotencyRow>(PEEK_IDEMPOTENT)
            .bind(scope)
            .bind(key)
            .bind(ts(OffsetDateTime::now_utc()))
            .fetch_optional(&self.pool)
            .await?;
        existing.map(|row| row.classify(request_hash)).transpose()
    }

    pub(super) async fn complete_key(
        &self,
        scope: &str,
        key: &str,
        owner: &str,
        status: u16,
        body: &serde_json::Value,
        window: Duration,
    ) -> Result<bool, StoreError> {
        let completed = sqlx::query(sql::COMPLETE_IDEMPOTENT)
            .bind(scope)
            .bind(key)
            .bind(i64::from(status))
            .bind(body.to_string())
            .bind(ts(plus(OffsetDateTime::now_utc(), window)))
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(completed.rows_affected() > 0)
    }

    pub(super) async fn abandon_key(
        &self,
        scope: &str,
        key: &str,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let abandoned = sqlx::query(sql::ABANDON_IDEMPOTENT)
            .bind(scope)
            .bind(key)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(abandoned.rows_affected() > 0)
    }

    pub(super) async fn feedback(
        &self,
        prompt_id: &str,
        feedback: &Feedback,
    ) -> Result<FeedbackOutcome, StoreError> {
        let inserted = sqlx::query(sql::INSERT_FEEDBACK)
            .bind(prompt_id)
            .bind(feedback.outcome.as_str())
            .bind(feedback.agent_id.as_deref())
            .bind(ts(feedback.at))
            .bind(ts(OffsetDateTime::now_utc()))
            .execute(&self.pool)
            .await?
            .rows_affected();
        if inserted > 0 {
            return Ok(FeedbackOutcome::Recorded);
        }
        let known: i64 = sqlx::query_scalar(sql::PROMPT_EXISTS)
            .bind(prompt_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(if known > 0 {
            FeedbackOutcome::AlreadyRecorded
        } else {
            FeedbackOutcome::UnknownPrompt
        })
    }

    pub(super) async fn add_refusal(
        &self,
        kind: RefusalKind,
        at: OffsetDateTime,
        count: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(sql::COUNT_REFUSAL)
            .bind(utc_day(at))
            .bind(kind.as_str())
            .bind(i64::try_from(count).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn refusal_counts(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> Result<Vec<RefusalCount>, StoreError> {
        let mut qb =
            sqlx::QueryBuilder::<Sqlite>::new("SELECT day, kind, count FROM refusals WHERE 1 = 1");
        // Days are 'YYYY-MM-DD' text, which compares as dates do.
        if let Some(from) = from {
            qb.push(" AND day >= ").push_bind(utc_day(from));
        }
        if let Some(to) = to {
            qb.push(" AND day <= ")
                .push_bind(utc_day(last_instant_before(to)));
        }
        qb.push(" ORDER BY day, kind");
        let rows: Vec<RefusalRow> = qb.build_query_as().fetch_all(&self.pool).await?;
        rows.into_iter().map(RefusalRow::into_count).collect()
    }
}
