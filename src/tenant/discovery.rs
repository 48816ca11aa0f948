//! CXone's discovery documents: the issuer's OpenID configuration names the token endpoint,
//! and its CXone configuration names a tenant's API host. Both are read once and kept; a host
//! that stops answering is looked up again.

use std::{sync::Mutex, time::Duration};

use axum::http::Method;
use serde::Deserialize;

use super::HttpClient;

/// Why a discovery document gave no usable URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("discovery failed: {0}")]
pub struct DiscoveryError(pub &'static str);

#[derive(Deserialize)]
struct OpenIdConfiguration {
    token_endpoint: url::Url,
}

#[derive(Deserialize)]
struct CxoneConfiguration {
    api_endpoint: url::Url,
}

/// `{issuer}/.well-known/openid-configuration`'s `token_endpoint`.
pub async fn token_endpoint(
    http: &HttpClient,
    issuer: &url::Url,
    timeout: Duration,
) -> Result<url::Url, DiscoveryError> {
    let url = well_known(issuer, "openid-configuration");
    let document: OpenIdConfiguration = fetch(http, url, timeout).await?;
    secure(document.token_endpoint)
}

/// `{issuer}/.well-known/cxone-configuration?tenantId=..`'s `api_endpoint`.
pub async fn api_endpoint(
    http: &HttpClient,
    issuer: &url::Url,
    tenant_id: &str,
    timeout: Duration,
) -> Result<url::Url, DiscoveryError> {
    let mut url = well_known(issuer, "cxone-configuration");
    url.query_pairs_mut().append_pair("tenantId", tenant_id);
    let document: CxoneConfiguration = fetch(http, url, timeout).await?;
    secure(document.api_endpoint)
}

/// A discovered URL, kept until the host behind it stops answering.
#[derive(Default)]
pub struct Discovered {
    url: Mutex<Option<url::Url>>,
}

impl Discovered {
    pub fn get(&self) -> Option<url::Url> {
        self.url.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, url: url::Url) {
        *self.url.lock().unwrap_or_else(|e| e.into_inner()) = Some(url);
    }

    /// Forgets the URL, so the next call discovers it again.
    pub fn forget(&self) {
        *self.url.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn well_known(issuer: &url::Url, document: &str) -> url::Url {
    let mut url = issuer.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend([".well-known", document]);
    }
    url
}

async fn fetch<T: serde::de::DeserializeOwned>(
    http: &HttpClient,
    url: url::Url,
    timeout: Duration,
) -> Result<T, DiscoveryError> {
    let request = http
        .request(Method::GET, url)
        .header(axum::http::header::ACCEPT, "application/json");
    let answer = http.send(request, timeout).await.map_err(|error| {
        tracing::warn!(%error, "discovery request failed");
        DiscoveryError("the discovery document could not be fetched")
    })?;
    if !answer.status.is_success() {
        tracing::warn!(status = answer.status.as_u16(), "discovery refused");
        return Err(DiscoveryError("the discovery document was refused"));
    }
    serde_json::from_slice(&answer.body)
        .map_err(|_| DiscoveryError("the discovery document is unreadable"))
}

/// A discovered URL gets credentials or tokens sent to it: https only, but for a loopback
/// host (the sandbox, tests).
fn secure(url: url::Url) -> Result<url::Url, DiscoveryError> {
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(DiscoveryError("a discovered URL is not https")),
    }
}
