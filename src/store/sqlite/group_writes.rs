//! A group commit's writes as a few multi-row statements instead of several per prompt.
//!
//! Every statement is a round trip to sqlx's SQLite worker thread, and under load those
//! hand-offs, not SQLite itself, are most of what a record costs. So the batch's new records
//! go in as one `INSERT`, their attempts and correlation jobs as one more each, and finished
//! correlation jobs are deleted by one `DELETE`.

use std::{borrow::Cow, collections::HashSet, sync::LazyLock, time::Duration};

use sqlx::SqliteConnection;

use super::{records::replace_failed, ts};
use crate::{
    delivery::AttemptRecord,
    domain::PromptId,
    store::{
        sql::{
            bind_attempt, bind_job, bind_prompt, INSERT_ATTEMPT, INSERT_JOB, INSERT_PROMPT,
            UPDATE_CORRELATION,
        },
        CorrelationState, CorrelationUpdate, LedgerWrite, PromptRecord, StoreError,
    },
};

/// SQLite allows 32766 bound values per statement; rows are chunked well below it.
const MAX_VALUES: usize = 30_000;
/// Statements for at most this many rows are kept prepared; larger ones are one-offs, so a
/// burst of odd batch sizes does not evict the statements every batch uses.
const CACHED_ROWS: usize = 4;

pub(super) async fn apply(
    conn: &mut SqliteConnection,
    writes: &[LedgerWrite],
) -> Result<(), StoreError> {
    let mut records = Vec::new();
    let mut finished = Vec::new();
    for write in writes {
        match write {
            LedgerWrite::Record {
                record,
                job_give_up_after,
            } => records.push((record.as_ref(), *job_give_up_after)),
            LedgerWrite::Correlation { prompt_id, update } => {
                update_correlation(conn, prompt_id, update).await?;
                if update.state != CorrelationState::Pending {
                    finished.push(prompt_id.as_str());
                }
            }
        }
    }
    write_records(conn, &records).await?;
    delete_jobs(conn, &finished).await
}

async fn write_records(
    conn: &mut SqliteConnection,
    records: &[(&PromptRecord, Option<Duration>)],
) -> Result<(), StoreError> {
    // Two records of one prompt in a batch (a failure and its retry) must be written one
    // after the other, attempts included, for the second to replace the first.
    let mut ids = HashSet::new();
    let distinct = records.iter().all(|(record, _)| {
        let (id, primary) = (record.prompt_id.as_str(), record.primary_prompt_id.as_str());
        let fresh = !ids.contains(id) && !ids.contains(primary);
        ids.insert(id);
        ids.insert(primary);
        fresh
    });
    if distinct {
        return write_group(conn, records).await;
    }
    for record in records {
        write_group(conn, std::slice::from_ref(record)).await?;
    }
    Ok(())
}

