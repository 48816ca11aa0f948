//! A group commit's writes as a few multi-row statements instead of several per prompt.
//!
//! Every statement is a round trip to sqlx's SQLite worker thread (a hand-off each way), so
//! fewer statements per prompt cost less whatever SQLite does with them. The batch's new records
//! go in as one `INSERT`, their attempts and correlation jobs as one more each, correlation
//! results as one `UPDATE ... FROM (VALUES ...)`, and finished jobs go in one `DELETE`.
//! The commonest shapes go further: a chunk of first deliveries is one hand-off for all three
//! tables, and a chunk of final correlation results one for the update and the delete (sqlx
//! runs every statement of a query's SQL, binding its parameters in order).

use std::{borrow::Cow, collections::HashSet};

use sqlx::SqliteConnection;

use super::{
    group_statements::{
        ATTEMPTS, CORRELATIONS, DELETE_JOBS, FINISHED_CORRELATIONS, FIRST_DELIVERIES, JOBS, PROMPTS,
    },
    multi_row::chunks,
    records::replace_failed,
    ts,
};
use crate::{
    delivery::AttemptRecord,
    domain::PromptId,
    store::{
        sql::{bind_attempt, bind_job, bind_prompt, INSERT_PROMPT},
        CorrelationState, CorrelationUpdate, LedgerWrite, NewJob, PromptRecord, StoreError,
    },
};

type NewRecord<'a> = (&'a PromptRecord, Option<&'a NewJob>);

pub(super) async fn apply(
    conn: &mut SqliteConnection,
    writes: &[LedgerWrite],
) -> Result<(), StoreError> {
    let mut records = Vec::new();
    let mut updates = Vec::new();
    for write in writes {
        match write {
            LedgerWrite::Record { record, job } => records.push((record.as_ref(), job.as_ref())),
            LedgerWrite::Correlation { prompt_id, update } => updates.push((prompt_id, update)),
        }
    }
    // Records first: a correlation result can only be for a record written earlier.
    write_records(conn, &records).await?;
    write_correlations(conn, &updates).await
}

