//! Service settings: defaults built into the binary, then a TOML file, then environment
//! variables. Everything is validated before a socket is bound.

mod admission;
mod credentials;
mod cxone;
mod env;
mod ledger;
mod load;
mod tenant;
mod validate;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use secrecy::SecretString;
use serde::Deserialize;

use crate::fake_tenant::FakeTenantSettings;

pub use admission::{EligibilitySettings, RateLimitBackend, RateLimitSettings};
pub use cxone::{CxoneDelivery, CxoneSettings, TenantApi};
pub use ledger::{Acknowledge, CorrelationSettings, StoreSettings};
pub use load::{load, ConfigError, LoadOptions};
pub use tenant::{DeliverySettings, TenantSettings, UiSettings};

/// The whole configuration. Each table maps to one concern of the service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Inbound HTTP server.
    pub server: ServerSettings,
    /// Who may call the service.
    pub auth: AuthSettings,
    /// Prometheus metrics.
    pub metrics: MetricsSettings,
    /// Failing fast while the tenant is down.
    pub breaker: BreakerSettings,
    /// The CXone tenant prompts are delivered to, and how to authenticate with it.
    pub tenant: TenantSettings,
    /// Retry, fallback and payload rules for delivering a prompt.
    pub delivery: DeliverySettings,
    /// Local rate limit applied before delivery.
    pub rate_limit: RateLimitSettings,
    /// Which agents and interactions may receive prompts.
    pub eligibility: EligibilitySettings,
    /// Background correlation of delivered prompts with interaction transcripts.
    pub correlation: CorrelationSettings,
    /// Where delivery records are kept. The table may also be written `[ledger]`, the name
    /// the ledger goes by elsewhere (e.g. `ledger.store_content`); giving both is an error.
    #[serde(alias = "ledger")]
    pub store: StoreSettings,
    /// Log output.
    pub log: LogSettings,
    /// OpenTelemetry trace export; off unless an endpoint is set.
    pub otlp: OtlpSettings,
    /// The embedded fake tenant used by `--sandbox`.
    pub sandbox: SandboxSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address the HTTP server binds (`LISTEN_ADDR`).
    pub listen_addr: SocketAddr,
    /// Deadline for one `/simulate-prompt` request, retries and fallback included
    /// (`REQUEST_TIMEOUT_MS`).
    pub request_timeout_ms: u64,
    /// Largest accepted request body, in bytes; larger bodies get 413.
    pub max_body_bytes: usize,
    /// How long shutdown waits for in-flight requests before closing them.
    pub shutdown_grace_ms: u64,
    /// On SIGTERM, `/readyz` answers 503 at once but new connections are still accepted for
    /// this long, so a load balancer notices before the listener closes.
    pub drain_delay_ms: u64,
    /// Requests handled at once; beyond this the service answers 503 with `Retry-After`
    /// immediately instead of queueing (health and metrics are exempt).
    pub max_in_flight: usize,
    /// A connection that has not sent its request headers within this time is closed.
    pub header_read_timeout_ms: u64,
    /// Bound on a whole request, body upload included; beyond it the answer is 408.
    pub http_timeout_ms: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            request_timeout_ms: 10_000,
            max_body_bytes: 64 * 1024,
            shutdown_grace_ms: 10_000,
            drain_delay_ms: 0,
            max_in_flight: 1024,
            header_read_timeout_ms: 5_000,
            http_timeout_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Accepted inbound API keys (`INBOUND_API_KEYS`, comma-separated). Never read from the
    /// config file; use `api_keys_file` for mounted secrets. None configured: no auth.
    #[serde(skip)]
    pub api_keys: Vec<SecretString>,
    /// File with one API key per line (`INBOUND_API_KEYS_FILE`); blank lines and `#` comments
    /// are ignored.
    pub api_keys_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Path of the Prometheus text endpoint.
    pub path: String,
    /// Serve metrics on this address instead of the main listener (`METRICS_LISTEN_ADDR`),
    /// so they can stay off the public port.
    pub listen_addr: Option<SocketAddr>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            path: "/metrics".into(),
            listen_addr: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerSettings {
    /// Consecutive failed calls to the tenant (5xx, timeouts, connection errors) that open the
    /// breaker. Above one request's worth of attempts (2 legs × 3), so one unlucky request
    /// cannot open it alone.
    pub failure_threshold: u32,
    /// While open, deliveries fail fast for this long; then one probe is let through.
    pub cooldown_ms: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            failure_threshold: 10,
            cooldown_ms: 30_000,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for a log pipeline.
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// `human` or `json` (`LOG_FORMAT`).
    pub format: LogFormat,
    /// A tracing filter such as `info` or `cxone_assist=debug` (`LOG_LEVEL`; `RUST_LOG` wins).
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtlpSettings {
    /// Base URL of an OTLP/HTTP collector (`OTEL_EXPORTER_OTLP_ENDPOINT`, e.g.
    /// `http://otel-collector:4318`); spans go to `{endpoint}/v1/traces`. Unset: no export.
    pub endpoint: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxSettings {
    /// Run against the embedded fake tenant instead of a real one (`--sandbox`).
    pub enabled: bool,
    /// The fake tenant's behaviour: latency, failure and 429 rates (`[sandbox.tenant]`).
    pub tenant: FakeTenantSettings,
}

impl Settings {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.server.request_timeout_ms)
    }
}
