//! The tutorial's tenant API: `POST /api/v2/agentassist/prompts` and
//! `GET /api/v2/interactions/{id}/transcripts`, with an OAuth2 bearer token.

use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use async_trait::async_trait;
use reqwest::{header, StatusCode};
use serde::{Deserialize, Serialize};

use super::{
    AttemptOutcome, AttemptReport, OutboundPrompt, Tenant, Token, TokenCache, TokenError,
    TranscriptLookup, TransientKind,
};
use crate::{
    config::UiSettings,
    metrics::{Endpoint, Metrics},
    retry::parse_retry_after,
};

const REQUEST_ID: &str = "x-request-id";

pub struct TutorialTenantSettings {
    pub base_url: url::Url,
    pub ui: UiSettings,
}

pub struct TutorialTenant {
    http: reqwest::Client,
    tokens: TokenCache,
    base_url: url::Url,
    prompts_url: url::Url,
    ui: UiSettings,
    metrics: Arc<Metrics>,
}

/// The tutorial's `PromptPayload`, field for field.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PromptPayload<'a> {
    interaction_id: &'a str,
    prompt_id: &'a str,
    content: &'a str,
    priority: &'static str,
    ui_config: UiConfig<'a>,
    context: PromptContext<'a>,
    target_agent_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UiConfig<'a> {
    component_type: &'a str,
    position: &'a str,
    timeout_ms: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PromptContext<'a> {
    sentiment_score: f64,
    keywords: &'a [String],
}

#[derive(Deserialize)]
struct TranscriptBody {
    id: String,
}

impl TutorialTenant {
    pub fn new(
        http: reqwest::Client,
        tokens: TokenCache,
        settings: TutorialTenantSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let prompts_url = with_path(&settings.base_url, &["api", "v2", "agentassist", "prompts"]);
        Self {
            http,
            tokens,
            base_url: settings.base_url,
            prompts_url,
            ui: settings.ui,
            metrics,
        }
    }

    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// Runs `call` with a token; on 401 drops that token, fetches a new one and tries once
    /// more, so a token revoked early costs one extra round trip rather than a failure.
    async fn with_token<F>(
        &self,
        endpoint: Endpoint,
        deadline: Instant,
        request: F,
    ) -> Result<reqwest::Result<reqwest::Response>, TokenError>
    where
        F: Fn(&Token, Duration) -> reqwest::RequestBuilder,
    {
        let token = self.tokens.get(remaining(deadline)).await?;
        let first = self
            .send(endpoint, request(&token, remaining(deadline)))
            .await;
        match first {
            Ok(response) if response.status() == StatusCode::UNAUTHORIZED => {
                drain(response).await;
                self.tokens.invalidate(&token);
                let fresh = self.tokens.get(remaining(deadline)).await?;
                Ok(self
                    .send(endpoint, request(&fresh, remaining(deadline)))
                    .await)
            }
            _ => Ok(first),
        }
    }

    /// Sends one request, recording its status class and latency.
    async fn send(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
    ) -> reqwest::Result<reqwest::Response> {
        let started = Instant::now();
        let result = request.send().await;
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        self.metrics.upstream(endpoint, status, started.elapsed());
        result
    }
}

#[async_trait]
impl Tenant for TutorialTenant {
    async fn send_prompt(&self, prompt: &OutboundPrompt, timeout: Duration) -> AttemptReport {
        let deadline = Instant::now() + timeout;
        let payload = PromptPayload {
            interaction_id: &prompt.interaction_id,
            prompt_id: prompt.prompt_id.as_str(),
            content: &prompt.content,
            priority: prompt.priority.as_str(),
            ui_config: UiConfig {
                component_type: &self.ui.component_type,
                position: &self.ui.position,
                timeout_ms: self.ui.timeout_ms,
            },
            context: PromptContext {
                sentiment_score: prompt.sentiment,
                keywords: &prompt.keywords,
            },
            target_agent_id: &prompt.agent_id,
        };
        let result = self
            .with_token(Endpoint::Prompts, deadline, |token, timeout| {
                with_request_id(
                    self.http
                        .post(self.prompts_url.clone())
                        .header(header::AUTHORIZATION, token.bearer())
                        .header(header::ACCEPT, "application/json")
                        .json(&payload)
                        .timeout(timeout),
                    prompt.request_id.as_deref(),
                )
            })
            .await;
        match result {
            Err(token_error) => token_failure(&token_error),
            Ok(Err(error)) => AttemptReport {
                status: None,
                outcome: AttemptOutcome::Transient(transport_kind(&error)),
            },
            Ok(Ok(response)) => {
                let report = classify(&response);
                drain(response).await;
                report
            }
        }
    }