async fn write_records(
    conn: &mut SqliteConnection,
    records: &[NewRecord<'_>],
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
    records: &[NewRecord<'_>],
) -> Result<(), StoreError> {
    let mut others = Vec::new();
    for chunk in chunks(records) {
        if !(chunk.iter().all(is_first_delivery) && insert_first_deliveries(conn, chunk).await?) {
            others.extend_from_slice(chunk);
        }
    }
    write_table_by_table(conn, &others).await
}

/// Delivered at the first attempt, with its correlation job to write.
fn is_first_delivery((record, job): &NewRecord<'_>) -> bool {
    record.attempts.len() == 1 && record.correlation == CorrelationState::Pending && job.is_some()
}

/// Writes a chunk of first deliveries; `false` (and nothing written) when an id is taken.
async fn insert_first_deliveries(
    conn: &mut SqliteConnection,
    chunk: &[NewRecord<'_>],
) -> Result<bool, StoreError> {
    let mut query = sqlx::query(FIRST_DELIVERIES.sql(chunk.len()));
    for (record, _) in chunk {
        query = bind_prompt!(query, *record, ts);
    }
    for (record, _) in chunk {
        query = bind_attempt!(
            query,
            record.prompt_id.as_str(),
            0_i64,
            &record.attempts[0],
            ts
        );
    }
    for (record, job) in chunk.iter().filter_map(|(r, job)| Some((r, (*job)?))) {
        query = bind_job!(query, *record, job, ts);
    }
    match query.execute(&mut *conn).await {
        Ok(_) => Ok(true),
        // A retry of a failed prompt under its own id: the general path replaces the record.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => Ok(false),
        Err(error) => Err(error.into()),
    }
}

/// Records, then attempts, then jobs, each table in multi-row statements.
async fn write_table_by_table(
    conn: &mut SqliteConnection,
    records: &[NewRecord<'_>],
) -> Result<(), StoreError> {
    // The record's own attempts are borrowed; only a replaced record's come from the ledger.
    let mut attempts: Vec<(&str, i64, Cow<'_, AttemptRecord>)> = Vec::new();
    let mut jobs = Vec::new();
    for chunk in chunks(records) {
        let inserted = insert_prompts(conn, chunk).await?;
        for &(record, job) in chunk {
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
            if let Some(job) = job {
                if record.correlation == CorrelationState::Pending {
                    jobs.push((record, job));
                }
            }
        }
    }
    for chunk in chunks(&attempts) {
        let mut query = sqlx::query(ATTEMPTS.sql(chunk.len()));
        for (key, seq, attempt) in chunk {
            query = bind_attempt!(query, *key, *seq, attempt.as_ref(), ts);
        }
        query.execute(&mut *conn).await?;
    }
    for chunk in chunks(&jobs) {
        let mut query = sqlx::query(JOBS.sql(chunk.len()));
        for (record, job) in chunk {
            query = bind_job!(query, *record, *job, ts);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Inserts what it can of `chunk` and returns the ids that went in (the others are taken).
async fn insert_prompts<'a>(
    conn: &mut SqliteConnection,
    chunk: &[NewRecord<'a>],
) -> Result<HashSet<&'a str>, StoreError> {
    let mut query = sqlx::query(PROMPTS.sql(chunk.len()));
    for (record, _) in chunk {
        query = bind_prompt!(query, *record, ts);
    }
    match query.execute(&mut *conn).await {
        Ok(_) => return Ok(chunk.iter().map(|(r, _)| r.prompt_id.as_str()).collect()),
        // An id is taken (rare: a retry of a failed prompt under its own id). SQLite has
        // undone just that statement, so the records go in one by one to learn which.
        Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {}
        Err(error) => return Err(error.into()),
    }
    let mut inserted = HashSet::new();
    for (record, _) in chunk {
        let query = bind_prompt!(sqlx::query(INSERT_PROMPT), *record, ts);
        if query.execute(&mut *conn).await?.rows_affected() > 0 {
            inserted.insert(record.prompt_id.as_str());
        }
    }
    Ok(inserted)
}

async fn write_correlations(
    conn: &mut SqliteConnection,
    updates: &[(&PromptId, &CorrelationUpdate)],
) -> Result<(), StoreError> {
    // With one prompt twice in a statement, SQLite would apply either row; in order, then.
    let mut ids = HashSet::new();
    let distinct = updates.iter().all(|(id, _)| ids.insert(id.as_str()));
    let groups: Vec<&[_]> = if distinct {
        chunks(updates).collect()
    } else {
        updates.chunks(1).collect()
    };
    let now = ts(time::OffsetDateTime::now_utc());
    for group in groups {
        let finished: Vec<&str> = (group.iter())
            .filter(|(_, update)| update.state != CorrelationState::Pending)
            .map(|(prompt_id, _)| prompt_id.as_str())
            .collect();
        // Usually every result is final: their jobs are deleted in the same hand-off.
        let all_final = finished.len() == group.len();
        let sql = if all_final {
            FINISHED_CORRELATIONS.sql(group.len())
        } else {
            CORRELATIONS.sql(group.len())
        };
        let mut query = sqlx::query(sql);
        for (prompt_id, update) in group {
            let correlated = update.state == CorrelationState::Correlated;
            query = query
                .bind(prompt_id.as_str())
                .bind(update.state.as_str())
                .bind(i64::from(update.attempts))
                .bind(update.transcript_id.as_deref().filter(|_| correlated))
                .bind(correlated.then_some(now))
                .bind(update.detail.as_deref());
        }
        if all_final {
            for id in &finished {
                query = query.bind(*id);
            }
        }
        query.execute(&mut *conn).await?;
        if !all_final {
            delete_jobs(conn, &finished).await?;
        }
    }
    Ok(())
}

async fn delete_jobs(conn: &mut SqliteConnection, prompt_ids: &[&str]) -> Result<(), StoreError> {
    for chunk in chunks(prompt_ids) {
        let mut query = sqlx::query(DELETE_JOBS.sql(chunk.len()));
        for id in chunk {
            query = query.bind(*id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}
