//! Rows as the engines return them, and their conversion to records.
//!
//! The row structs are generic over the timestamp type: SQLite stores INTEGER microseconds
//! (`i64`), PostgreSQL TIMESTAMPTZ (`OffsetDateTime`). Everything else decodes the same way.

use std::{collections::HashMap, sync::Mutex};

use time::{OffsetDateTime, UtcOffset};

use super::{CorrelationState, DeliveryStatus, PromptRecord, StoreError};
use crate::{
    delivery::{AttemptRecord, Leg},
    domain::{Priority, PromptId},
};

/// `t` in UTC, cut to whole microseconds: the precision both engines keep, so a value reads
/// back exactly as written and compares the same in either engine.
pub(crate) fn truncate(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// Microseconds since the Unix epoch (SQLite's timestamp representation).
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    // Every instant the time crate represents fits: ±10 000 years is about ±3.2e17 µs.
    (truncate(t).unix_timestamp_nanos() / 1_000) as i64
}

/// The inverse of [`micros`].
pub(crate) fn from_micros(micros: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
        .map_err(|_| StoreError::new(format!("stored timestamp {micros} is out of range")))
}

/// `YYYY-MM-DD` of `t`'s UTC day.
pub(crate) fn utc_day(t: OffsetDateTime) -> String {
    let date = t.to_offset(UtcOffset::UTC).date();
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A timestamp column as one engine decodes it.
pub(super) trait StoredTime {
    fn into_utc(self) -> Result<OffsetDateTime, StoreError>;
}

impl StoredTime for i64 {
    fn into_utc(self) -> Result<OffsetDateTime, StoreError> {
        from_micros(self)
    }
}

impl StoredTime for OffsetDateTime {
    fn into_utc(self) -> Result<OffsetDateTime, StoreError> {
        Ok(self.to_offset(UtcOffset::UTC))
    }
}

/// Codes the record types hold as `&'static str`. A database written by a newer version may
/// hold codes this build does not know; each such spelling is leaked once, up to a cap, so
/// reading them back neither fails nor grows memory without bound.
const KNOWN_CODES: &[&str] = &[
    "pending",
    "delivered",
    "rate_limited",
    "server_error",
    "connect_error",
    "timeout",
    "connection_closed",
    "token_unavailable",
    "rejected",
    "forbidden",
    "unauthorized",
    "upstream_forbidden",
    "upstream_auth",
    "upstream_rate_limited",
    "upstream_unavailable",
    "upstream_failed",
    "upstream_timeout",
];
const MAX_UNKNOWN_CODES: usize = 64;
static UNKNOWN_CODES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

pub(super) fn intern(raw: &str) -> &'static str {
    if let Some(code) = KNOWN_CODES.iter().find(|code| **code == raw) {
        return code;
    }
    let mut unknown = UNKNOWN_CODES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(code) = unknown.iter().find(|code| **code == raw) {
        return code;
    }
    if unknown.len() >= MAX_UNKNOWN_CODES {
        return "other";
    }
    let code: &'static str = Box::leak(raw.to_owned().into_boxed_str());
    unknown.push(code);
    code
}

fn corrupt(column: &str, value: &str) -> StoreError {
    StoreError::new(format!("unexpected stored {column} {value:?}"))
}

fn non_negative(column: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(column, &value.to_string()))
}

/// One `prompts` row (columns as in [`super::sql::RECORD_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(super) struct RecordRow<T> {
    prompt_id: String,
    primary_prompt_id: String,
    interaction_id: String,
    agent_id: String,
    priority: String,
    sentiment: f64,
    content: Option<String>,
    content_hash: String,
    request_id: Option<String>,
    status: String,
    failure: Option<String>,
    fallback: bool,
    attempt: Option<i32>,
    received_at: T,
    completed_at: T,
    correlation: String,
    transcript_id: Option<String>,
    correlated_at: Option<T>,
    correlation_attempts: i32,
    tenant_message_id: Option<String>,
    correlation_detail: Option<String>,
    retracted_at: Option<T>,
}

impl<T: StoredTime> RecordRow<T> {
    pub(super) fn prompt_id(&self) -> &str {
        &self.prompt_id
    }

