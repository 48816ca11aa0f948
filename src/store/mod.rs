//! Delivery records behind one trait. The in-memory store is bounded; a durable one plugs in
//! behind the same trait.

mod memory;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;

pub use memory::MemoryStore;

use crate::{
    config::{StoreBackend, StoreSettings},
    delivery::AttemptRecord,
    domain::{Priority, PromptId},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Delivered,
    Failed,
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
    pub fn as_str(self) -> &'static str {
        match self {
            CorrelationState::Pending => "pending",
            CorrelationState::Correlated => "correlated",
            CorrelationState::Failed => "failed",
            CorrelationState::Skipped => "skipped",
            CorrelationState::NotApplicable => "not_applicable",
        }
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
    pub interaction_id: String,
    pub agent_id: String,
    pub priority: Priority,
    pub sentiment: f64,
    /// The primary prompt's content; `None` when the ledger is told not to keep content.
    pub content: Option<String>,
    /// SHA-256 of the primary content, hex: lets analysis group identical prompts even when
    /// the content itself is not kept.
    pub content_hash: String,
    /// The `x-request-id` of the request that created this record.
    pub request_id: Option<String>,
    pub status: DeliveryStatus,
    /// The error code returned to the caller when delivery failed.
    #[schema(value_type = Option<String>)]
    pub failure: Option<&'static str>,
    pub fallback: bool,
    /// The successful POST's number within its leg.
    pub attempt: Option<u32>,
    pub attempts: Vec<AttemptRecord>,
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub completed_at: OffsetDateTime,
    pub correlation: CorrelationState,
    pub transcript_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub correlated_at: Option<OffsetDateTime>,
    /// Transcript look-ups made so far.
    pub correlation_attempts: u32,
}

/// The end of a correlation job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationUpdate {
    pub state: CorrelationState,
    pub transcript_id: Option<String>,
    pub attempts: u32,
}

#[derive(Debug, thiserror::Error)]
#[error("record store failed: {0}")]
pub struct StoreError(pub String);

#[async_trait]
pub trait PromptStore: Send + Sync {
    async fn insert(&self, record: PromptRecord) -> Result<(), StoreError>;

    /// Finds a record by its `prompt_id` or its `primary_prompt_id`.
    async fn get(&self, prompt_id: &str) -> Result<Option<PromptRecord>, StoreError>;

    async fn update_correlation(
        &self,
        prompt_id: &PromptId,
        update: CorrelationUpdate,
    ) -> Result<(), StoreError>;
}

pub fn from_settings(settings: &StoreSettings) -> Arc<dyn PromptStore> {
    match settings.backend {
        StoreBackend::Memory => Arc::new(MemoryStore::new(settings.max_records)),
    }
}
