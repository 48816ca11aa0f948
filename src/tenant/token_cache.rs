//! OAuth2 client-credentials tokens, cached until shortly before they expire.
//!
//! Concurrent callers that find no valid token share one in-flight fetch (single flight), so
//! a burst of first requests costs the tenant one token request. Failures are shared by the
//! callers waiting on that fetch but are not cached: the next caller tries again. Each fetch
//! is one exchange with the tenant for the circuit breaker, counted here once, however many
//! callers waited on it.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{
    future::{BoxFuture, Shared},
    FutureExt,
};
use secrecy::SecretString;

use super::{
    discovery::{self, Discovered},
    token::{bearer, Token, TokenError},
    token_exchange::{Grant, TokenRequest},
    HttpClient,
};
use crate::{
    circuit_breaker::CircuitBreaker,
    clock::Clock,
    metrics::{Endpoint, Metrics, ResultLabels},
};

/// Lifetime assumed when the token response omits `expires_in` (the tutorial's figure).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);
/// Tokens are refreshed at least daily, whatever `expires_in` claims.
const MAX_LIFETIME: Duration = Duration::from_secs(86_400);

/// Where tokens are asked for.
pub enum TokenEndpoint {
    /// A configured URL (the tutorial's).
    Fixed(url::Url),
    /// The `token_endpoint` of this issuer's OpenID discovery document (CXone's).
    Issuer(url::Url),
}

pub struct TokenCacheSettings {
    pub endpoint: TokenEndpoint,
    pub client_id: String,
    pub client_secret: SecretString,
    pub grant: Grant,
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
    /// The token endpoint an issuer's discovery document named.
    discovered: Discovered,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    current: Option<Arc<Token>>,
    in_flight: Option<SharedFetch>,
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
                discovered: Discovered::default(),
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
            // Refused credentials and a 429 are answers: the tenant is up.
            match &result {
                Err(TokenError::Unavailable { .. }) => inner.breaker.record_failure(),
                Ok(_) | Err(TokenError::Rejected { .. } | TokenError::RateLimited { .. }) => {
                    inner.breaker.record_success()
                }
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
    async fn token_url(&self) -> Result<url::Url, TokenError> {
        let s = &self.settings;
        let issuer = match &s.endpoint {
            TokenEndpoint::Fixed(url) => return Ok(url.clone()),
            TokenEndpoint::Issuer(issuer) => issuer,
        };
        if let Some(url) = self.discovered.get() {
            return Ok(url);
        }
        let url = discovery::token_endpoint(&self.http, issuer, s.request_timeout)
            .await
            .map_err(|error| TokenError::Unavailable { reason: error.0 })?;
        self.discovered.set(url.clone());
        Ok(url)
    }

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
        let token_url = self.token_url().await.map_err(|error| (None, error))?;
        let requested_at = self.clock.now();
        let (status, issued) = TokenRequest {
            http: &self.http,
            token_url,
            client_id: &s.client_id,
            client_secret: &s.client_secret,
            grant: &s.grant,
            timeout: s.request_timeout,
        }
        .send()
        .await;
        if status.is_none() {
            // The endpoint did not answer: it may have moved, so ask the issuer again.
            self.discovered.forget();
        }
        let issued = issued.map_err(|error| (status, error))?;
        // A token that cannot go into a header would fail every request made with it.
        if bearer(&issued.access_token).is_err() {
            let reason = "unreadable token response";
            return Err((status, TokenError::Unavailable { reason }));
        }
        let lifetime = issued
            .expires_in
            .unwrap_or(DEFAULT_LIFETIME)
            .min(MAX_LIFETIME);
        tracing::info!(expires_in_secs = lifetime.as_secs(), "fetched access token");
        let usable = usable_lifetime(lifetime, s.refresh_skew, s.refresh_skew_max_fraction);
        let token = Token {
            value: SecretString::from(issued.access_token),
            expires_at: requested_at + usable,
        };
        Ok((status.unwrap_or(200), token))
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
