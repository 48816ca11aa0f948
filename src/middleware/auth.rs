//! Inbound auth: `Authorization: Bearer <key>` against the configured API keys.

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::{IntoResponse, Response},
};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The accepted keys, kept only as SHA-256 digests: comparing fixed-length digests in
/// constant time reveals neither a key's content nor its length through timing.
#[derive(Clone, Default)]
pub struct ApiKeys {
    digests: Arc<Vec<[u8; 32]>>,
}

/// Who called, as far as auth knows: a short, non-secret fingerprint of the key used (for
/// scoping and logs), or `None` when auth is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Option<String>);

impl ApiKeys {
    pub fn new(keys: &[SecretString]) -> Self {
        Self {
            digests: Arc::new(keys.iter().map(|k| digest(k.expose_secret())).collect()),
        }
    }

    pub fn is_enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// The matching key's fingerprint. Every configured key is compared, match or not, so
    /// the time taken does not say which key matched either.
    pub fn verify(&self, presented: &str) -> Option<String> {
        let presented = digest(presented);
        let mut found = None;
        for known in self.digests.iter() {
            if bool::from(known.ct_eq(&presented)) {
                found = Some(hex::encode(&known[..6]));
            }
        }
        found
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Refuses requests without a valid key when keys are configured; records the caller.
pub async fn require_api_key(
    State(keys): State<ApiKeys>,
    mut request: Request,
    next: Next,
) -> Response {
    if !keys.is_enabled() {
        request.extensions_mut().insert(Caller(None));
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    match presented.and_then(|key| keys.verify(key)) {
        Some(fingerprint) => {
            request.extensions_mut().insert(Caller(Some(fingerprint)));
            next.run(request).await
        }
        None => ApiError::Unauthorized.into_response(),
    }
}

/// The credentials of a `Bearer` authorization; the scheme's name is case-insensitive.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    fn keys() -> ApiKeys {
        ApiKeys::new(&[
            SecretString::from("first-key-0123456789"),
            SecretString::from("second-key-0123456789"),
        ])
    }

    #[test]
    fn only_exact_keys_verify() {
        let keys = keys();
        assert!(keys.verify("first-key-0123456789").is_some());
        assert!(keys.verify("second-key-0123456789").is_some());
        assert_eq!(keys.verify("first-key-012345678"), None, "a prefix");
        assert_eq!(keys.verify("first-key-01234567890"), None, "an extension");
        assert_eq!(keys.verify("FIRST-KEY-0123456789"), None);
        assert_eq!(keys.verify(""), None);
    }

    #[test]
    fn fingerprints_tell_keys_apart_without_revealing_them() {
        let keys = keys();
        let a = keys.verify("first-key-0123456789").unwrap();
        let b = keys.verify("second-key-0123456789").unwrap();
        assert_ne!(a, b);
        assert!(!a.contains("first"));
        assert_eq!(a.len(), 12);
    }

    #[test]
    fn no_keys_means_auth_is_off() {
        assert!(!ApiKeys::default().is_enabled());
    }
}
