//! The tutorial's tenant API: `POST /api/v2/agentassist/prompts` and
//! `GET /api/v2/interactions/{id}/transcripts`, with an OAuth2 bearer token.

mod answers;
mod payload;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use axum::http::{header, Method, StatusCode};
use tokio::time::Instant;

use answers::classify;
use payload::{PromptPayload, TranscriptBody};

use super::{
    upstream::{attempt_report, authorized, remaining, send_timed, token_failure},
    AttemptReport, CorrelationLookup, CorrelationTarget, HttpClient, OutboundPrompt, Tenant, Token,
    TokenCache, TokenError, TransportError, UpstreamResponse,
};
use crate::{
    config::UiSettings,
    metrics::{Endpoint, Metrics},
};

pub struct TutorialTenantSettings {
    pub base_url: url::Url,
    pub ui: UiSettings,
}

pub struct TutorialTenant {
    http: HttpClient,
    tokens: TokenCache,
    base_url: url::Url,
    /// Parsed once: every prompt POST clones it rather than parsing a string.
    prompts_url: url::Url,
    ui: UiSettings,
    metrics: Arc<Metrics>,
}

impl TutorialTenant {
    pub fn new(
        http: HttpClient,
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

    /// Runs `request` with a token; on 401 drops that token, fetches a new one and tries once
    /// more, so a token revoked early costs one extra round trip rather than a failure. For
    /// transcript look-ups only: prompt POSTs leave the re-send to the delivery policy.
    async fn with_token<F>(
        &self,
        endpoint: Endpoint,
        deadline: Instant,
        request: F,
    ) -> Result<Result<UpstreamResponse, TransportError>, TokenError>
    where
        F: Fn(&Token) -> Result<reqwest::RequestBuilder, TransportError>,
    {
        let token = self.tokens.get(remaining(deadline)).await?;
        let first = send_timed(
            &self.http,
            &self.metrics,
            endpoint,
            request(&token),
            deadline,
        )
        .await;
        match first {
            Ok(response) if response.status == StatusCode::UNAUTHORIZED => {
                self.tokens.invalidate(&token);
                let fresh = self.tokens.get(remaining(deadline)).await?;
                let request = request(&fresh);
                Ok(send_timed(&self.http, &self.metrics, endpoint, request, deadline).await)
            }
            _ => Ok(first),
        }
    }
}

#[async_trait]
impl Tenant for TutorialTenant {
    async fn send_prompt(&self, prompt: &OutboundPrompt, timeout: Duration) -> AttemptReport {
        let deadline = Instant::now() + timeout;
        let payload = PromptPayload::new(prompt, &self.ui);
        // A 401 is not re-sent here: the token is dropped and the delivery policy sends
        // again, so every POST is its own attempt in the record.
        let token = match self.tokens.get(remaining(deadline)).await {
            Ok(token) => token,
            Err(error) => return token_failure(&error),
        };
        // Only strings and numbers: serialising cannot fail, but would not be sent if it did.
        let request = serde_json::to_vec(&payload)
            .map_err(|_| TransportError::Broken)
            .and_then(|body| {
                let url = self.prompts_url.clone();
                let request_id = prompt.request_id.as_deref();
                Ok(
                    authorized(&self.http, Method::POST, url, &token, request_id)?
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(body),
                )
            });
        let sent = send_timed(
            &self.http,
            &self.metrics,
            Endpoint::Prompts,
            request,
            deadline,
        )
        .await;
        attempt_report(sent, classify, &self.tokens, &token)
    }

    /// Looks up the interaction's transcript.
    async fn correlate(
        &self,
        target: &CorrelationTarget<'_>,
        timeout: Duration,
    ) -> CorrelationLookup {
        let (interaction_id, request_id) = (target.interaction_id, target.request_id);
        let deadline = Instant::now() + timeout;
        let url = with_path(
            &self.base_url,
            &["api", "v2", "interactions", interaction_id, "transcripts"],
        );
        let result = self
            .with_token(Endpoint::Transcripts, deadline, |token| {
                authorized(&self.http, Method::GET, url.clone(), token, request_id)
            })
            .await;
        let response = match result {
            Err(TokenError::Rejected { status, .. }) => {
                return CorrelationLookup::Failed {
                    status: Some(status),
                    reason: None,
                }
            }
            Err(TokenError::Unavailable { .. } | TokenError::RateLimited { .. }) | Ok(Err(_)) => {
                return CorrelationLookup::Transient
            }
            Ok(Ok(response)) => response,
        };
        match response.status {
            s if s.is_success() => match serde_json::from_slice::<TranscriptBody>(&response.body) {
                Ok(body) => CorrelationLookup::Found {
                    transcript_id: Some(body.id),
                    detail: None,
                },
                Err(_) => CorrelationLookup::Failed {
                    status: Some(s.as_u16()),
                    reason: Some("unreadable transcript".into()),
                },
            },
            StatusCode::NOT_FOUND => CorrelationLookup::NotYet,
            StatusCode::TOO_MANY_REQUESTS => CorrelationLookup::Transient,
            s if s.is_server_error() => CorrelationLookup::Transient,
            s => CorrelationLookup::Failed {
                status: Some(s.as_u16()),
                reason: None,
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

/// `base` with `segments` appended, each percent-encoded as one path segment.
fn with_path(base: &url::Url, segments: &[&str]) -> url::Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
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
