//! NICE CXone's documented APIs: an access-key password grant at the issuer's discovered token
//! endpoint, the tenant's API host from CXone's discovery (or configured), prompts as agent
//! messages or custom events, correlation against the contact's live state, and withdrawal
//! of an agent message.

mod answers;
mod payload;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::http::{header, Method};
use tokio::{sync::Mutex as AsyncMutex, time::Instant};

use answers::{classify_contacts, classify_delivery, classify_retraction};
use payload::{AgentMessages, CustomEventData};

use super::{
    discovery::{self, Discovered},
    tutorial::{token_failure, transport_kind},
    AttemptOutcome, AttemptReport, CorrelationLookup, CorrelationTarget, HttpClient,
    OutboundPrompt, Retraction, Tenant, Token, TokenCache, TokenError, TransientKind,
    TransportError, Unsendable, UpstreamResponse,
};
use crate::{
    config::CxoneDelivery,
    domain::PromptRequest,
    metrics::{Endpoint, Metrics},
};

const REQUEST_ID: &str = "x-request-id";

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

    /// `{api}/inContactAPI/services/{version}/{segments...}`.
    async fn api_url(
        &self,
        token: &Token,
        deadline: Instant,
        segments: &[&str],
    ) -> Result<url::Url, &'static str> {
        let mut url = self.api_host(token, deadline).await?;
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["inContactAPI", "services", &self.settings.api_version])
                .extend(segments);
        }
        Ok(url)
    }

    async fn api_host(&self, token: &Token, deadline: Instant) -> Result<url::Url, &'static str> {
        if let Some(url) = &self.settings.api_url {
            return Ok(url.clone());
        }
        if let Some(url) = self.api_host.get() {
            return Ok(url);
        }
        let Ok(_turn) = tokio::time::timeout_at(deadline, self.discovering.lock()).await else {
            return Err("no time left to discover the API host");
        };
        if let Some(url) = self.api_host.get() {
            return Ok(url);
        }
        let tenant_id = token
            .claim("tenantId")
            .and_then(|claim| claim.as_str().map(str::to_owned))
            .ok_or("the access token carries no tenantId")?;
        let url = discovery::api_endpoint(
            &self.http,
            &self.settings.issuer,
            &tenant_id,
            remaining(deadline),
        )
        .await
        .map_err(|error| error.0)?;
        tracing::info!(api = %url, "discovered the tenant's API host");
        self.api_host.set(url.clone());
        Ok(url)
    }

    /// A request with the token, `Accept: application/json` (without which CXone answers in
    /// plain text) and the request id.
    fn request(
        &self,
        method: Method,
        url: url::Url,
        token: &Token,
        request_id: Option<&str>,
    ) -> Result<reqwest::RequestBuilder, TransportError> {
        let authorization = token.authorization().map_err(|_| TransportError::Broken)?;
        let mut request = (self.http.request(method, url))
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, authorization);
        if let Some(id) = request_id {
            request = request.header(REQUEST_ID, id);
        }
        Ok(request)
    }

    /// Sends one request, recording its status class and latency; a host that cannot be
    /// reached is looked up again next time.
    async fn send(
        &self,
        endpoint: Endpoint,
        request: Result<reqwest::RequestBuilder, TransportError>,
        deadline: Instant,
    ) -> Result<UpstreamResponse, TransportError> {
        let started = Instant::now();
        let result = match request {
            Ok(request) => self.http.send(request, remaining(deadline)).await,
            Err(error) => Err(error),
        };
        if result.as_ref().err() == Some(&TransportError::Connect) {
            self.api_host.forget();
        }
        let status = result.as_ref().ok().map(|r| r.status.as_u16());
        self.metrics.upstream(endpoint, status, started.elapsed());
        result
    }

    fn delivery_request(
        &self,
        prompt: &OutboundPrompt,
        url: url::Url,
        token: &Token,
    ) -> Result<reqwest::RequestBuilder, TransportError> {
        let agent_id: i64 = prompt
            .agent_id
            .parse()
            .map_err(|_| TransportError::Broken)?;
        let request_id = prompt.request_id.as_deref();
        Ok(match self.settings.delivery {
            CxoneDelivery::AgentMessage => {
                let body = AgentMessages::new(prompt, agent_id, self.settings.display_ms);
                // Numbers and strings only: serialising cannot fail.
                let body = serde_json::to_vec(&body).map_err(|_| TransportError::Broken)?;
                (self.request(Method::POST, url, token, request_id)?)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
            }
            CxoneDelivery::CustomEvent => {
                let data = CustomEventData::new(prompt).to_json();
                let query = [
                    ("eventName", self.settings.event_name.as_str()),
                    ("persistInMemory", "false"),
                    ("data", data.as_str()),
                ];
                self.request(Method::PUT, url, token, request_id)?
                    .query(&query)
            }
        })
    }

    fn delivery_path<'a>(&self, agent_id: &'a str) -> Vec<&'a str> {
        match self.settings.delivery {
            CxoneDelivery::AgentMessage => vec!["agents", "messages"],
            CxoneDelivery::CustomEvent => vec!["agents", agent_id, "custom-event"],
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
        match self.send(Endpoint::Prompts, request, deadline).await {
            Err(error) => AttemptReport {
                status: None,
                outcome: AttemptOutcome::Transient(transport_kind(error)),
                receipt: None,
            },
            Ok(response) => {
                let report = classify_delivery(&response, self.settings.delivery);
                if report.outcome == AttemptOutcome::Unauthorized {
                    self.tokens.invalidate(&token);
                }
                report
            }
        }
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
            let request = self.request(Method::GET, url, &token, target.request_id);
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
        let request = self.request(Method::DELETE, url, &token, None);
        match self.send(Endpoint::Prompts, request, deadline).await {
            Ok(response) => classify_retraction(&response),
            Err(_) => Retraction::Failed { status: None },
        }
    }
}

fn is_int64(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && id.parse::<i64>().is_ok()
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}
