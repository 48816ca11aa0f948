//! OAuth2 client-credentials tokens, cached until shortly before they expire.
//!
//! Concurrent callers that find no valid token share one in-flight fetch (single flight), so
//! a burst of first requests costs the tenant one token request. Failures are shared by the
//! callers waiting on that fetch but are not cached: the next caller tries again. Each fetch
//! is one exchange with the tenant for the circuit breaker, counted here once, however many
//! callers waited on it.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::http::{
    header::{self, InvalidHeaderValue},
    HeaderValue, Method, Request, Uri,
};
use bytes::Bytes;
use futures::{
    future::{BoxFuture, Shared},
    FutureExt,
};
use http_body_util::Full;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::HttpClient;
use crate::{
    circuit_breaker::CircuitBreaker,
    clock::Clock,
    metrics::{Endpoint, Metrics, ResultLabels},
};

/// Lifetime assumed when the token response omits `expires_in` (the tutorial's figure).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Tokens are refreshed at least daily, whatever `expires_in` claims.
const MAX_LIFETIME: Duration = Duration::from_secs(86_400);

/// A cached access token. Its value never appears in `Debug` output or logs.
#[derive(Debug)]
pub struct Token {
    value: SecretString,
    expires_at: Instant,
}

impl Token {
    /// The `Authorization` header's value, marked sensitive so HTTP/2 never indexes it.
    pub fn authorization(&self) -> Result<HeaderValue, InvalidHeaderValue> {
        bearer(self.value.expose_secret())
    }
}