async fn write_group(
    conn: &mut SqliteConnection,
    records: &[(&PromptRecord, Option<Duration>)],
) -> Result<(), StoreError> {
    // The record's own attempts are borrowed; only a replaced record's come from the ledger.
    let mut attempts: Vec<(&str, i64, Cow<'_, AttemptRecord>)> = Vec::new();
    let mut jobs = Vec::new();
    for chunk in records.chunks(MAX_VALUES / PROMPTS.columns) {
        let inserted = insert_prompts(conn, chunk).await?;
        for &(record, give_up_after) in chunk {
            // Taken ids are rare: a retry of a failed prompt under the caller's own id.
            let earlier = if inserted.contains(record.prompt_id.as_str()) {
                Vec::new()
            } else {
                replace_failed(conn, record).await?
            };
            let key = record.prompt_id.as_str();
            let all = (earlier.into_iter().map(Cow::Owned))
                .chain(record.attempts.iter().map(Cow::Borrowed));
            attempts.extend((0_i64..).zip(all).map(|(seq, a)| (key, seq, a)));
            if let Some(give_up_after) = give_up_after {
                if record.correlation == CorrelationState::Pending {
                    jobs.push((record, give_up_after));
                }
            }
        }
    }
    for chunk in attempts.chunks(MAX_VALUES / ATTEMPTS.columns) {
        let sql = ATTEMPTS.sql(chunk.len());
        let mut query = sqlx::query(&sql).persistent(chunk.len() <= CACHED_ROWS);
        for (key, seq, attempt) in chunk {
            query = bind_attempt!(query, *key, *seq, attempt.as_ref(), ts);
        }
        query.execute(&mut *conn).await?;
    }
    for chunk in jobs.chunks(MAX_VALUES / JOBS.columns) {
        let sql = JOBS.sql(chunk.len());
        let mut query = sqlx::query(&sql).persistent(chunk.len() <= CACHED_ROWS);
        for (record, give_up_after) in chunk {
            query = bind_job!(query, *record, *give_up_after, ts);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts what it can of `chunk` and returns the ids that went in (the others are taken).
async fn insert_prompts(
    conn: &mut SqliteConnection,
    chunk: &[(&PromptRecord, Option<Duration>)],
) -> Result<HashSet<String>, StoreError> {
    let sql = format!("{} RETURNING prompt_id", PROMPTS.sql(chunk.len()));
    let mut query = sqlx::query_scalar::<_, String>(&sql).persistent(chunk.len() <= CACHED_ROWS);
    for (record, _) in chunk {
        query = bind_prompt!(query, *record, ts);
    }
    Ok(query.fetch_all(&mut *conn).await?.into_iter().collect())
}

async fn update_correlation(
    conn: &mut SqliteConnection,
    prompt_id: &PromptId,
    update: &CorrelationUpdate,
) -> Result<(), StoreError> {
    let correlated = update.state == CorrelationState::Correlated;
    sqlx::query(UPDATE_CORRELATION)
        .bind(prompt_id.as_str())
        .bind(update.state.as_str())
        .bind(i64::from(update.attempts))
        .bind(update.transcript_id.as_deref().filter(|_| correlated))
        .bind(correlated.then(|| ts(time::OffsetDateTime::now_utc())))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn delete_jobs(conn: &mut SqliteConnection, prompt_ids: &[&str]) -> Result<(), StoreError> {
    for chunk in prompt_ids.chunks(MAX_VALUES) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!("DELETE FROM correlation_jobs WHERE prompt_id IN ({marks})");
        let mut query = sqlx::query(&sql).persistent(chunk.len() <= CACHED_ROWS);
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The batch's insert statements, each derived once from its one-row form.
static PROMPTS: LazyLock<MultiRow> = LazyLock::new(|| MultiRow::of(INSERT_PROMPT));
static ATTEMPTS: LazyLock<MultiRow> = LazyLock::new(|| MultiRow::of(INSERT_ATTEMPT));
static JOBS: LazyLock<MultiRow> = LazyLock::new(|| MultiRow::of(INSERT_JOB));

/// A one-row `INSERT ... VALUES ($1, ..., $n) [tail]` split so it can be written for any
/// number of rows, with positional parameters.
struct MultiRow {
    head: String,
    /// The row with `?` for each `$n`, its constants (`0` for a new job's attempts) kept.
    row: String,
    tail: String,
    columns: usize,
}

impl MultiRow {
    fn of(single: &str) -> Self {
        let (head, rest) = single.split_once("VALUES").unwrap_or((single, ""));
        let open = rest.find('(').unwrap_or(0);
        let close = rest.find(')').map_or(rest.len(), |i| i + 1);
        let mut row = String::with_capacity(close - open);
        let mut chars = rest[open..close].chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                row.push('?');
            } else {
                row.push(c);
            }
        }
        Self {
            head: format!("{head}VALUES "),
            columns: row.matches('?').count().max(1),
            row,
            tail: rest[close..].to_owned(),
        }
    }

    fn sql(&self, rows: usize) -> String {
        let mut sql = String::with_capacity(self.head.len() + rows * (self.row.len() + 2));
        sql.push_str(&self.head);
        for n in 0..rows {
            if n > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&self.row);
        }
        sql.push_str(&self.tail);
        sql
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_row_insert_becomes_a_multi_row_one() {
        let insert =
            MultiRow::of("INSERT INTO t (a, b, c) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING");
        assert_eq!(insert.columns, 2);
        assert_eq!(
            insert.sql(3),
            "INSERT INTO t (a, b, c) VALUES (?, ?, 0), (?, ?, 0), (?, ?, 0) ON CONFLICT DO NOTHING"
        );
    }

    #[test]
    fn the_statements_have_the_columns_they_bind() {
        assert_eq!(PROMPTS.columns, 20);
        assert_eq!(ATTEMPTS.columns, 9);
        assert_eq!(JOBS.columns, 6);
    }
}
