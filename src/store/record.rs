//! The delivery record: what the ledger keeps for each prompt that reached delivery.

use serde::Serialize;
use time::OffsetDateTime;

use crate::{
    delivery::AttemptRecord,
    domain::{Priority, PromptId},
};

/// Whether the tenant took the prompt (or its fallback).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// The prompt or its fallback was accepted.
    Delivered,
    /// Neither was; `failure` says why.
    Failed,
}

impl DeliveryStatus {
    /// The stored (and serialised) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// The inverse of [`DeliveryStatus::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// Where correlating a delivered prompt with its transcript stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationState {
    /// Queued or in progress.
    Pending,
    /// The transcript id is known.
    Correlated,
    /// No transcript appeared in time, or the tenant refused the look-up.
    Failed,
    /// The correlation queue was full, or the service stopped first.
    Skipped,
    /// The prompt was not delivered, so there is nothing to correlate.
    NotApplicable,
}

impl CorrelationState {
    /// The stored (and serialised) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationState::Pending => "pending",
            CorrelationState::Correlated => "correlated",
            CorrelationState::Failed => "failed",
            CorrelationState::Skipped => "skipped",
            CorrelationState::NotApplicable => "not_applicable",
        }
    }

    /// The inverse of [`CorrelationState::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        [
            CorrelationState::Pending,
            CorrelationState::Correlated,
            CorrelationState::Failed,
            CorrelationState::Skipped,
            CorrelationState::NotApplicable,
        ]
        .into_iter()
        .find(|state| state.as_str() == raw)
    }
}

/// Everything known about one `/simulate-prompt` request that reached delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PromptRecord {
    /// The id the caller was given: the fallback's when the fallback was delivered.
    pub prompt_id: PromptId,
    /// The primary prompt's id (the same as `prompt_id` unless the fallback was used).
    pub primary_prompt_id: PromptId,
    /// The CXone interaction the prompt was for.
    pub interaction_id: String,
    /// The agent it was shown to.
    pub agent_id: String,
    /// The primary prompt's priority (the fallback is always `LOW`).
    pub priority: Priority,
    /// The sentiment score the request carried (-1 to 1).
    pub sentiment: f64,
    /// The content delivered (the fallback's after a fallback delivery, else the primary's);
    /// `None` when the ledger is told not to keep content.
    pub content: Option<String>,
    /// SHA-256 of that content, hex: lets analysis group identical prompts even when the
    /// content itself is not kept.
    pub content_hash: String,
    /// The `x-request-id` of the request that created this record.
    pub request_id: Option<String>,
    /// Whether the tenant took the prompt.
    pub status: DeliveryStatus,
    /// The error code returned to the caller when delivery failed.
    #[schema(value_type = Option<String>)]
    pub failure: Option<&'static str>,
    /// The fallback prompt was the one delivered.
    pub fallback: bool,
    /// The successful POST's number within its leg.
    pub attempt: Option<u32>,
    /// Every POST, primary leg first, in the order made.
    pub attempts: Vec<AttemptRecord>,
    /// When the request arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    /// When delivery succeeded or was given up.
    #[serde(with = "time::serde::rfc3339")]
    pub completed_at: OffsetDateTime,
    /// Where finding the transcript stands.
    pub correlation: CorrelationState,
    /// The transcript's id, once correlated.
    pub transcript_id: Option<String>,
    /// When the transcript was found.
    #[serde(with = "time::serde::rfc3339::option")]
    pub correlated_at: Option<OffsetDateTime>,
    /// Transcript look-ups made so far.
    pub correlation_attempts: u32,
    /// The tenant's own id for the delivered prompt (CXone's `agentMessageId`).
    #[serde(rename = "agentMessageId")]
    pub tenant_message_id: Option<String>,
    /// What correlation matched, or why it failed, in words (CXone: the contact's state).
    pub correlation_detail: Option<String>,
    /// When the prompt was withdrawn from the agent's screen (`DELETE /prompts/{id}`).
    #[serde(with = "time::serde::rfc3339::option")]
    pub retracted_at: Option<OffsetDateTime>,
}

/// The end of a correlation job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationUpdate {
    /// The state reached.
    pub state: CorrelationState,
    /// The transcript's id; kept only with [`CorrelationState::Correlated`].
    pub transcript_id: Option<String>,
    /// Transcript look-ups made.
    pub attempts: u32,
    /// What was matched, or why it failed, in words.
    pub detail: Option<String>,
}
