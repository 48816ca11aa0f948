//! Small rows and time arithmetic shared by both engines.

use std::time::Duration;

use time::{OffsetDateTime, PrimitiveDateTime};

use super::{
    rows::StoredTime, CorrelationClaim, IdempotencyBegin, RefusalCount, RefusalKind, StoreError,
};
use crate::domain::PromptId;

/// `t + d`, saturating at the latest representable instant instead of panicking.
pub(super) fn plus(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    time::Duration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d))
        .unwrap_or_else(|| PrimitiveDateTime::MAX.assume_utc())
}

/// The last microsecond before `to`: its day is the last day overlapping `[.., to)`.
pub(super) fn last_instant_before(to: OffsetDateTime) -> OffsetDateTime {
    to.checked_sub(time::Duration::MICROSECOND).unwrap_or(to)
}

/// A job as the claim statement returns it.
#[derive(sqlx::FromRow)]
pub(super) struct ClaimRow<T> {
    prompt_id: String,
    interaction_id: String,
    agent_id: String,
    request_id: Option<String>,
    attempts: i32,
    give_up_at: T,
}

impl<T: StoredTime> ClaimRow<T> {
    pub(super) fn into_claim(self) -> Result<CorrelationClaim, StoreError> {
        Ok(CorrelationClaim {
            prompt_id: PromptId::from_existing(self.prompt_id),
            interaction_id: self.interaction_id,
            agent_id: self.agent_id,
            request_id: self.request_id,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            give_up_at: self.give_up_at.into_utc()?,
        })
    }
}

/// An existing idempotency key (the body as JSON text in both engines).
#[derive(sqlx::FromRow)]
pub(super) struct IdempotencyRow {
    request_hash: String,
    state: String,
    response_status: Option<i32>,
    response_body: Option<String>,
}

impl IdempotencyRow {
    /// What a request hashing to `request_hash` should do about this key.
    pub(super) fn classify(self, request_hash: &str) -> Result<IdempotencyBegin, StoreError> {
        if self.request_hash != request_hash {
            return Ok(IdempotencyBegin::Mismatch);
        }
        match (
            self.state.as_str(),
            self.response_status,
            self.response_body,
        ) {
            ("in_progress", _, _) => Ok(IdempotencyBegin::InProgress),
            ("completed", Some(status), Some(body)) => Ok(IdempotencyBegin::Completed {
                status: u16::try_from(status)
                    .map_err(|_| StoreError::new(format!("stored response status {status}")))?,
                body: serde_json::from_str(&body)
                    .map_err(|e| StoreError::new(format!("stored response body: {e}")))?,
            }),
            (state, _, _) => Err(StoreError::new(format!(
                "idempotency key in unexpected state {state:?}"
            ))),
        }
    }
}

/// One `refusals` row, the day as `YYYY-MM-DD`.
#[derive(sqlx::FromRow)]
pub(super) struct RefusalRow {
    day: String,
    kind: String,
    count: i64,
}

impl RefusalRow {
    pub(super) fn into_count(self) -> Result<RefusalCount, StoreError> {
        Ok(RefusalCount {
            kind: RefusalKind::parse(&self.kind).ok_or_else(|| {
                StoreError::new(format!("unexpected refusal kind {:?}", self.kind))
            })?,
            day: self.day,
            count: u64::try_from(self.count).unwrap_or(0),
        })
    }
}
