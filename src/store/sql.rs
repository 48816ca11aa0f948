//! SQL shared by both engines. Both accept `$n` placeholders (SQLite reads `$1` as parameter
//! 1), so only statements that really differ live in the engine modules. Statements are
//! built from these fixed fragments only; every value is bound.

use sqlx::{Database, Encode, QueryBuilder, Type};

/// The `prompts` columns [`super::rows::RecordRow`] decodes.
macro_rules! record_columns {
    () => {
        "prompt_id, primary_prompt_id, interaction_id, agent_id, priority, sentiment, content, \
         content_hash, request_id, status, failure, fallback, attempt, received_at, \
         completed_at, correlation, transcript_id, correlated_at, correlation_attempts, \
         tenant_message_id, correlation_detail, retracted_at"
    };
}

/// The `prompt_attempts` columns [`super::rows::AttemptRow`] decodes.
macro_rules! attempt_columns {
    () => {
        "prompt_id, attempt_prompt_id, leg, number, outcome, status, started_at, duration_ms"
    };
}

/// Binds a [`PromptRecord`](super::PromptRecord) to [`INSERT_PROMPT`], timestamps through
/// `$ts` (the engine's representation).
macro_rules! bind_prompt {
    ($query:expr, $record:expr, $ts:expr) => {{
        let r = $record;
        $query
            .bind(r.prompt_id.as_str())
            .bind(r.primary_prompt_id.as_str())
            .bind(r.interaction_id.as_str())
            .bind(r.agent_id.as_str())
            .bind(r.priority.as_str())
            .bind(r.sentiment)
            .bind(r.content.as_deref())
            .bind(r.content_hash.as_str())
            .bind(r.request_id.as_deref())
            .bind(r.status.as_str())
            .bind(r.failure)
            .bind(r.fallback)
            .bind(r.attempt.map(i64::from))
            .bind($ts(r.received_at))
            .bind($ts(r.completed_at))
            .bind($crate::store::rows::latency_ms(r))
            .bind(r.correlation.as_str())
            .bind(r.transcript_id.as_deref())
            .bind(r.correlated_at.map($ts))
            .bind(i64::from(r.correlation_attempts))
            .bind(r.tenant_message_id.as_deref())
    }};
}

/// Binds attempt number `$seq` of record `$key` to [`INSERT_ATTEMPT`].
macro_rules! bind_attempt {
    ($query:expr, $key:expr, $seq:expr, $attempt:expr, $ts:expr) => {{
        let a = $attempt;
        $query
            .bind($key)
            .bind($seq)
            .bind(a.prompt_id.as_str())
            .bind(a.leg.as_str())
            .bind(i64::from(a.number))
            .bind(a.outcome)
            .bind(a.status.map(i64::from))
            .bind($ts(a.started_at))
            .bind(i64::try_from(a.duration_ms).unwrap_or(i64::MAX))
    }};
}

/// Binds record `$record`'s correlation job `$job` (a [`NewJob`](crate::store::NewJob)) to
/// [`INSERT_JOB`].
macro_rules! bind_job {
    ($query:expr, $record:expr, $job:expr, $ts:expr) => {{
        let (r, job) = ($record, $job);
        let lease = job.lease.as_ref();
        $query
            .bind(r.prompt_id.as_str())
            .bind(r.interaction_id.as_str())
            .bind(r.agent_id.as_str())
            .bind(r.request_id.as_deref())
            .bind($ts(r.completed_at))
            .bind($ts($crate::store::support::plus(
                r.completed_at,
                job.give_up_after,
            )))
            .bind(lease.map(|l| &*l.owner))
            .bind(lease.map(|l| $ts(l.until)))
    }};
}
pub(super) use {bind_attempt, bind_job, bind_prompt};

/// Inserts nothing when either id is taken: the engine then sees whether a failed record may
/// be replaced (see [`DELETE_FAILED_PROMPT`]) instead of the whole transaction failing.
pub(super) const INSERT_PROMPT: &str = "INSERT INTO prompts (prompt_id, primary_prompt_id, \
     interaction_id, agent_id, priority, sentiment, content, content_hash, request_id, status, \
     failure, fallback, attempt, received_at, completed_at, delivery_latency_ms, correlation, \
     transcript_id, correlated_at, correlation_attempts, tenant_message_id) VALUES ($1, $2, $3, \
     $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) \
     ON CONFLICT DO NOTHING";

/// `$1` primary id: the attempts of the failed record a retry of that prompt replaces.
pub(super) const SELECT_FAILED_ATTEMPTS: &str = concat!(
    "SELECT ",
    attempt_columns!(),
    " FROM prompt_attempts WHERE prompt_id IN (SELECT prompt_id FROM prompts \
     WHERE primary_prompt_id = $1 AND status = 'failed') ORDER BY seq"
);

