//! The ledger's inputs and outputs beyond the record itself.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{cursor::Cursor, PromptRecord};
use crate::domain::PromptId;

/// The correlation job written with a delivered record: due at once.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// The job gives up at the record's `completed_at` plus this.
    pub give_up_after: Duration,
    /// Written already leased, to the writing process's own worker, which is handed the job
    /// once it commits: leasing it afterwards would cost a write transaction of its own.
    pub lease: Option<JobLease>,
}

/// Who holds a job, and until when.
#[derive(Debug, Clone)]
pub struct JobLease {
    /// The holder's name (one per process).
    pub owner: Arc<str>,
    /// When others may take the job over.
    pub until: OffsetDateTime,
}

impl JobLease {
    /// Held by `owner` for `lease` from now.
    pub fn from_now(owner: Arc<str>, lease: Duration) -> Self {
        Self {
            owner,
            until: super::support::plus(OffsetDateTime::now_utc(), lease),
        }
    }
}

impl CorrelationClaim {
    /// The job written with `record` (see [`NewJob`]), as a worker holding it sees it.
    pub fn of_new_job(record: &PromptRecord, give_up_after: Duration) -> Self {
        Self {
            prompt_id: record.prompt_id.clone(),
            interaction_id: record.interaction_id.clone(),
            agent_id: record.agent_id.clone(),
            request_id: record.request_id.clone(),
            attempts: 0,
            give_up_at: super::rows::truncate(super::support::plus(
                record.completed_at,
                give_up_after,
            )),
        }
    }
}

/// A correlation job leased to one worker until its lease runs out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorrelationClaim {
    /// The record's key (the id the caller was given).
    pub prompt_id: PromptId,
    /// Whose transcript to look for.
    pub interaction_id: String,
    /// For the correlation log line.
    pub agent_id: String,
    /// The delivery's `x-request-id`, passed on to the transcript look-up.
    pub request_id: Option<String>,
    /// Look-ups made so far (by any worker).
    pub attempts: u32,
    /// After this the job should be recorded as failed.
    pub give_up_at: OffsetDateTime,
}

/// What one [`prune`](super::PromptStore::prune) call deleted, each at most one batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Records (their attempts, feedback and jobs went with them).
    pub records: u64,
    /// Expired idempotency keys.
    pub idempotency_keys: u64,
}

impl Pruned {
    /// Whether either kind filled its batch, so another call may find more.
    pub fn more_left(&self, batch: u32) -> bool {
        self.records >= u64::from(batch) || self.idempotency_keys >= u64::from(batch)
    }
}

/// What [`begin_idempotent`](super::PromptStore::begin_idempotent) found.
#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyBegin {
    /// The key is new (or its previous use expired): the caller runs the request.
    Started,
    /// Another request with the same key and body is running.
    InProgress,
    /// The request already ran; replay this answer.
    Completed {
        /// The HTTP status first answered.
        status: u16,
        /// The JSON body first answered.
        body: serde_json::Value,
    },
    /// The key was used with a different request body.
    Mismatch,
}

/// What an agent did with a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackKind {
    /// The prompt appeared on the agent's screen.
    Displayed,
    /// The agent acted on it.
    Accepted,
    /// The agent closed it.
    Dismissed,
    /// It timed out unanswered.
    Ignored,
}

impl FeedbackKind {
    /// The stored (and serialised) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Displayed => "displayed",
            FeedbackKind::Accepted => "accepted",
            FeedbackKind::Dismissed => "dismissed",
            FeedbackKind::Ignored => "ignored",
        }
    }
}

/// One feedback report for a prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Feedback {
    /// What happened.
    pub outcome: FeedbackKind,
    /// When it happened on the agent's desktop.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The agent who reported it, when known.
    pub agent_id: Option<String>,
}

/// What [`record_feedback`](super::PromptStore::record_feedback) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackOutcome {
    /// Stored.
    Recorded,
    /// This outcome was already recorded for the prompt; the first report stands.
    AlreadyRecorded,
    /// No record has this id.
    UnknownPrompt,
}

/// How statistics are split.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// By `agent_id`.
    Agent,
    /// By the primary prompt's priority.
    Priority,
    /// Delivered through the fallback or not (`"true"`/`"false"`).
    Fallback,
    /// The UTC day the prompt was received.
    Day,
}

/// Which records [`stats`](super::PromptStore::stats) covers: `received_at` in `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsQuery {
    /// Inclusive lower bound; `None` for no bound.
    pub from: Option<OffsetDateTime>,
    /// Exclusive upper bound; `None` for no bound.
    pub to: Option<OffsetDateTime>,
    /// `None`: one row over everything.
    pub group_by: Option<GroupBy>,
}

/// Delivery and feedback figures for one group (or for everything, when not grouped).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatsRow {
    /// `None` when not grouped; `"true"`/`"false"` for fallback; `YYYY-MM-DD` (UTC) for day.
    pub group: Option<String>,
    /// Records with status `delivered`.
    pub delivered: u64,
    /// Records with status `failed`.
    pub failed: u64,
    /// Delivered through the fallback prompt.
    pub fallback: u64,
    /// `fallback / delivered`.
    pub fallback_rate: Option<f64>,
    /// Of delivered prompts' `completed_at - received_at`.
    pub mean_latency_ms: Option<f64>,
    /// Nearest-rank 95th percentile of the same latencies.
    pub p95_latency_ms: Option<f64>,
    /// Prompts reported displayed.
    pub displayed: u64,
    /// Prompts reported accepted.
    pub accepted: u64,
    /// Prompts reported dismissed.
    pub dismissed: u64,
    /// Prompts reported ignored.
    pub ignored: u64,
    /// `accepted / displayed`.
    pub acceptance_rate_displayed: Option<f64>,
    /// `accepted / delivered`.
    pub acceptance_rate_delivered: Option<f64>,
}

/// A page request for [`list_prompts`](super::PromptStore::list_prompts), newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Only this interaction's records.
    pub interaction_id: Option<String>,
    /// Only this agent's records.
    pub agent_id: Option<String>,
    /// `received_at` in `[from, to)`.
    pub from: Option<OffsetDateTime>,
    /// See `from`.
    pub to: Option<OffsetDateTime>,
    /// Page size; the caller clamps it (1..=500). 0 is treated as 1.
    pub limit: u32,
    /// Where the previous page ended.
    pub cursor: Option<Cursor>,
}

/// One page of records and where the next one starts.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromptPage {
    /// Newest first, with attempts.
    pub items: Vec<PromptRecord>,
    /// `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

/// Why a request was turned away before delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    /// Refused by the eligibility policy (403).
    Ineligible,
    /// Refused by the local rate limit (429).
    RateLimited,
    /// A malformed or invalid request (400).
    Invalid,
}

impl RefusalKind {
    /// The stored (and serialised) spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalKind::Ineligible => "ineligible",
            RefusalKind::RateLimited => "rate_limited",
            RefusalKind::Invalid => "invalid",
        }
    }

    /// The inverse of [`RefusalKind::as_str`].
    pub fn parse(raw: &str) -> Option<Self> {
        [
            RefusalKind::Ineligible,
            RefusalKind::RateLimited,
            RefusalKind::Invalid,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == raw)
    }
}

/// Refusals of one kind on one UTC day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefusalCount {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// Why.
    pub kind: RefusalKind,
    /// How many.
    pub count: u64,
}
