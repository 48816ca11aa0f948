//! The tenant the service talks to: the tutorial adapter with its token cache, or in sandbox
//! mode an embedded fake.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use secrecy::SecretString;

use crate::{
    circuit_breaker::CircuitBreaker,
    clock::Clock,
    config::Settings,
    fake_tenant::FakeTenant,
    metrics::Metrics,
    tenant::{self, TutorialTenant},
};

pub(super) fn build_tenant(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    breaker: Arc<CircuitBreaker>,
) -> anyhow::Result<TutorialTenant> {
    let t = &settings.tenant;
    let base_url = t.url.as_deref().context("tenant.url is not set")?;
    let base_url = url::Url::parse(base_url).context("tenant.url is not a URL")?;
    let token_url = match &t.token_url {
        Some(url) => url::Url::parse(url).context("tenant.token_url is not a URL")?,
        None => url::Url::parse(&format!(
            "{}/api/v2/oauth/token",
            base_url.as_str().trim_end_matches('/')
        ))?,
    };
    let http = tenant::HttpClient::new(&tenant::HttpClientOptions {
        connect_timeout: Duration::from_millis(t.connect_timeout_ms),
        pool_idle_timeout: Duration::from_millis(t.pool_idle_timeout_ms),
    })
    .context("cannot build the HTTP client")?;
    let tokens = tenant::TokenCache::new(
        http.clone(),
        tenant::TokenCacheSettings {
            endpoint: tenant::TokenEndpoint::Fixed(token_url),
            client_id: t.client_id.clone().unwrap_or_default(),
            client_secret: t
                .client_secret
                .clone()
                .context("the client secret is not set")?,
            grant: tenant::Grant::ClientCredentials {
                scope: t.scope.clone(),
            },
            refresh_skew: Duration::from_secs(t.token_refresh_skew_secs),
            refresh_skew_max_fraction: t.token_refresh_skew_max_fraction,
            request_timeout: Duration::from_millis(t.attempt_timeout_ms),
        },
        clock,
        metrics.clone(),
        breaker,
    );
    Ok(TutorialTenant::new(
        http,
        tokens,
        tenant::TutorialTenantSettings {
            base_url,
            ui: settings.delivery.ui.clone(),
        },
        metrics,
    ))
}

/// Starts the embedded fake tenant and points the settings at it.
pub(super) async fn start_sandbox(settings: &mut Settings) -> anyhow::Result<FakeTenant> {
    let fake = FakeTenant::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        settings.sandbox.tenant.clone(),
    )
    .await
    .context("cannot start the sandbox tenant")?;
    tracing::warn!(
        tenant = %fake.url(),
        "SANDBOX MODE: prompts go to an embedded fake tenant; nothing reaches a real CXone tenant"
    );
    let tenant = &mut settings.tenant;
    tenant.url = Some(fake.url());
    tenant.token_url = None;
    tenant.client_id = Some("sandbox".into());
    tenant.client_secret = Some(SecretString::from("sandbox"));
    Ok(fake)
}