/// `$1` primary id. A caller retrying a failed prompt under its own id makes a record with the
/// same primary id; the failed one makes way for it. A delivered record is never deleted.
pub(super) const DELETE_FAILED_PROMPT: &str =
    "DELETE FROM prompts WHERE primary_prompt_id = $1 AND status = 'failed'";

pub(super) const INSERT_ATTEMPT: &str = "INSERT INTO prompt_attempts (prompt_id, seq, \
     attempt_prompt_id, leg, number, outcome, status, started_at, duration_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// `$1` prompt, `$2` interaction, `$3` agent, `$4` request id, `$5` due, `$6` give up.
pub(super) const INSERT_JOB: &str = "INSERT INTO correlation_jobs (prompt_id, interaction_id, \
     agent_id, request_id, attempts, next_attempt_at, give_up_at, lease_owner, lease_until) \
     VALUES ($1, $2, $3, $4, 0, $5, $6, $7, $8)";

/// Either id finds a record: callers may hold the primary's id after a fallback delivery.
pub(super) const SELECT_RECORD: &str = concat!(
    "SELECT ",
    record_columns!(),
    " FROM prompts WHERE prompt_id = $1 OR primary_prompt_id = $1 LIMIT 1"
);

pub(super) const SELECT_ATTEMPTS: &str = concat!(
    "SELECT ",
    attempt_columns!(),
    " FROM prompt_attempts WHERE prompt_id = $1 ORDER BY seq"
);

/// `$1` record key, `$2` state, `$3` attempts, `$4` transcript, `$5` correlated at, `$6`
/// detail: each of the last three only overwrites when given, so a late "failed" never erases
/// a transcript.
pub(super) const UPDATE_CORRELATION: &str = "UPDATE prompts SET correlation = $2, \
     correlation_attempts = $3, transcript_id = COALESCE($4, transcript_id), \
     correlated_at = COALESCE($5, correlated_at), \
     correlation_detail = COALESCE($6, correlation_detail) WHERE prompt_id = $1";

/// `$1` either id, `$2` when: marks a delivered record withdrawn, once.
pub(super) const MARK_RETRACTED: &str = "UPDATE prompts SET retracted_at = $2 \
     WHERE (prompt_id = $1 OR primary_prompt_id = $1) AND retracted_at IS NULL";

pub(super) const DELETE_JOB: &str = "DELETE FROM correlation_jobs WHERE prompt_id = $1";

/// The claim's inner selection: `$3` now, `$4` limit. PostgreSQL appends its row locking.
macro_rules! due_jobs {
    () => {
        "SELECT prompt_id FROM correlation_jobs WHERE next_attempt_at <= $3 \
         AND (lease_until IS NULL OR lease_until <= $3) ORDER BY next_attempt_at, prompt_id \
         LIMIT $4"
    };
}
pub(super) use due_jobs;

/// Wraps [`due_jobs`]: `$1` owner, `$2` lease end.
macro_rules! claim_jobs {
    ($inner:expr) => {
        concat!(
            "UPDATE correlation_jobs SET lease_owner = $1, lease_until = $2 WHERE prompt_id IN (",
            $inner,
            ") RETURNING prompt_id, interaction_id, agent_id, request_id, attempts, give_up_at"
        )
    };
}
pub(super) use claim_jobs;

/// `$1` prompt, `$2` owner, `$3` attempts, `$4` next attempt; only while the lease is held.
pub(super) const RESCHEDULE_JOB: &str = "UPDATE correlation_jobs SET attempts = $3, \
     next_attempt_at = $4, lease_owner = NULL, lease_until = NULL \
     WHERE prompt_id = $1 AND lease_owner = $2";

/// `$1` owner: every job it holds is free again, due when it was due.
pub(super) const RELEASE_LEASES: &str = "UPDATE correlation_jobs SET lease_owner = NULL, \
     lease_until = NULL WHERE lease_owner = $1";

pub(super) const SET_CORRELATION_ATTEMPTS: &str =
    "UPDATE prompts SET correlation_attempts = $2 WHERE prompt_id = $1";

/// `$1` scope, `$2` key, `$3` hash, `$4` now, `$5` expiry, `$6` owner. Inserts, or takes
/// over an expired row, in one statement; returns a row only when this caller now owns the
/// key.
pub(super) const BEGIN_IDEMPOTENT: &str = "INSERT INTO idempotency_keys (scope, key, \
     request_hash, state, created_at, expires_at, owner) \
     VALUES ($1, $2, $3, 'in_progress', $4, $5, $6) \
     ON CONFLICT (scope, key) DO UPDATE SET request_hash = excluded.request_hash, \
     state = 'in_progress', response_status = NULL, response_body = NULL, \
     created_at = excluded.created_at, expires_at = excluded.expires_at, \
     owner = excluded.owner WHERE idempotency_keys.expires_at <= $4 RETURNING state";