    async fn fetch_transcript(
        &self,
        interaction_id: &str,
        request_id: Option<&str>,
        timeout: Duration,
    ) -> TranscriptLookup {
        let deadline = Instant::now() + timeout;
        let url = with_path(
            &self.base_url,
            &["api", "v2", "interactions", interaction_id, "transcripts"],
        );
        let result = self
            .with_token(Endpoint::Transcripts, deadline, |token, timeout| {
                with_request_id(
                    self.http
                        .get(url.clone())
                        .header(header::AUTHORIZATION, token.bearer())
                        .header(header::ACCEPT, "application/json")
                        .timeout(timeout),
                    request_id,
                )
            })
            .await;
        let response = match result {
            Err(TokenError::Rejected { status }) => {
                return TranscriptLookup::Failed {
                    status: Some(status),
                }
            }
            Err(TokenError::Unavailable { .. }) | Ok(Err(_)) => return TranscriptLookup::Transient,
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return match response.json::<TranscriptBody>().await {
                Ok(body) => TranscriptLookup::Found {
                    transcript_id: body.id,
                },
                Err(_) => TranscriptLookup::Failed {
                    status: Some(status.as_u16()),
                },
            };
        }
        drain(response).await;
        match status {
            StatusCode::NOT_FOUND => TranscriptLookup::NotYet,
            StatusCode::TOO_MANY_REQUESTS => TranscriptLookup::Transient,
            s if s.is_server_error() => TranscriptLookup::Transient,
            s => TranscriptLookup::Failed {
                status: Some(s.as_u16()),
            },
        }
    }

    /// Ready when a valid token is cached or one can be fetched now: that proves the token
    /// endpoint is reachable and the credentials are accepted. A cached token makes this free,
    /// so probes do not load the tenant.
    async fn check_ready(&self, timeout: Duration) -> Result<(), String> {
        self.tokens
            .get(timeout)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn with_request_id(
    request: reqwest::RequestBuilder,
    request_id: Option<&str>,
) -> reqwest::RequestBuilder {
    match request_id {
        Some(id) => request.header(REQUEST_ID, id),
        None => request,
    }
}

/// Reads the rest of a body we do not need, so the connection goes back to the pool instead of
/// being closed. The request's own timeout bounds the read.
async fn drain(response: reqwest::Response) {
    let _ = response.bytes().await;
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// `base` with `segments` appended, each percent-encoded as one path segment.
fn with_path(base: &url::Url, segments: &[&str]) -> url::Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

fn classify(response: &reqwest::Response) -> AttemptReport {
    let status = response.status();
    let outcome = match status {
        StatusCode::OK | StatusCode::CREATED => AttemptOutcome::Delivered,
        StatusCode::TOO_MANY_REQUESTS => AttemptOutcome::RateLimited {
            retry_after: response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now())),
        },
        StatusCode::UNAUTHORIZED => AttemptOutcome::Unauthorized,
        StatusCode::FORBIDDEN => AttemptOutcome::Forbidden,
        s if s.is_server_error() => AttemptOutcome::Transient(TransientKind::ServerError),
        s if s.is_success() => AttemptOutcome::Delivered,
        _ => AttemptOutcome::Rejected,
    };
    AttemptReport {
        status: Some(status.as_u16()),
        outcome,
    }
}

fn token_failure(error: &TokenError) -> AttemptReport {
    match error {
        TokenError::Rejected { status } => AttemptReport {
            status: Some(*status),
            outcome: AttemptOutcome::Unauthorized,
        },
        TokenError::Unavailable { .. } => AttemptReport {
            status: None,
            outcome: AttemptOutcome::Transient(TransientKind::TokenUnavailable),
        },
    }
}

fn transport_kind(error: &reqwest::Error) -> TransientKind {
    if error.is_timeout() {
        TransientKind::Timeout
    } else if error.is_connect() {
        TransientKind::Connect
    } else {
        TransientKind::ConnectionClosed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_appended_and_escaped() {
        let base = url::Url::parse("https://t.example.com/tenant/").unwrap();
        let url = with_path(
            &base,
            &["api", "v2", "interactions", "a b/c", "transcripts"],
        );
        assert_eq!(
            url.as_str(),
            "https://t.example.com/tenant/api/v2/interactions/a%20b%2Fc/transcripts"
        );
        let bare = url::Url::parse("http://127.0.0.1:9").unwrap();
        assert_eq!(
            with_path(&bare, &["api", "v2", "agentassist", "prompts"]).as_str(),
            "http://127.0.0.1:9/api/v2/agentassist/prompts"
        );
    }
}