    pub(super) fn into_record(
        self,
        attempts: Vec<AttemptRecord>,
    ) -> Result<PromptRecord, StoreError> {
        let priority = match self.priority.as_str() {
            "HIGH" => Priority::High,
            "MEDIUM" => Priority::Medium,
            "LOW" => Priority::Low,
            other => return Err(corrupt("priority", other)),
        };
        Ok(PromptRecord {
            prompt_id: PromptId::from_existing(self.prompt_id),
            primary_prompt_id: PromptId::from_existing(self.primary_prompt_id),
            interaction_id: self.interaction_id,
            agent_id: self.agent_id,
            priority,
            sentiment: self.sentiment,
            content: self.content,
            content_hash: self.content_hash,
            request_id: self.request_id,
            status: DeliveryStatus::parse(&self.status)
                .ok_or_else(|| corrupt("status", &self.status))?,
            failure: self.failure.as_deref().map(intern),
            fallback: self.fallback,
            attempt: self
                .attempt
                .map(|n| non_negative("attempt", n.into()))
                .transpose()?,
            attempts,
            received_at: self.received_at.into_utc()?,
            completed_at: self.completed_at.into_utc()?,
            correlation: CorrelationState::parse(&self.correlation)
                .ok_or_else(|| corrupt("correlation", &self.correlation))?,
            transcript_id: self.transcript_id,
            correlated_at: self.correlated_at.map(T::into_utc).transpose()?,
            correlation_attempts: non_negative(
                "correlation_attempts",
                self.correlation_attempts.into(),
            )?,
            tenant_message_id: self.tenant_message_id,
            correlation_detail: self.correlation_detail,
            retracted_at: self.retracted_at.map(T::into_utc).transpose()?,
        })
    }
}

/// One `prompt_attempts` row (columns as in [`super::sql::ATTEMPT_COLUMNS`]).
#[derive(sqlx::FromRow)]
pub(super) struct AttemptRow<T> {
    prompt_id: String,
    attempt_prompt_id: String,
    leg: String,
    number: i32,
    outcome: String,
    status: Option<i32>,
    started_at: T,
    duration_ms: i64,
}

impl<T: StoredTime> AttemptRow<T> {
    pub(super) fn into_attempt(self) -> Result<AttemptRecord, StoreError> {
        let leg = match self.leg.as_str() {
            "primary" => Leg::Primary,
            "fallback" => Leg::Fallback,
            other => return Err(corrupt("leg", other)),
        };
        let number = non_negative("number", self.number.into())?;
        // `start` is the only constructor outside `delivery`; every public field is then
        // overwritten with the stored values.
        let mut attempt = AttemptRecord::start(
            &PromptId::from_existing(self.attempt_prompt_id),
            leg,
            number,
        );
        attempt.outcome = intern(&self.outcome);
        attempt.status = self
            .status
            .map(|s| u16::try_from(s).map_err(|_| corrupt("status", &s.to_string())))
            .transpose()?;
        attempt.started_at = self.started_at.into_utc()?;
        attempt.duration_ms =
            u64::try_from(self.duration_ms).map_err(|_| corrupt("duration_ms", "negative"))?;
        Ok(attempt)
    }
}

/// Joins records with their attempts (which arrive ordered by record, then `seq`), keeping
/// the records' order.
pub(super) fn assemble<T: StoredTime>(
    records: Vec<RecordRow<T>>,
    attempts: Vec<AttemptRow<T>>,
) -> Result<Vec<PromptRecord>, StoreError> {
    let mut by_record: HashMap<String, Vec<AttemptRecord>> = HashMap::new();
    for row in attempts {
        let key = row.prompt_id.clone();
        by_record.entry(key).or_default().push(row.into_attempt()?);
    }
    records
        .into_iter()
        .map(|row| {
            let attempts = by_record.remove(row.prompt_id()).unwrap_or_default();
            row.into_record(attempts)
        })
        .collect()
}

/// `completed_at - received_at` in whole milliseconds, never negative.
pub(super) fn latency_ms(record: &PromptRecord) -> i64 {
    let latency = (record.completed_at - record.received_at).whole_milliseconds();
    i64::try_from(latency.max(0)).unwrap_or(i64::MAX)
}

/// Cuts `items` (fetched with one extra row) to `limit` and says where the next page starts.
pub(super) fn page(items: &mut Vec<PromptRecord>, limit: usize) -> super::PromptPage {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items
            .last()
            .map(|last| super::Cursor::new(last.received_at, last.prompt_id.as_str()))
    } else {
        None
    };
    super::PromptPage {
        items: std::mem::take(items),
        next_cursor,
    }
}
