//! Records to store.

use time::{Duration, OffsetDateTime};

use crate::{
    delivery::{AttemptRecord, Leg},
    domain::{Priority, PromptId},
    store::{rows::truncate, CorrelationState, DeliveryStatus, PromptRecord},
};

/// 2026-03-01T10:00:00.123456789Z: nanoseconds included, to check they are cut to micros.
pub fn base_time() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(1_772_359_200_123_456_789).unwrap()
}

/// A delivered, pending, primary-leg record received at `received_at`, completed
/// `latency_ms` later, with one successful attempt.
pub fn delivered(agent: &str, received_at: OffsetDateTime, latency_ms: i64) -> PromptRecord {
    let prompt_id = PromptId::generate("int_1");
    let mut attempt = AttemptRecord::start(&prompt_id, Leg::Primary, 1);
    attempt.outcome = "delivered";
    attempt.status = Some(201);
    attempt.started_at = received_at;
    attempt.duration_ms = latency_ms.unsigned_abs();
    PromptRecord {
        tenant_message_id: None,
        correlation_detail: None,
        retracted_at: None,
        primary_prompt_id: prompt_id.clone(),
        prompt_id,
        interaction_id: "int_1".into(),
        agent_id: agent.into(),
        priority: Priority::High,
        sentiment: 0.25,
        content: Some("Offer a loyalty credit.".into()),
        content_hash: "ab".repeat(32),
        request_id: Some("req-1".into()),
        status: DeliveryStatus::Delivered,
        failure: None,
        fallback: false,
        attempt: Some(1),
        attempts: vec![attempt],
        received_at,
        completed_at: received_at + Duration::milliseconds(latency_ms),
        correlation: CorrelationState::Pending,
        transcript_id: None,
        correlated_at: None,
        correlation_attempts: 0,
    }
}

/// `record` delivered through the fallback: a new id, the primary's kept.
pub fn via_fallback(mut record: PromptRecord) -> PromptRecord {
    let fallback_id = PromptId::generate(&record.interaction_id);
    let mut attempt = AttemptRecord::start(&fallback_id, Leg::Fallback, 1);
    attempt.outcome = "delivered";
    attempt.status = Some(200);
    attempt.started_at = record.received_at;
    if let Some(first) = record.attempts.first_mut() {
        first.outcome = "rejected";
        first.status = Some(400);
    }
    record.attempts.push(attempt);
    record.prompt_id = fallback_id;
    record.fallback = true;
    record
}

/// `record` as it was refused by the tenant.
pub fn failed(mut record: PromptRecord) -> PromptRecord {
    record.status = DeliveryStatus::Failed;
    record.failure = Some("upstream_failed");
    record.attempt = None;
    record.correlation = CorrelationState::NotApplicable;
    record
}

/// What the store should give back for `record`: times cut to microseconds.
pub fn stored(mut record: PromptRecord) -> serde_json::Value {
    record.received_at = truncate(record.received_at);
    record.completed_at = truncate(record.completed_at);
    record.correlated_at = record.correlated_at.map(truncate);
    for attempt in &mut record.attempts {
        attempt.started_at = truncate(attempt.started_at);
    }
    serde_json::to_value(record).unwrap()
}

/// A record as JSON, for comparisons (`PromptRecord` has no `PartialEq`).
pub fn json(record: &PromptRecord) -> serde_json::Value {
    serde_json::to_value(record).unwrap()
}

/// A give-up or lease period no test outlasts.
pub const LONG: std::time::Duration = std::time::Duration::from_secs(60);

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Received a second ago, so completed (and its job due) by now.
pub fn recent() -> OffsetDateTime {
    now() - Duration::seconds(1)
}
