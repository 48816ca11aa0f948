//! NICE CXone's documented APIs: an access-key password grant at the issuer's discovered token
//! endpoint, the tenant's API host from CXone's discovery (or configured), prompts as agent
//! messages or custom events, correlation against the contact's live state, and withdrawal
//! of an agent message.

mod answers;
mod api;
mod payload;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::http::Method;
use tokio::{sync::Mutex as AsyncMutex, time::Instant};

use answers::{classify_contacts, classify_delivery, classify_retraction};

use super::{
    discovery::Discovered,
    upstream::{attempt_report, authorized, remaining, token_failure},
    AttemptOutcome, AttemptReport, CorrelationLookup, CorrelationTarget, HttpClient,
    OutboundPrompt, Retraction, Tenant, TokenCache, TokenError, TransientKind, Unsendable,
};
use crate::{
    config::CxoneDelivery,
    domain::PromptRequest,
    metrics::{Endpoint, Metrics},
};

/// The longest custom-event `data` (URL-encoded) sent in a query string: common proxies and
/// servers refuse request lines much past 8 KiB, and the rest of the URL needs room.
const MAX_EVENT_DATA_BYTES: usize = 6_000;

/// The `cxone` dialect's settings as the adapter needs them.
pub struct CxoneTenantSettings {
    pub issuer: url::Url,
    /// `CXONE_API_URL`; `None`: discovered from the token's `tenantId`.
    pub api_url: Option<url::Url>,
    pub api_version: String,
    pub delivery: CxoneDelivery,
    pub event_name: String,
    /// How long an agent message stays: the prompt's display time.
    pub display_ms: u64,
}

pub struct CxoneTenant {
    http: HttpClient,
    tokens: TokenCache,
    settings: CxoneTenantSettings,
    /// The API host CXone's discovery named for this tenant.
    api_host: Discovered,
    /// One discovery at a time: a burst of first prompts asks the issuer once.
    discovering: AsyncMutex<()>,
    metrics: Arc<Metrics>,
}

impl CxoneTenant {
    pub fn new(
        http: HttpClient,
        tokens: TokenCache,
        settings: CxoneTenantSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            http,
            tokens,
            settings,
            api_host: Discovered::default(),
            discovering: AsyncMutex::new(()),
            metrics,
        }
    }
}

#[async_trait]
impl Tenant for CxoneTenant {
    async fn send_prompt(&self, prompt: &OutboundPrompt, timeout: Duration) -> AttemptReport {
        let deadline = Instant::now() + timeout;
        let token = match self.tokens.get(remaining(deadline)).await {
            Ok(token) => token,
            Err(error) => return token_failure(&error),
        };
        let url = match self
            .api_url(&token, deadline, &self.delivery_path(&prompt.agent_id))
            .await
        {
            Ok(url) => url,
            Err(reason) => {
                tracing::warn!(reason, "no API host to deliver to");
                return AttemptReport {
                    status: None,
                    outcome: AttemptOutcome::Transient(TransientKind::DiscoveryUnavailable),
                    receipt: None,
                };
            }
        };
        let request = self.delivery_request(prompt, url, &token);
        let sent = self.send(Endpoint::Prompts, request, deadline).await;
        let classify = |response: &_| classify_delivery(response, self.settings.delivery);
        attempt_report(sent, classify, &self.tokens, &token)
    }

    /// Whether the contact is live, and with the agent the prompt went to.
    async fn correlate(
        &self,
        target: &CorrelationTarget<'_>,
        timeout: Duration,
    ) -> CorrelationLookup {
        let deadline = Instant::now() + timeout;
        let mut refreshed = false;
        loop {
            let token = match self.tokens.get(remaining(deadline)).await {
                Ok(token) => token,
                Err(TokenError::Rejected { status, .. }) => {
                    return CorrelationLookup::Failed {
                        status: Some(status),
                        reason: Some("the credentials were refused".into()),
                    }
                }
                Err(_) => return CorrelationLookup::Transient,
            };
            let Ok(mut url) = self
                .api_url(&token, deadline, &["contacts", "active"])
                .await
            else {
                return CorrelationLookup::Transient;
            };
            url.query_pairs_mut()
                .append_pair("contactId", target.interaction_id);
            let request = authorized(&self.http, Method::GET, url, &token, target.request_id);
            let response = match self.send(Endpoint::Transcripts, request, deadline).await {
                Ok(response) => response,
                Err(_) => return CorrelationLookup::Transient,
            };
            // A token revoked early costs one more round trip, not the correlation.
            if response.status == 401 && !refreshed {
                self.tokens.invalidate(&token);
                refreshed = true;
                continue;
            }
            return classify_contacts(&response, target);
        }
    }

    async fn check_ready(&self, timeout: Duration) -> Result<(), String> {
        self.tokens
            .get(timeout)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Agent and contact ids are CXone's numbers; a custom event carries the prompt in its
    /// URL, so the prompt must fit there.
    fn check_request(&self, request: &PromptRequest) -> Result<(), Unsendable> {
        if !is_int64(&request.agent_id) {
            return Err(Unsendable {
                field: "agentId",
                message: "agentId must be the CXone agent id (digits)".into(),
            });
        }
        if !is_int64(&request.interaction_id) {
            return Err(Unsendable {
                field: "interactionId",
                message: "interactionId must be the CXone contact id (digits, a 64-bit integer)"
                    .into(),
            });
        }
        if self.settings.delivery == CxoneDelivery::CustomEvent {
            let bytes = answers::event_data_bytes(request);
            if bytes > MAX_EVENT_DATA_BYTES {
                return Err(Unsendable {
                    field: "content",
                    message: format!(
                        "a custom event carries the prompt in its URL: this one needs {bytes} \
                         bytes there, the limit is {MAX_EVENT_DATA_BYTES}; shorten the content"
                    ),
                });
            }
        }
        Ok(())
    }

    async fn retract(&self, receipt: &str, timeout: Duration) -> Retraction {
        if self.settings.delivery != CxoneDelivery::AgentMessage {
            return Retraction::NotSupported;
        }
        let deadline = Instant::now() + timeout;
        let Ok(token) = self.tokens.get(remaining(deadline)).await else {
            return Retraction::Failed { status: None };
        };
        let Ok(url) = self
            .api_url(&token, deadline, &["agents", "messages", receipt])
            .await
        else {
            return Retraction::Failed { status: None };
        };
        let request = authorized(&self.http, Method::DELETE, url, &token, None);
        match self.send(Endpoint::Prompts, request, deadline).await {
            Ok(response) => classify_retraction(&response),
            Err(_) => Retraction::Failed { status: None },
        }
    }
}

fn is_int64(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && id.parse::<i64>().is_ok()
}
