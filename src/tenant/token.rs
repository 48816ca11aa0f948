//! An access token, and why none could be had.

use std::time::{Duration, Instant};

use axum::http::{header::InvalidHeaderValue, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

/// A cached access token. Its value never appears in `Debug` output or logs.
#[derive(Debug)]
pub struct Token {
    pub(super) value: SecretString,
    pub(super) expires_at: Instant,
}

impl Token {
    /// The `Authorization` header's value, marked sensitive so HTTP/2 never indexes it.
    pub fn authorization(&self) -> Result<HeaderValue, InvalidHeaderValue> {
        bearer(self.value.expose_secret())
    }

    /// A claim of the token's payload, when the token is a JWT; not verified (the token came
    /// from the issuer over TLS), only read.
    pub fn claim(&self, name: &str) -> Option<serde_json::Value> {
        use base64::Engine;
        let payload = self.value.expose_secret().split('.').nth(1)?;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let mut claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&payload).ok()?;
        claims.remove(name)
    }
}

pub(super) fn bearer(token: &str) -> Result<HeaderValue, InvalidHeaderValue> {
    let mut value = HeaderValue::try_from(format!("Bearer {token}"))?;
    value.set_sensitive(true);
    Ok(value)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint answered 400, 401 or 403: the credentials are wrong or the app not
    /// approved. `error` is the OAuth2 error code it gave (`invalid_client`: the client id or
    /// secret; `invalid_grant`: the access key or password).
    #[error("token endpoint refused the credentials (HTTP {status}{})", describe(error.as_deref()))]
    Rejected { status: u16, error: Option<String> },
    /// The token endpoint answered 429, with its `Retry-After` when it sent a usable one.
    #[error("token endpoint rate limited")]
    RateLimited { retry_after: Option<Duration> },
    /// Network fault, timeout, 5xx or an unreadable answer: worth trying again.
    #[error("token endpoint unavailable: {reason}")]
    Unavailable { reason: &'static str },
}

/// What an OAuth2 error code says is wrong, for readiness and logs.
fn describe(error: Option<&str>) -> String {
    match error {
        Some("invalid_client") => ", invalid_client: the client id or secret was refused".into(),
        Some("invalid_grant") => ", invalid_grant: the access key was refused".into(),
        Some(other) => format!(", {other}"),
        None => String::new(),
    }
}
