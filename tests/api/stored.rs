//! Records written straight to the ledger, for tests that start from a given state.

/// A delivered record received at `received_at`, written straight to the ledger.
pub fn stored_record(
    id: &str,
    received_at: time::OffsetDateTime,
) -> cxone_assist::store::PromptRecord {
    use cxone_assist::{
        domain::{Priority, PromptId},
        store::{CorrelationState, DeliveryStatus, PromptRecord},
    };
    let id = PromptId::from_existing(id);
    PromptRecord {
        prompt_id: id.clone(),
        primary_prompt_id: id,
        interaction_id: "int_98765432".into(),
        agent_id: "agt_12345678".into(),
        priority: Priority::High,
        sentiment: 0.1,
        content: None,
        content_hash: "0".repeat(64),
        request_id: None,
        status: DeliveryStatus::Delivered,
        failure: None,
        fallback: false,
        attempt: Some(1),
        attempts: Vec::new(),
        received_at,
        completed_at: received_at,
        correlation: CorrelationState::Pending,
        transcript_id: None,
        correlated_at: None,
        correlation_attempts: 0,
    }
}