/// `$1` scope, `$2` key, `$3` status, `$4` body, `$5` expiry, `$6` owner: only while the
/// claim is still the owner's.
pub(super) const COMPLETE_IDEMPOTENT: &str = "UPDATE idempotency_keys SET state = 'completed', \
     response_status = $3, response_body = $4, expires_at = $5 \
     WHERE scope = $1 AND key = $2 AND owner = $6 AND state = 'in_progress'";

/// `$1` scope, `$2` key, `$3` owner.
pub(super) const ABANDON_IDEMPOTENT: &str = "DELETE FROM idempotency_keys \
     WHERE scope = $1 AND key = $2 AND owner = $3 AND state = 'in_progress'";

/// `$1` prompt or primary id, `$2` outcome, `$3` agent, `$4` at, `$5` now. Inserts nothing
/// for an unknown prompt or an outcome already recorded.
pub(super) const INSERT_FEEDBACK: &str = "INSERT INTO feedback (prompt_id, outcome, agent_id, \
     at, recorded_at) SELECT prompt_id, $2, $3, $4, $5 FROM prompts \
     WHERE prompt_id = $1 OR primary_prompt_id = $1 LIMIT 1 \
     ON CONFLICT (prompt_id, outcome) DO NOTHING";

pub(super) const PROMPT_EXISTS: &str =
    "SELECT COUNT(*) FROM prompts WHERE prompt_id = $1 OR primary_prompt_id = $1";

pub(super) const COUNT_REFUSAL: &str = "INSERT INTO refusals (day, kind, count) \
     VALUES ($1, $2, $3) ON CONFLICT (day, kind) DO UPDATE SET count = refusals.count + $3";

/// `$1` cutoff, `$2` batch: the oldest first, so repeated calls make steady progress.
pub(super) const PRUNE_PROMPTS: &str = "DELETE FROM prompts WHERE prompt_id IN \
     (SELECT prompt_id FROM prompts WHERE received_at < $1 \
     ORDER BY received_at, prompt_id LIMIT $2)";

/// `$1` now, `$2` batch.
pub(super) const PRUNE_IDEMPOTENCY: &str = "DELETE FROM idempotency_keys WHERE (scope, key) IN \
     (SELECT scope, key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2)";

/// `$1` first day kept.
pub(super) const PRUNE_REFUSALS: &str = "DELETE FROM refusals WHERE day < $1";

/// A slice of `prompts` in keyset order.
pub(super) struct Window<T> {
    pub interaction_id: Option<String>,
    pub agent_id: Option<String>,
    pub from: Option<T>,
    pub to: Option<T>,
    /// Continue strictly past this `(received_at, prompt_id)`.
    pub after: Option<(T, String)>,
    pub newest_first: bool,
    pub limit: i64,
}

/// `SELECT` for a [`Window`].
pub(super) fn window_query<'a, DB, T>(window: Window<T>) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    T: 'a + Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(concat!(
        "SELECT ",
        record_columns!(),
        " FROM prompts WHERE 1 = 1"
    ));
    if let Some(interaction_id) = window.interaction_id {
        qb.push(" AND interaction_id = ").push_bind(interaction_id);
    }
    if let Some(agent_id) = window.agent_id {
        qb.push(" AND agent_id = ").push_bind(agent_id);
    }
    push_range(&mut qb, window.from, window.to);
    if let Some((received_at, prompt_id)) = window.after {
        let op = if window.newest_first { "<" } else { ">" };
        qb.push(format_args!(" AND (received_at, prompt_id) {op} ("))
            .push_bind(received_at)
            .push(", ")
            .push_bind(prompt_id)
            .push(")");
    }
    qb.push(if window.newest_first {
        " ORDER BY received_at DESC, prompt_id DESC LIMIT "
    } else {
        " ORDER BY received_at, prompt_id LIMIT "
    })
    .push_bind(window.limit);
    qb
}

/// `AND received_at >= from AND received_at < to`, for the bounds given.
pub(super) fn push_range<'a, DB, T>(qb: &mut QueryBuilder<'a, DB>, from: Option<T>, to: Option<T>)
where
    DB: Database,
    T: 'a + Encode<'a, DB> + Type<DB>,
{
    if let Some(from) = from {
        qb.push(" AND received_at >= ").push_bind(from);
    }
    if let Some(to) = to {
        qb.push(" AND received_at < ").push_bind(to);
    }
}

/// The attempts of several records, ordered for [`super::rows::assemble`].
pub(super) fn attempts_query<'a, DB>(keys: Vec<String>) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    String: 'a + Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(concat!(
        "SELECT ",
        attempt_columns!(),
        " FROM prompt_attempts WHERE prompt_id IN ("
    ));
    let mut list = qb.separated(", ");
    for key in keys {
        list.push_bind(key);
    }
    qb.push(") ORDER BY prompt_id, seq");
    qb
}
