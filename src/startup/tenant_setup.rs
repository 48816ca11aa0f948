//! The tenant the service talks to: the adapter for the configured dialect with its token
//! cache, and in sandbox mode an embedded fake to point it at.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use secrecy::SecretString;

use crate::{
    circuit_breaker::CircuitBreaker,
    clock::Clock,
    config::{Settings, TenantApi, TenantSettings},
    fake_tenant::{Dialect, FakeTenant},
    metrics::Metrics,
    tenant::{self, CxoneTenant, Tenant, TutorialTenant},
};

/// The adapter for the configured dialect, with its token cache on one shared HTTP client.
pub(super) fn build_tenant(
    settings: &Settings,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    breaker: Arc<CircuitBreaker>,
) -> anyhow::Result<Arc<dyn Tenant>> {
    let t = &settings.tenant;
    let http = tenant::HttpClient::new(&tenant::HttpClientOptions {
        connect_timeout: Duration::from_millis(t.connect_timeout_ms),
        pool_idle_timeout: Duration::from_millis(t.pool_idle_timeout_ms),
    })
    .context("cannot build the HTTP client")?;
    let (endpoint, grant) = match t.api {
        TenantApi::Tutorial => (
            tenant::TokenEndpoint::Fixed(tutorial_token_url(t)?),
            tenant::Grant::ClientCredentials {
                scope: t.scope.clone(),
            },
        ),
        TenantApi::Cxone => {
            let c = &t.cxone;
            let issuer =
                url::Url::parse(&c.auth_url).context("tenant.cxone.auth_url is not a URL")?;
            let grant = tenant::Grant::Password {
                username: c
                    .access_key_id
                    .clone()
                    .context("the access key id is not set")?,
                password: (c.access_key_secret.clone())
                    .context("the access key secret is not set")?,
            };
            (tenant::TokenEndpoint::Issuer(issuer), grant)
        }
    };
    let tokens = tenant::TokenCache::new(
        http.clone(),
        tenant::TokenCacheSettings {
            endpoint,
            client_id: t.client_id.clone().unwrap_or_default(),
            client_secret: t
                .client_secret
                .clone()
                .context("the client secret is not set")?,
            grant,
            refresh_skew: Duration::from_secs(t.token_refresh_skew_secs),
            refresh_skew_max_fraction: t.token_refresh_skew_max_fraction,
            request_timeout: Duration::from_millis(t.attempt_timeout_ms),
        },
        clock,
        metrics.clone(),
        breaker,
    );
    let display_ms = settings.delivery.ui.timeout_ms;
    Ok(match t.api {
        TenantApi::Tutorial => {
            let base_url = t.url.as_deref().context("tenant.url is not set")?;
            let base_url = url::Url::parse(base_url).context("tenant.url is not a URL")?;
            let settings = tenant::TutorialTenantSettings {
                base_url,
                ui: settings.delivery.ui.clone(),
            };
            Arc::new(TutorialTenant::new(http, tokens, settings, metrics))
        }
        TenantApi::Cxone => {
            let c = &t.cxone;
            let api_url = (c.api_url.as_deref().map(url::Url::parse).transpose())
                .context("tenant.cxone.api_url is not a URL")?;
            let settings = tenant::CxoneTenantSettings {
                issuer: url::Url::parse(&c.auth_url)?,
                api_url,
                api_version: c.api_version.clone(),
                delivery: c.delivery,
                event_name: c.event_name.clone(),
                display_ms,
            };
            Arc::new(CxoneTenant::new(http, tokens, settings, metrics))
        }
    })
}

fn tutorial_token_url(t: &TenantSettings) -> anyhow::Result<url::Url> {
    Ok(match &t.token_url {
        Some(url) => url::Url::parse(url).context("tenant.token_url is not a URL")?,
        None => {
            let base_url = t.url.as_deref().context("tenant.url is not set")?;
            url::Url::parse(&format!(
                "{}/api/v2/oauth/token",
                base_url.trim_end_matches('/')
            ))
            .context("tenant.url is not a URL")?
        }
    })
}

/// Starts the embedded fake tenant in the configured dialect and points the settings at it,
/// with the credentials it accepts.
pub(super) async fn start_sandbox(settings: &mut Settings) -> anyhow::Result<FakeTenant> {
    let mut fake_settings = settings.sandbox.tenant.clone();
    fake_settings.dialect = match settings.tenant.api {
        TenantApi::Tutorial => Dialect::Tutorial,
        TenantApi::Cxone => Dialect::Cxone,
    };
    let fake = FakeTenant::start(SocketAddr::from(([127, 0, 0, 1], 0)), fake_settings)
        .await
        .context("cannot start the sandbox tenant")?;
    tracing::warn!(
        tenant = %fake.url(),
        "SANDBOX MODE: prompts go to an embedded fake tenant; nothing reaches a real CXone tenant"
    );
    let tenant = &mut settings.tenant;
    match tenant.api {
        TenantApi::Tutorial => {
            tenant.url = Some(fake.url());
            tenant.token_url = None;
            tenant.client_id = Some("sandbox".into());
            tenant.client_secret = Some(SecretString::from("sandbox"));
        }
        TenantApi::Cxone => {
            let plays = &fake.settings().cxone;
            tenant.client_id = Some(plays.client_id.clone());
            tenant.client_secret = Some(SecretString::from(plays.client_secret.clone()));
            let cxone = &mut tenant.cxone;
            cxone.auth_url = fake.url();
            // The API host is discovered, as against a real tenant.
            cxone.api_url = None;
            cxone.access_key_id = Some(SecretString::from(plays.access_key_id.clone()));
            cxone.access_key_secret = Some(SecretString::from(plays.access_key_secret.clone()));
        }
    }
    Ok(fake)
}
