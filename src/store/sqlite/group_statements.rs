//! The statements of a group commit, written once for every chunk size (see `multi_row`).

use std::sync::LazyLock;

use super::multi_row::{repeat, MultiRow, Template};
use crate::store::sql::{INSERT_ATTEMPT, INSERT_JOB, INSERT_PROMPT};

/// All of a chunk's records, failing whole if any id is taken: without `ON CONFLICT` and
/// `RETURNING`, which would have SQLite build a temporary B-tree for every statement.
pub(super) static PROMPTS: LazyLock<MultiRow> = LazyLock::new(|| {
    let insert = Template::of(INSERT_PROMPT);
    MultiRow::new(|rows| insert.rows_without_tail(rows))
});
pub(super) static ATTEMPTS: LazyLock<MultiRow> = LazyLock::new(|| {
    let insert = Template::of(INSERT_ATTEMPT);
    MultiRow::new(|rows| insert.rows(rows))
});
pub(super) static JOBS: LazyLock<MultiRow> = LazyLock::new(|| {
    let insert = Template::of(INSERT_JOB);
    MultiRow::new(|rows| insert.rows(rows))
});
/// A correlation result per row of `v`: (prompt id, state, attempts, transcript id, when,
/// detail).
pub(super) static CORRELATIONS: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(|rows| {
        format!(
            "UPDATE prompts SET correlation = v.column2, correlation_attempts = v.column3, \
             transcript_id = COALESCE(v.column4, prompts.transcript_id), \
             correlated_at = COALESCE(v.column5, prompts.correlated_at), \
             correlation_detail = COALESCE(v.column6, prompts.correlation_detail) \
             FROM (VALUES {}) AS v WHERE prompts.prompt_id = v.column1",
            repeat("(?, ?, ?, ?, ?, ?)", rows)
        )
    })
});
pub(super) static DELETE_JOBS: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(|rows| {
        format!(
            "DELETE FROM correlation_jobs WHERE prompt_id IN ({})",
            repeat("?", rows)
        )
    })
});

/// A chunk of first deliveries (one attempt and a correlation job each): their records,
/// attempts and jobs in one hand-off to SQLite's thread instead of three. Only the first
/// `INSERT` can meet a taken id: attempts and jobs reference their record, so none exists for
/// an id the records' `INSERT` has just taken. When it fails, SQLite undoes that statement and
/// sqlx runs none after it, so the chunk leaves nothing behind.
pub(super) static FIRST_DELIVERIES: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(|rows| {
        format!(
            "{}; {}; {}",
            PROMPTS.sql(rows),
            ATTEMPTS.sql(rows),
            JOBS.sql(rows)
        )
    })
});
/// A chunk of final correlation results and the deletion of their jobs, in one hand-off.
pub(super) static FINISHED_CORRELATIONS: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(|rows| format!("{}; {}", CORRELATIONS.sql(rows), DELETE_JOBS.sql(rows)))
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_of_statement_has_the_parameters_it_binds() {
        for (statement, columns) in [
            (&*PROMPTS, 21),
            (&*ATTEMPTS, 9),
            (&*JOBS, 8),
            (&*CORRELATIONS, 6),
            (&*DELETE_JOBS, 1),
            (&*FIRST_DELIVERIES, 21 + 9 + 8),
            (&*FINISHED_CORRELATIONS, 6 + 1),
        ] {
            for rows in [1, 2, 4, 8, 16, 32, 64] {
                let sql = statement.sql(rows);
                assert_eq!(sql.matches('?').count(), rows * columns, "{sql}");
            }
        }
    }
}
