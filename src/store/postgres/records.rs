//! Prompts: writing, reading, listing, exporting, statistics and retention.

use futures::stream::BoxStream;
use sqlx::{PgConnection, Postgres};
use time::{OffsetDateTime, UtcOffset};

use super::{ts, PostgresStore};
use crate::{
    delivery::AttemptRecord,
    domain::PromptId,
    store::{
        export::{self, EXPORT_BATCH},
        rows::{self, assemble, AttemptRow, RecordRow},
        sql::{self, bind_attempt, bind_job, bind_prompt, Window},
        stats::{self, StatsAgg},
        CorrelationState, CorrelationUpdate, Cursor, LedgerWrite, ListQuery, NewJob, PromptPage,
        PromptRecord, Pruned, StatsQuery, StatsRow, StoreError,
    },
};

/// The UTC day of `received_at`.
const DAY: &str = "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')";

impl PostgresStore {
    /// Applies `writes` in one transaction (see [`PromptStore::apply`]).
    pub(super) async fn apply_writes(&self, writes: &[LedgerWrite]) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for write in writes {
            match write {
                LedgerWrite::Record { record, job } => {
                    write_record(&mut tx, record, job.as_ref()).await?
                }
                LedgerWrite::Correlation { prompt_id, update } => {
                    finish_correlation(&mut tx, prompt_id, update).await?
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn read_record(
        &self,
        prompt_id: &str,
    ) -> Result<Option<PromptRecord>, StoreError> {
        let Some(row) = sqlx::query_as::<_, RecordRow<OffsetDateTime>>(sql::SELECT_RECORD)
            .bind(prompt_id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        // Attempts are written with their record, so no transaction: only a read that races
        // a retry replacing a failed record can see that record without its attempts.
        let attempts = sqlx::query_as::<_, AttemptRow<OffsetDateTime>>(sql::SELECT_ATTEMPTS)
            .bind(row.prompt_id())
            .fetch_all(&self.pool)
            .await?;
        Ok(assemble(vec![row], attempts)?.pop())
    }

    /// A keyset window of records with their attempts.
    async fn fetch_window(
        &self,
        window: Window<OffsetDateTime>,
    ) -> Result<Vec<PromptRecord>, StoreError> {
        let records: Vec<RecordRow<OffsetDateTime>> =
            sql::window_query::<Postgres, OffsetDateTime>(window)
                .build_query_as()
                .fetch_all(&self.pool)
                .await?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let keys = records.iter().map(|r| r.prompt_id().to_owned()).collect();
        let attempts: Vec<AttemptRow<OffsetDateTime>> = sql::attempts_query::<Postgres>(keys)
            .build_query_as()
            .fetch_all(&self.pool)
            .await?;
        assemble(records, attempts)
    }

    pub(super) async fn list(&self, query: &ListQuery) -> Result<PromptPage, StoreError> {
        let limit = query.limit.max(1) as usize;
        let mut items = self
            .fetch_window(Window {
                interaction_id: query.interaction_id.clone(),
                agent_id: query.agent_id.clone(),
                from: query.from.map(ts),
                to: query.to.map(ts),
                after: query
                    .cursor
                    .as_ref()
                    .map(|c| (ts(c.received_at()), c.prompt_id().to_owned())),
                newest_first: true,
                // One more than asked tells whether another page exists.
                limit: limit as i64 + 1,
            })
            .await?;
        Ok(rows::page(&mut items, limit))
    }

    pub(super) fn export_stream(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> BoxStream<'_, Result<PromptRecord, StoreError>> {
        export::batched(move |after: Option<Cursor>| {
            self.fetch_window(Window {
                interaction_id: None,
                agent_id: None,
                from: from.map(ts),
                to: to.map(ts),
                after: after.map(|c| (ts(c.received_at()), c.prompt_id().to_owned())),
                newest_first: false,
                limit: i64::from(EXPORT_BATCH),
            })
        })
    }

    pub(super) async fn compute_stats(
        &self,
        query: &StatsQuery,
    ) -> Result<Vec<StatsRow>, StoreError> {
        let group = stats::group_expr(query.group_by, DAY);
        let rows: Vec<StatsAgg> = stats::stats_query::<Postgres, OffsetDateTime>(
            group,
            query.from.map(ts),
            query.to.map(ts),
        )
        .build_query_as()
        .fetch_all(&self.pool)
        .await?;
        Ok(stats::finish(query, rows))
    }

    /// Separate statements, each short: retention must not hold the write lock for long.
    pub(super) async fn prune_batch(
        &self,
        older_than: OffsetDateTime,
        batch: u32,
    ) -> Result<Pruned, StoreError> {
        let records = sqlx::query(sql::PRUNE_PROMPTS)
            .bind(ts(older_than))
            .bind(i64::from(batch))
            .execute(&self.pool)
            .await?
            .rows_affected();
        let idempotency_keys = sqlx::query(sql::PRUNE_IDEMPOTENCY)
            .bind(ts(OffsetDateTime::now_utc()))
            .bind(i64::from(batch))
            .execute(&self.pool)
            .await?
            .rows_affected();
        sqlx::query(sql::PRUNE_REFUSALS)
            .bind(older_than.to_offset(UtcOffset::UTC).date())
            .execute(&self.pool)
            .await?;
        Ok(Pruned {
            records,
            idempotency_keys,
        })
    }
}

/// The record, its attempts and (when asked and pending) its job.
async fn write_record(
    conn: &mut PgConnection,
    record: &PromptRecord,
    job: Option<&NewJob>,
) -> Result<(), StoreError> {
    let inserted = bind_prompt!(sqlx::query(sql::INSERT_PROMPT), record, ts)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        > 0;
    let earlier = if inserted {
        Vec::new()
    } else {
        replace_failed(conn, record).await?
    };
    let key = record.prompt_id.as_str();
    for (seq, attempt) in (0_i64..).zip(earlier.iter().chain(&record.attempts)) {
        bind_attempt!(sqlx::query(sql::INSERT_ATTEMPT), key, seq, attempt, ts)
            .execute(&mut *conn)
            .await?;
    }
    if let Some(job) = job {
        if record.correlation == CorrelationState::Pending {
            bind_job!(sqlx::query(sql::INSERT_JOB), record, job, ts)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// `record`'s ids are taken. When by a failed record of the same prompt (a retry under the
/// caller's own id), that record makes way and its attempts are returned to be kept first;
/// otherwise (a delivered record above all) the write is refused, never overwriting.
async fn replace_failed(
    conn: &mut PgConnection,
    record: &PromptRecord,
) -> Result<Vec<AttemptRecord>, StoreError> {
    let primary = record.primary_prompt_id.as_str();
    let earlier = sqlx::query_as::<_, AttemptRow<OffsetDateTime>>(sql::SELECT_FAILED_ATTEMPTS)
        .bind(primary)
        .fetch_all(&mut *conn)
        .await?;
    let replaced = sqlx::query(sql::DELETE_FAILED_PROMPT)
        .bind(primary)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        > 0;
    let inserted = replaced
        && bind_prompt!(sqlx::query(sql::INSERT_PROMPT), record, ts)
            .execute(&mut *conn)
            .await?
            .rows_affected()
            > 0;
    if !inserted {
        return Err(StoreError::new(format!(
            "prompt {} is already recorded",
            record.prompt_id
        )));
    }
    earlier.into_iter().map(AttemptRow::into_attempt).collect()
}

async fn finish_correlation(
    conn: &mut PgConnection,
    prompt_id: &PromptId,
    update: &CorrelationUpdate,
) -> Result<(), StoreError> {
    let correlated = update.state == CorrelationState::Correlated;
    sqlx::query(sql::UPDATE_CORRELATION)
        .bind(prompt_id.as_str())
        .bind(update.state.as_str())
        .bind(i64::from(update.attempts))
        .bind(update.transcript_id.as_deref().filter(|_| correlated))
        .bind(correlated.then(|| ts(OffsetDateTime::now_utc())))
        .bind(update.detail.as_deref())
        .execute(&mut *conn)
        .await?;
    if update.state != CorrelationState::Pending {
        sqlx::query(sql::DELETE_JOB)
            .bind(prompt_id.as_str())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
