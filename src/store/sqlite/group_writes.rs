//! A group commit's writes as a few multi-row statements instead of several per prompt.
//!
//! Every statement is a round trip to sqlx's SQLite worker thread (a hand-off each way), so
//! fewer statements per prompt cost less whatever SQLite does with them. The batch's new records
//! go in as one `INSERT`, their attempts and correlation jobs as one more each, correlation
//! results as one `UPDATE ... FROM (VALUES ...)`, and finished jobs go in one `DELETE`.
//!
//! Rows are sent in chunks whose sizes are powers of two (a batch of 23 is 16 + 4 + 2 + 1).
//! That bounds the distinct statements to a handful per table, so every one of them stays
//! prepared: parsing a statement with hundreds of parameters costs more than running it.

use std::{borrow::Cow, collections::HashSet, sync::LazyLock};

use sqlx::SqliteConnection;

use super::{records::replace_failed, ts};
use crate::{
    delivery::AttemptRecord,
    domain::PromptId,
    store::{
        sql::{bind_attempt, bind_job, bind_prompt, INSERT_ATTEMPT, INSERT_JOB, INSERT_PROMPT},
        CorrelationState, CorrelationUpdate, LedgerWrite, NewJob, PromptRecord, StoreError,
    },
};

/// The largest chunk, a power of two: 64 records are 1280 bound values, far below SQLite's
/// 32766, and the biggest statement kept prepared stays small.
const MAX_ROWS: usize = 64;

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
    update_correlations(conn, &updates).await?;
    let finished: Vec<&str> = (updates.iter())
        .filter(|(_, update)| update.state != CorrelationState::Pending)
        .map(|(prompt_id, _)| prompt_id.as_str())
        .collect();
    delete_jobs(conn, &finished).await
}

async fn write_records(
    conn: &mut SqliteConnection,
    records: &[(&PromptRecord, Option<&NewJob>)],
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
    records: &[(&PromptRecord, Option<&NewJob>)],
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
    chunk: &[(&'a PromptRecord, Option<&NewJob>)],
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

async fn update_correlations(
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
        let mut query = sqlx::query(CORRELATIONS.sql(group.len()));
        for (prompt_id, update) in group {
            let correlated = update.state == CorrelationState::Correlated;
            query = query
                .bind(prompt_id.as_str())
                .bind(update.state.as_str())
                .bind(i64::from(update.attempts))
                .bind(update.transcript_id.as_deref().filter(|_| correlated))
                .bind(correlated.then_some(now));
        }
        query.execute(&mut *conn).await?;
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

/// `items` in chunks of power-of-two sizes, largest first, none over [`MAX_ROWS`].
fn chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let size = (1 << items.len().ilog2()).min(MAX_ROWS);
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}

// The batch's statements, written once for every chunk size.

/// All of a chunk's records, failing whole if any id is taken: without `ON CONFLICT` and
/// `RETURNING`, which would have SQLite build a temporary B-tree for every statement.
static PROMPTS: LazyLock<MultiRow> = LazyLock::new(|| {
    let insert = Template::of(INSERT_PROMPT);
    MultiRow::new(|rows| insert.rows_without_tail(rows))
});
static ATTEMPTS: LazyLock<MultiRow> = LazyLock::new(|| {
    let insert = Template::of(INSERT_ATTEMPT);
    MultiRow::new(|rows| insert.rows(rows))
});
static JOBS: LazyLock<MultiRow> = LazyLock::new(|| {
    let insert = Template::of(INSERT_JOB);
    MultiRow::new(|rows| insert.rows(rows))
});
/// A correlation result per row of `v`: (prompt id, state, attempts, transcript id, when).
static CORRELATIONS: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(|rows| {
        format!(
            "UPDATE prompts SET correlation = v.column2, correlation_attempts = v.column3, \
             transcript_id = COALESCE(v.column4, prompts.transcript_id), \
             correlated_at = COALESCE(v.column5, prompts.correlated_at) \
             FROM (VALUES {}) AS v WHERE prompts.prompt_id = v.column1",
            repeat("(?, ?, ?, ?, ?)", rows)
        )
    })
});
static DELETE_JOBS: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(|rows| {
        format!(
            "DELETE FROM correlation_jobs WHERE prompt_id IN ({})",
            repeat("?", rows)
        )
    })
});

/// One statement's SQL for each chunk size: 1, 2, 4, ... [`MAX_ROWS`] rows.
struct MultiRow {
    by_size: Vec<String>,
}

impl MultiRow {
    fn new(sql: impl Fn(usize) -> String) -> Self {
        let sizes = MAX_ROWS.ilog2() + 1;
        Self {
            by_size: (0..sizes).map(|power| sql(1 << power)).collect(),
        }
    }

    /// The SQL for `rows` rows; `rows` is a size that [`chunks`] makes.
    fn sql(&self, rows: usize) -> &str {
        debug_assert!(rows.is_power_of_two() && rows <= MAX_ROWS);
        &self.by_size[rows.ilog2() as usize]
    }
}

/// `item` `n` times, comma-separated.
fn repeat(item: &str, n: usize) -> String {
    vec![item; n].join(", ")
}

/// A one-row `INSERT ... VALUES ($1, ..., $n) [tail]` split so it can be written for any
/// number of rows, with positional parameters.
struct Template {
    head: String,
    /// The row with `?` for each `$n`, its constants (`0` for a new job's attempts) kept.
    row: String,
    tail: String,
}

impl Template {
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
            row,
            tail: rest[close..].to_owned(),
        }
    }

    fn rows(&self, rows: usize) -> String {
        format!("{}{}", self.rows_without_tail(rows), self.tail)
    }

    /// Without what follows the values (`ON CONFLICT ...`).
    fn rows_without_tail(&self, rows: usize) -> String {
        format!("{}{}", self.head, repeat(&self.row, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_row_insert_becomes_a_multi_row_one() {
        let insert =
            Template::of("INSERT INTO t (a, b, c) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING");
        assert_eq!(
            insert.rows(3),
            "INSERT INTO t (a, b, c) VALUES (?, ?, 0), (?, ?, 0), (?, ?, 0) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            insert.rows_without_tail(2),
            "INSERT INTO t (a, b, c) VALUES (?, ?, 0), (?, ?, 0)"
        );
    }

    #[test]
    fn every_size_of_statement_has_the_parameters_it_binds() {
        for (statement, columns) in [
            (&*PROMPTS, 20),
            (&*ATTEMPTS, 9),
            (&*JOBS, 8),
            (&*CORRELATIONS, 5),
            (&*DELETE_JOBS, 1),
        ] {
            for rows in [1, 2, 4, 8, 16, 32, 64] {
                let sql = statement.sql(rows);
                assert_eq!(sql.matches('?').count(), rows * columns, "{sql}");
            }
        }
    }

    #[test]
    fn rows_go_in_power_of_two_chunks_in_order() {
        let items: Vec<usize> = (0..151).collect();
        let sizes: Vec<usize> = chunks(&items).map(<[usize]>::len).collect();
        assert_eq!(sizes, [64, 64, 16, 4, 2, 1]);
        let again: Vec<usize> = chunks(&items).flatten().copied().collect();
        assert_eq!(again, items);
        assert_eq!(chunks::<usize>(&[]).count(), 0);
    }
}
