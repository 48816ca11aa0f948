//! Inbound auth: `Authorization: Bearer <key>` against the configured API keys.

use std::{
    convert::Infallible,
    future::{ready, Ready},
    sync::Arc,
    task::{Context, Poll},
};

use axum::{
    extract::Request,
    http::header,
    response::{IntoResponse, Response},
};
use futures::future::Either;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower::{Layer, Service};

use crate::error::ApiError;

/// The accepted keys, kept only as SHA-256 digests: comparing fixed-length digests in
/// constant time reveals neither a key's content nor its length through timing. Each has
/// its fingerprint made once, not per request.
#[derive(Clone, Default)]
pub struct ApiKeys {
    known: Arc<Vec<([u8; 32], Arc<str>)>>,
}

/// Who called, as far as auth knows: a short, non-secret fingerprint of the key used (for
/// scoping and logs), or `None` when auth is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Option<Arc<str>>);

impl ApiKeys {
    pub fn new(keys: &[SecretString]) -> Self {
        let known = keys.iter().map(|key| {
            let digest = digest(key.expose_secret());
            (digest, Arc::from(hex::encode(&digest[..6])))
        });
        Self {
            known: Arc::new(known.collect()),
        }
    }

    pub fn is_enabled(&self) -> bool {
        !self.known.is_empty()
    }

    /// The matching key's fingerprint. Every configured key is compared, match or not, so
    /// the time taken does not say which key matched either.
    pub fn verify(&self, presented: &str) -> Option<Arc<str>> {
        let presented = digest(presented);
        let mut found = None;
        for (known, fingerprint) in self.known.iter() {
            if bool::from(known.ct_eq(&presented)) {
                found = Some(fingerprint.clone());
            }
        }
        found
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Refuses requests without a valid key when keys are configured; records the caller.
#[derive(Clone)]
pub struct RequireApiKeyLayer(pub ApiKeys);

impl<S> Layer<S> for RequireApiKeyLayer {
    type Service = RequireApiKey<S>;

    fn layer(&self, inner: S) -> RequireApiKey<S> {
        RequireApiKey {
            inner,
            keys: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct RequireApiKey<S> {
    inner: S,
    keys: ApiKeys,
}

impl<S> Service<Request> for RequireApiKey<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let caller = if self.keys.is_enabled() {
            let presented = request
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(bearer_token);
            match presented.and_then(|key| self.keys.verify(key)) {
                Some(fingerprint) => Caller(Some(fingerprint)),
                None => return Either::Left(ready(Ok(ApiError::Unauthorized.into_response()))),
            }
        } else {
            Caller(None)
        };
        request.extensions_mut().insert(caller);
        Either::Right(self.inner.call(request))
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