fn bearer(token: &str) -> Result<HeaderValue, InvalidHeaderValue> {
    let mut value = HeaderValue::try_from(format!("Bearer {token}"))?;
    value.set_sensitive(true);
    Ok(value)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint answered 4xx: the credentials are wrong or the app not approved.
    #[error("token endpoint refused the credentials (HTTP {status})")]
    Rejected { status: u16 },
    /// Network fault, timeout, 5xx or an unreadable answer: worth trying again.
    #[error("token endpoint unavailable: {reason}")]
    Unavailable { reason: &'static str },
}

pub struct TokenCacheSettings {
    pub token_url: Uri,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scope: String,
    /// Refresh this long before expiry...
    pub refresh_skew: Duration,
    /// ...capped at this fraction of the token's lifetime.
    pub refresh_skew_max_fraction: f64,
    /// Bound on one token request.
    pub request_timeout: Duration,
}

type SharedFetch = Shared<BoxFuture<'static, Result<Arc<Token>, TokenError>>>;

#[derive(Clone)]
pub struct TokenCache {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient,
    settings: TokenCacheSettings,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    breaker: Arc<CircuitBreaker>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    current: Option<Arc<Token>>,
    in_flight: Option<SharedFetch>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

impl TokenCache {
    pub fn new(
        http: HttpClient,
        settings: TokenCacheSettings,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        breaker: Arc<CircuitBreaker>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                http,
                settings,
                clock,
                metrics,
                breaker,
                state: Mutex::default(),
            }),
        }
    }

    /// A valid token, fetching one if needed; waits at most `timeout` for the fetch.
    pub async fn get(&self, timeout: Duration) -> Result<Arc<Token>, TokenError> {
        let fetch = {
            let mut state = self.inner.lock();
            if let Some(token) = &state.current {
                if self.inner.clock.now() < token.expires_at {
                    return Ok(token.clone());
                }
            }
            state
                .in_flight
                .get_or_insert_with(|| self.start_fetch())
                .clone()
        };
        match tokio::time::timeout(timeout, fetch).await {
            Ok(result) => result,
            Err(_) => Err(TokenError::Unavailable { reason: "timeout" }),
        }
    }

    /// Forgets `token` after the tenant refused it, unless another caller already replaced it.
    pub fn invalidate(&self, token: &Arc<Token>) {
        let mut state = self.inner.lock();
        if state
            .current
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, token))
        {
            state.current = None;
        }
    }

    /// Whether a token that is still valid is cached (for readiness).
    pub fn has_valid_token(&self) -> bool {
        let state = self.inner.lock();
        let now = self.inner.clock.now();
        state.current.as_ref().is_some_and(|t| now < t.expires_at)
    }

    fn start_fetch(&self) -> SharedFetch {
        let inner = self.inner.clone();
        async move {
            let started = std::time::Instant::now();
            let (status, result) = inner.fetch().await;
            inner
                .metrics
                .upstream(Endpoint::Token, status, started.elapsed());
            let outcome = if result.is_ok() { "success" } else { "failure" };
            // Refused credentials are an answer: the tenant is up.
            match &result {
                Err(TokenError::Unavailable { .. }) => inner.breaker.record_failure(),
                Ok(_) | Err(TokenError::Rejected { .. }) => inner.breaker.record_success(),
            }
            inner
                .metrics
                .token_fetches
                .get_or_create(&ResultLabels { result: outcome })
                .inc();
            let result = result.map(Arc::new);
            let mut state = inner.lock();
            state.in_flight = None;
            if let Ok(token) = &result {
                state.current = Some(token.clone());
            }
            result
        }
        .boxed()
        .shared()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fetches a token; also returns the HTTP status, when one arrived, for metrics.
    async fn fetch(&self) -> (Option<u16>, Result<Token, TokenError>) {
        match self.request_token().await {
            Ok((status, token)) => (Some(status), Ok(token)),
            Err((status, error)) => (status, Err(error)),
        }
    }

    async fn request_token(&self) -> Result<(u16, Token), (Option<u16>, TokenError)> {
        let s = &self.settings;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", s.client_id.as_str()),
            ("client_secret", s.client_secret.expose_secret()),
            ("scope", s.scope.as_str()),
        ];
        let form = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::builder()
            .method(Method::POST)
            .uri(s.token_url.clone())
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form)))
            .map_err(|_| {
                let reason = "the token request could not be built";
                (None, TokenError::Unavailable { reason })
            })?;
        let requested_at = self.clock.now();
        // Without the timeout a token endpoint that accepts and never answers would hold the
        // shared fetch forever, and every caller would join it.
        let response = (self.http.send(request, s.request_timeout).await).map_err(|error| {
            tracing::warn!(%error, "token request failed");
            let reason = "network error";
            (None, TokenError::Unavailable { reason })
        })?;
        let code = response.status.as_u16();
        // Only these say the credentials are wrong; a 408 or 429 is worth trying again.
        if matches!(code, 400 | 401 | 403) {
            tracing::error!(status = code, "token endpoint refused the credentials");
            return Err((Some(code), TokenError::Rejected { status: code }));
        }
        if !response.status.is_success() {
            tracing::warn!(status = code, "token endpoint failed");
            let reason = "server error";
            return Err((Some(code), TokenError::Unavailable { reason }));
        }
        // A token that cannot go into a header would fail every request made with it.
        let body = serde_json::from_slice::<TokenResponse>(&response.body)
            .ok()
            .filter(|body| bearer(&body.access_token).is_ok())
            .ok_or_else(|| {
                let reason = "unreadable token response";
                (Some(code), TokenError::Unavailable { reason })
            })?;
        let lifetime = body
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs)
            .min(MAX_LIFETIME);
        tracing::info!(expires_in_secs = lifetime.as_secs(), "fetched access token");
        let usable = usable_lifetime(lifetime, s.refresh_skew, s.refresh_skew_max_fraction);
        let token = Token {
            value: SecretString::from(body.access_token),
            expires_at: requested_at + usable,
        };
        Ok((code, token))
    }
}

/// How long a token is used: its lifetime less the refresh skew, where the skew never takes
/// more than `max_fraction` of the lifetime (a 3 s token is still reused for a burst).
fn usable_lifetime(lifetime: Duration, skew: Duration, max_fraction: f64) -> Duration {
    lifetime.saturating_sub(skew.min(lifetime.mul_f64(max_fraction)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_is_capped_by_a_fraction_of_the_lifetime() {
        let skew = Duration::from_secs(100);
        assert_eq!(
            usable_lifetime(Duration::from_secs(3600), skew, 0.1),
            Duration::from_secs(3500),
            "the tutorial's 100 s early refresh"
        );
        assert_eq!(
            usable_lifetime(Duration::from_secs(3), skew, 0.1),
            Duration::from_millis(2700),
            "a short token is still reused"
        );
        assert_eq!(usable_lifetime(Duration::ZERO, skew, 0.1), Duration::ZERO);
    }
}
