//! `Application`: builds every component from settings, binds its listeners, and serves until
//! a shutdown future resolves.

mod serve;
mod tenant_setup;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{net::TcpListener, sync::Semaphore};
use tokio_util::sync::CancellationToken;

use crate::{
    circuit_breaker::CircuitBreaker,
    clock::{Clock, SystemClock},
    config::Settings,
    correlation::{self, CorrelationWorker},
    delivery::{Deliverer, DeliveryPolicy},
    domain::ValidationLimits,
    eligibility::EligibilityPolicy,
    fake_tenant::FakeTenant,
    keywords::KeywordVocabulary,
    metrics::Metrics,
    middleware::{ApiKeys, InFlightLimit},
    rate_limit,
    refusals::{self, RefusalCounter},
    retention,
    retry::Backoff,
    routes::{self, App, Health, MetricsSource, RouterParts},
    service::PromptService,
    store::{self, BatchWriter, BatchWriterTask, LedgerOptions},
};
use tenant_setup::{build_tenant, start_sandbox};

pub struct Application {
    listener: TcpListener,
    app: App,
    /// A separate listener for `/metrics`, when configured.
    metrics: Option<(TcpListener, App)>,
    correlation: CorrelationWorker,
    ledger_writer: BatchWriterTask,
    sandbox: Option<FakeTenant>,
    retention: Option<tokio::task::JoinHandle<()>>,
    refusals_flusher: refusals::RefusalFlusher,
    /// Bound on each of the ledger's last steps at shutdown (`correlation.drain_timeout_ms`).
    ledger_drain_timeout: Duration,
    metrics_registry: Arc<Metrics>,
    /// Deliveries detached from their requests.
    deliveries: tokio_util::task::TaskTracker,
    /// Cancelled when shutdown begins; readiness and the retention task read it.
    stopping: CancellationToken,
    header_read_timeout: Duration,
    shutdown_grace: Duration,
    drain_delay: Duration,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with the clock used for token expiry, the rate limit and
    /// the circuit breaker.
    pub async fn build_with_clock(
        mut settings: Settings,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let sandbox = if settings.sandbox.enabled {
            Some(start_sandbox(&mut settings).await?)
        } else {
            None
        };
        let metrics = Arc::new(Metrics::new());
        let breaker = Arc::new(CircuitBreaker::new(
            settings.breaker.failure_threshold,
            Duration::from_millis(settings.breaker.cooldown_ms),
            clock.clone(),
        ));
        let tenant = build_tenant(&settings, clock.clone(), metrics.clone(), breaker.clone())?;
        let attempt_timeout = Duration::from_millis(settings.tenant.attempt_timeout_ms);
        let store = store::connect(
            &settings.store.database_url,
            &LedgerOptions {
                max_connections: settings.store.max_connections,
                ..Default::default()
            },
        )
        .await
        .context("cannot open the prompt ledger")?;
        tracing::info!(database = %store::redact(&settings.store.database_url), "prompt ledger open");
        // Bound only once everything that can fail has been checked and opened: a load
        // balancer sees no port until the service can answer on it.
        let listener = bind(settings.server.listen_addr).await?;
        let metrics_listener = match settings.metrics.listen_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let (ledger, ledger_writer) = BatchWriter::spawn(store.clone());
        let ledger_health = ledger.health();
        let (correlation_queue, correlation) = correlation::spawn(
            &settings.correlation,
            tenant.clone(),
            store.clone(),
            ledger.clone(),
            attempt_timeout,
            metrics.clone(),
        );
        let limiter = rate_limit::from_settings(&settings.rate_limit, clock);
        let refusals = Arc::new(RefusalCounter::default());
        let deliveries = tokio_util::task::TaskTracker::new();
        let delivery = &settings.delivery;
        let deliverer = Deliverer {
            tenant: tenant.clone(),
            policy: DeliveryPolicy {
                max_attempts: delivery.max_attempts,
                backoff: Backoff {
                    base: Duration::from_millis(delivery.backoff_base_ms),
                    max: Duration::from_millis(delivery.backoff_max_ms),
                },
                retry_after_max: Duration::from_millis(delivery.retry_after_max_ms),
                attempt_timeout,
            },
            breaker: breaker.clone(),
            cooldown: Default::default(),
            posts: tokio::sync::Semaphore::new(settings.tenant.max_concurrent_posts),
            metrics: metrics.clone(),
        };
        let service = PromptService {
            eligibility: EligibilityPolicy::new(&settings.eligibility),
            limiter: limiter.clone(),
            deliverer,
            store: store.clone(),
            ledger,
            refusals: refusals.clone(),
            tasks: deliveries.clone(),
            correlation: correlation_queue,
            correlation_give_up: Duration::from_millis(settings.correlation.give_up_after_ms),
            metrics: metrics.clone(),
            keywords: KeywordVocabulary::new(&delivery.keywords),
            fallback_content: delivery.fallback_content.clone(),
            request_timeout: settings.request_timeout(),
            limits: ValidationLimits {
                max_content_chars: delivery.max_content_chars,
            },
            store_content: settings.store.store_content,
            acknowledge: settings.store.acknowledge,
            retractions: tokio::sync::Mutex::new(()),
            idempotency_window_secs: settings.store.idempotency_window_secs,
            pending_writes: crate::service::pending_writes(),
            unsettled: Default::default(),
        };

        let api_keys = ApiKeys::new(&settings.auth.api_keys);
        announce_auth(&api_keys, settings.sandbox.enabled);
        let stopping = CancellationToken::new();
        let refusals_flusher =
            refusals::spawn_flusher(refusals, store.clone(), Duration::from_secs(1));
        let retention = retention::spawn(
            store.clone(),
            settings.store.retention_days,
            Duration::from_secs(settings.store.prune_interval_secs),
            stopping.clone(),
        );
        let source = MetricsSource {
            metrics: metrics.clone(),
            limiter,
            store: store.clone(),
            breaker: breaker.clone(),
        };
        let metrics_path = settings.metrics.path.clone();
        let metrics_registry = metrics.clone();
        let app = routes::app(RouterParts {
            service: Arc::new(service),
            health: Health {
                stopping: stopping.clone(),
                tenant,
                store,
                ledger: ledger_health,
                breaker,
            },
            api_keys,
            in_flight: InFlightLimit {
                permits: Arc::new(Semaphore::new(settings.server.max_in_flight)),
                http_timeout: Duration::from_millis(settings.server.http_timeout_ms),
                metrics: metrics.clone(),
            },
            metrics,
            metrics_route: metrics_listener
                .is_none()
                .then(|| (metrics_path.clone(), source.clone())),
            max_body_bytes: settings.server.max_body_bytes,
        });
        let metrics = metrics_listener.map(|l| (l, routes::metrics_app(&metrics_path, source)));
        Ok(Self {
            listener,
            app,
            metrics,
            correlation,
            ledger_writer,
            sandbox,
            retention,
            refusals_flusher,
            ledger_drain_timeout: Duration::from_millis(settings.correlation.drain_timeout_ms),
            metrics_registry,
            deliveries,
            stopping,
            header_read_timeout: Duration::from_millis(settings.server.header_read_timeout_ms),
            shutdown_grace: Duration::from_millis(settings.server.shutdown_grace_ms),
            drain_delay: Duration::from_millis(settings.server.drain_delay_ms),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound TCP listener has a local address")
    }

    /// The separate metrics listener's address, when one is configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

fn announce_auth(keys: &ApiKeys, sandbox: bool) {
    if keys.is_enabled() {
        tracing::info!("inbound auth on: requests need Authorization: Bearer <key>");
    } else if sandbox {
        tracing::warn!("inbound auth off (sandbox): set INBOUND_API_KEYS to require a key");
    } else {
        tracing::warn!(
            "INBOUND AUTH IS OFF: anyone who can reach this port can put text on agents' \
             screens. Set INBOUND_API_KEYS (or INBOUND_API_KEYS_FILE)."
        );
    }
}
