//! The CXone tenant as the service sees it: send one prompt, check one delivery against the
//! interaction, withdraw one prompt.
//!
//! Retry, backoff and fallback live above this trait (in `delivery`) and are the same for
//! every tenant API; authentication, URLs and payload shapes live below it, in an adapter:
//! `tutorial` speaks the tutorial's endpoints, `cxone` CXone's documented APIs.

mod cxone;
mod discovery;
pub(crate) mod http_client;
mod token;
mod token_cache;
mod token_exchange;
mod tutorial;
mod upstream;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{Priority, PromptId, PromptRequest};

pub use cxone::{CxoneTenant, CxoneTenantSettings};
pub use http_client::{HttpClient, HttpClientOptions, TransportError, UpstreamResponse};
pub use token::{Token, TokenError};
pub use token_cache::{TokenCache, TokenCacheSettings, TokenEndpoint};
pub use token_exchange::Grant;
pub use tutorial::{TutorialTenant, TutorialTenantSettings};

/// One prompt as the delivery layer hands it to an adapter.
#[derive(Debug, Clone)]
pub struct OutboundPrompt {
    pub prompt_id: PromptId,
    pub interaction_id: String,
    pub agent_id: String,
    pub content: String,
    pub priority: Priority,
    pub sentiment: f64,
    pub keywords: Vec<String>,
    /// Passed to the tenant as `x-request-id`, so its logs can be joined with ours.
    pub request_id: Option<String>,
}

/// What one POST of a prompt came to, classified for the retry policy.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    /// 200 or 201.
    Delivered,
    /// 429; `retry_after` is the tenant's `Retry-After` when it sent a usable one.
    RateLimited { retry_after: Option<Duration> },
    /// Worth retrying: 5xx, connect error, timeout, connection closed, token endpoint down.
    Transient(TransientKind),
    /// Another 4xx: retrying the same payload cannot help.
    Rejected,
    /// 403: the tenant refuses this client; neither retry nor fallback can help.
    Forbidden,
    /// 401: the adapter has dropped the token it sent, so the next try fetches a fresh one.
    Unauthorized,
    /// The token endpoint refused the credentials: nothing was sent.
    CredentialsRefused,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransientKind {
    ServerError,
    Connect,
    Timeout,
    ConnectionClosed,
    TokenUnavailable,
    /// The tenant's API host could not be discovered.
    DiscoveryUnavailable,
}

impl TransientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransientKind::ServerError => "server_error",
            TransientKind::Connect => "connect_error",
            TransientKind::Timeout => "timeout",
            TransientKind::ConnectionClosed => "connection_closed",
            TransientKind::TokenUnavailable => "token_unavailable",
            TransientKind::DiscoveryUnavailable => "discovery_unavailable",
        }
    }
}

impl AttemptOutcome {
    /// A short label for records and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::RateLimited { .. } => "rate_limited",
            AttemptOutcome::Transient(kind) => kind.as_str(),
            AttemptOutcome::Rejected => "rejected",
            AttemptOutcome::Forbidden => "forbidden",
            AttemptOutcome::Unauthorized => "unauthorized",
            AttemptOutcome::CredentialsRefused => "credentials_refused",
        }
    }
}

/// An attempt's outcome with the HTTP status behind it, if one arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptReport {
    pub status: Option<u16>,
    pub outcome: AttemptOutcome,
    /// The tenant's own id for a delivered prompt, when it gives one (CXone's
    /// `agentMessageId`): what withdrawing it takes.
    pub receipt: Option<String>,
}

/// A delivered prompt, as its correlation sees it.
#[derive(Debug, Clone, Copy)]
pub struct CorrelationTarget<'a> {
    pub interaction_id: &'a str,
    pub agent_id: &'a str,
    /// The delivery's `x-request-id`, passed on to the look-up.
    pub request_id: Option<&'a str>,
}

/// What one correlation look-up came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorrelationLookup {
    /// Matched: with the tutorial's transcript (its id), or CXone's live contact (`detail`,
    /// its state).
    Found {
        transcript_id: Option<String>,
        detail: Option<String>,
    },
    /// Not there yet (the tutorial's 404 while the transcript is produced).
    NotYet,
    /// 5xx or a network fault: try again later.
    Transient,
    /// Looking again will not help; `reason` says why when the answer does.
    Failed {
        status: Option<u16>,
        reason: Option<String>,
    },
}

/// A request field this tenant API cannot carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsendable {
    pub field: &'static str,
    pub message: String,
}

/// What withdrawing a delivered prompt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retraction {
    /// It is off the agent's screen (or was already gone).
    Withdrawn,
    /// This dialect or delivery mode has no withdrawal.
    NotSupported,
    /// The tenant could not be asked or refused; `status` when it answered.
    Failed { status: Option<u16> },
}

#[async_trait]
pub trait Tenant: Send + Sync {
    /// Sends `prompt` once, taking no longer than `timeout` (token fetch included).
    async fn send_prompt(&self, prompt: &OutboundPrompt, timeout: Duration) -> AttemptReport;

    /// Checks a delivered prompt against its interaction once, taking no longer than
    /// `timeout`.
    async fn correlate(
        &self,
        target: &CorrelationTarget<'_>,
        timeout: Duration,
    ) -> CorrelationLookup;

    /// Whether the tenant can be reached for deliveries now (readiness), within `timeout`.
    async fn check_ready(&self, timeout: Duration) -> Result<(), String>;

    /// Refuses, before anything is sent or counted, a request this API cannot carry.
    fn check_request(&self, _request: &PromptRequest) -> Result<(), Unsendable> {
        Ok(())
    }

    /// Withdraws a delivered prompt by its `receipt`, taking no longer than `timeout`.
    async fn retract(&self, _receipt: &str, _timeout: Duration) -> Retraction {
        Retraction::NotSupported
    }
}
