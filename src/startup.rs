//! `Application`: builds every component from settings, binds its listener, and serves until
//! a shutdown future resolves.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::Router;
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::{
    clock::{Clock, SystemClock},
    config::Settings,
    correlation::{self, CorrelationWorker},
    delivery::DeliveryPolicy,
    domain::ValidationLimits,
    eligibility::EligibilityPolicy,
    fake_tenant::FakeTenant,
    keywords::KeywordVocabulary,
    rate_limit,
    retry::Backoff,
    routes,
    service::PromptService,
    store,
    tenant::{
        build_http_client, TokenCache, TokenCacheSettings, TutorialTenant, TutorialTenantSettings,
    },
};

pub struct Application {
    listener: TcpListener,
    router: Router,
    correlation: CorrelationWorker,
    sandbox: Option<FakeTenant>,
    shutdown_grace: Duration,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with the clock used for token expiry and the rate limit.
    pub async fn build_with_clock(
        mut settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.server.listen_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.server.listen_addr))?;
        let sandbox = if settings.sandbox.enabled {
            Some(start_sandbox(&mut settings).await?)
        } else {
            None
        };

        let tenant_settings = &settings.tenant;
        let base_url = tenant_settings
            .url
            .as_deref()
            .context("tenant.url is not set")?;
        let base_url = url::Url::parse(base_url).context("tenant.url is not a URL")?;
        let token_url = match &tenant_settings.token_url {
            Some(url) => url::Url::parse(url).context("tenant.token_url is not a URL")?,
            None => url::Url::parse(&format!(
                "{}/api/v2/oauth/token",
                base_url.as_str().trim_end_matches('/')
            ))?,
        };
        let http = build_http_client(tenant_settings).context("cannot build the HTTP client")?;
        let tokens = TokenCache::new(
            http.clone(),
            TokenCacheSettings {
                token_url,
                client_id: tenant_settings.client_id.clone().unwrap_or_default(),
                client_secret: tenant_settings
                    .client_secret
                    .clone()
                    .context("the client secret is not set")?,
                scope: tenant_settings.scope.clone(),
                refresh_skew: Duration::from_secs(tenant_settings.token_refresh_skew_secs),
                refresh_skew_max_fraction: tenant_settings.token_refresh_skew_max_fraction,
            },
            clock.clone(),
        );
        let tenant = Arc::new(TutorialTenant::new(
            http,
            tokens,
            TutorialTenantSettings {
                base_url,
                ui: settings.delivery.ui.clone(),
            },
        ));
        let attempt_timeout = Duration::from_millis(tenant_settings.attempt_timeout_ms);
        let store = store::from_settings(&settings.store);
        let (queue, correlation) = correlation::spawn(
            &settings.correlation,
            tenant.clone(),
            store.clone(),
            attempt_timeout,
        );
        let delivery = &settings.delivery;
        let service = PromptService {
            eligibility: EligibilityPolicy::new(&settings.eligibility),
            limiter: rate_limit::from_settings(&settings.rate_limit, clock),
            tenant,
            store,
            correlation: queue,
            policy: DeliveryPolicy {
                max_attempts: delivery.max_attempts,
                backoff: Backoff {
                    base: Duration::from_millis(delivery.backoff_base_ms),
                    max: Duration::from_millis(delivery.backoff_max_ms),
                },
                retry_after_max: Duration::from_millis(delivery.retry_after_max_ms),
                attempt_timeout,
            },
            keywords: KeywordVocabulary::new(&delivery.keywords),
            fallback_content: delivery.fallback_content.clone(),
            request_timeout: settings.request_timeout(),
            limits: ValidationLimits {
                max_content_chars: delivery.max_content_chars,
            },
            store_content: settings.store.store_content,
        };
        let router = routes::router(Arc::new(service), settings.server.max_body_bytes);
        Ok(Self {
            listener,
            router,
            correlation,
            sandbox,
            shutdown_grace: Duration::from_millis(settings.server.shutdown_grace_ms),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// Serves until `shutdown` resolves, then stops accepting, gives in-flight requests up to
    /// the grace period, drains correlation work and stops the sandbox tenant.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            correlation,
            sandbox,
            shutdown_grace,
        } = self;
        tracing::info!(addr = %listener.local_addr()?, "listening");
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(listener, router).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; finishing in-flight requests");
            let _ = stopping_tx.send(());
        });
        let grace_expired = async move {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(shutdown_grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = server => result.context("server failed")?,
            () = grace_expired => tracing::warn!(
                grace_ms = shutdown_grace.as_millis() as u64,
                "in-flight requests did not finish within the grace period; closing them"
            ),
        }
        correlation.shutdown().await;
        if let Some(sandbox) = sandbox {
            sandbox.stop().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Starts the embedded fake tenant and points the settings at it.
async fn start_sandbox(settings: &mut Settings) -> anyhow::Result<FakeTenant> {
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
