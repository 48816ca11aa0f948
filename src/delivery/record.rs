//! What is remembered of each POST.

use std::time::Instant;

use serde::Serialize;
use time::OffsetDateTime;

use crate::{domain::PromptId, tenant::AttemptReport};

/// Primary prompt, or the fallback sent after the primary failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Leg {
    Primary,
    Fallback,
}

impl Leg {
    pub fn as_str(self) -> &'static str {
        match self {
            Leg::Primary => "primary",
            Leg::Fallback => "fallback",
        }
    }
}

/// One POST of a prompt to the tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptRecord {
    pub prompt_id: PromptId,
    pub leg: Leg,
    /// 1-based within its leg.
    pub number: u32,
    /// `delivered`, `rate_limited`, `server_error`, `timeout`, ...
    #[schema(value_type = String)]
    pub outcome: &'static str,
    /// The tenant's HTTP status, when an answer arrived.
    pub status: Option<u16>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    pub duration_ms: u64,
    #[serde(skip)]
    #[schema(ignore)]
    started: Option<Instant>,
}

impl AttemptRecord {
    pub fn start(prompt_id: &PromptId, leg: Leg, number: u32) -> Self {
        Self {
            prompt_id: prompt_id.clone(),
            leg,
            number,
            outcome: "pending",
            status: None,
            started_at: OffsetDateTime::now_utc(),
            duration_ms: 0,
            started: Some(Instant::now()),
        }
    }

    pub fn finish(mut self, report: &AttemptReport) -> Self {
        self.outcome = report.outcome.as_str();
        self.status = report.status;
        if let Some(started) = self.started.take() {
            self.duration_ms = started.elapsed().as_millis() as u64;
        }
        self
    }
}
