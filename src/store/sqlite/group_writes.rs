//! A group commit's writes as a few multi-row statements instead of several per prompt.
//!
//! Every statement is a round trip to sqlx's SQLite worker thread, and under load those
//! hand-offs, not SQLite itself, are most of what a record costs. So the batch's new records
//! go in as one `INSERT`, their attempts and correlation jobs as one more each, and finished
//! correlation jobs are deleted by one `DELETE`.

use std::{collections::HashSet, time::Duration};

use sqlx::SqliteConnection;

use super::{records::replace_failed, ts};
use crate::{
    delivery::AttemptRecord,
    domain::PromptId,
    store::{
        sql::{bind_attempt, bind_prompt, INSERT_ATTEMPT, INSERT_JOB, INSERT_PROMPT},
        support::plus,
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
    let mut attempts: Vec<(&str, i64, AttemptRecord)> = Vec::new();
    let mut jobs = Vec::new();
    for chunk in records.chunks(MAX_VALUES / PROMPT_COLUMNS) {
        let inserted = insert_prompts(conn, chunk).await?;
        for &(record, give_up_after) in chunk {
            // Taken ids are rare: a retry of a failed prompt under the caller's own id.
            let earlier = if inserted.contains(record.prompt_id.as_str()) {
                Vec::new()
            } else {
                replace_failed(conn, record).await?
            };
            let key = record.prompt_id.as_str();
            let all = earlier.into_iter().chain(record.attempts.iter().cloned());
            attempts.extend((0_i64..).zip(all).map(|(seq, a)| (key, seq, a)));
            if let Some(give_up_after) = give_up_after {
                if record.correlation == CorrelationState::Pending {
                    jobs.push((record, give_up_after));
                }
            }
        }
    }
    for chunk in attempts.chunks(MAX_VALUES / ATTEMPT_COLUMNS) {
        let sql = multi_row(INSERT_ATTEMPT, ATTEMPT_COLUMNS, chunk.len());
        let mut query = sqlx::query(&sql).persistent(chunk.len() <= CACHED_ROWS);
        for (key, seq, attempt) in chunk {
            query = bind_attempt!(query, *key, *seq, attempt, ts);
        }
        query.execute(&mut *conn).await?;
    }
    for chunk in jobs.chunks(MAX_VALUES / JOB_COLUMNS) {
        let sql = multi_row(INSERT_JOB, JOB_COLUMNS, chunk.len());
        let mut query = sqlx::query(&sql).persistent(chunk.len() <= CACHED_ROWS);
        for (record, give_up_after) in chunk {
            query = query
                .bind(record.prompt_id.as_str())
                .bind(record.interaction_id.as_str())
                .bind(record.agent_id.as_str())
                .bind(record.request_id.as_deref())
                .bind(ts(record.completed_at))
                .bind(ts(plus(record.completed_at, *give_up_after)));
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
    let sql = format!(
        "{} RETURNING prompt_id",
        multi_row(INSERT_PROMPT, PROMPT_COLUMNS, chunk.len())
    );
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
    sqlx::query(crate::store::sql::UPDATE_CORRELATION)
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

const PROMPT_COLUMNS: usize = 20;
const ATTEMPT_COLUMNS: usize = 9;
const JOB_COLUMNS: usize = 6;

/// `single` (an `INSERT ... VALUES ($1, ..., $n) [tail]` of `columns` parameters) with
/// `rows` rows of positional parameters instead of one.
fn multi_row(single: &str, columns: usize, rows: usize) -> String {
    // Only ever called with the constant statements, which a test checks have VALUES.
    let Some((head, rest)) = single.split_once("VALUES") else {
        return single.to_owned();
    };
    let open = rest.find('(').unwrap_or(0);
    let close = rest.find(')').map_or(rest.len(), |i| i + 1);
    // The one row's own text, with its constants (`0` for a new job's attempts) kept.
    let row = &rest[open..close];
    let mut marked = String::with_capacity(row.len());
    let mut chars = row.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            while chars.peek().is_some_and(char::is_ascii_digit) {
                chars.next();
            }
            marked.push('?');
        } else {
            marked.push(c);
        }
    }
    debug_assert_eq!(marked.matches('?').count(), columns);
    let rows = vec![marked.as_str(); rows].join(", ");
    format!("{head}VALUES {rows}{}", &rest[close..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_row_insert_becomes_a_multi_row_one() {
        let single = "INSERT INTO t (a, b, c) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING";
        assert_eq!(
            multi_row(single, 2, 3),
            "INSERT INTO t (a, b, c) VALUES (?, ?, 0), (?, ?, 0), (?, ?, 0) ON CONFLICT DO NOTHING"
        );
    }

    #[test]
    fn the_statements_have_the_columns_counted_here() {
        for (sql, columns) in [
            (INSERT_PROMPT, PROMPT_COLUMNS),
            (INSERT_ATTEMPT, ATTEMPT_COLUMNS),
            (INSERT_JOB, JOB_COLUMNS),
        ] {
            assert_eq!(multi_row(sql, columns, 1).matches('?').count(), columns);
        }
    }
}
