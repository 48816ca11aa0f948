//! Service settings: defaults built into the binary, then a TOML file, then environment
//! variables. Everything is validated before a socket is bound.

mod env;
mod load;
mod validate;

use std::{collections::BTreeMap, net::SocketAddr, path::PathBuf, time::Duration};

use secrecy::SecretString;
use serde::Deserialize;

use crate::fake_tenant::FakeTenantSettings;

pub use load::{load, ConfigError, LoadOptions};

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

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// Base URL of the tenant (`CXONE_TENANT_URL`); https unless the host is loopback.
    pub url: Option<String>,
    /// OAuth2 token endpoint (`CXONE_TOKEN_URL`); defaults to `{url}/api/v2/oauth/token`.
    pub token_url: Option<String>,
    /// OAuth2 client id (`CXONE_CLIENT_ID`).
    pub client_id: Option<String>,
    /// OAuth2 client secret (`CXONE_CLIENT_SECRET`). Never read from the config file, so the
    /// file can be committed; use `client_secret_file` for mounted secrets.
    #[serde(skip)]
    pub client_secret: Option<SecretString>,
    /// File holding the client secret (`CXONE_CLIENT_SECRET_FILE`); one trailing newline is
    /// trimmed.
    pub client_secret_file: Option<PathBuf>,
    /// Scopes requested with every token.
    pub scope: String,
    /// Bound on establishing a TCP+TLS connection to the tenant.
    pub connect_timeout_ms: u64,
    /// Bound on one upstream call; a call also never outlives the request deadline.
    pub attempt_timeout_ms: u64,
    /// Idle pooled connections are closed after this; kept below the 60 s keep-alive common
    /// on load balancers so a connection is never reused just as the far end closes it.
    pub pool_idle_timeout_ms: u64,
    /// Tokens are refreshed this long before `expires_in` runs out...
    pub token_refresh_skew_secs: u64,
    /// ...but never more than this fraction of the token's lifetime, so short-lived tokens
    /// are still reused.
    pub token_refresh_skew_max_fraction: f64,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            url: None,
            token_url: None,
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            scope: "agentassist:prompt:write interactions:read users:read".into(),
            connect_timeout_ms: 2_000,
            attempt_timeout_ms: 3_000,
            pool_idle_timeout_ms: 50_000,
            token_refresh_skew_secs: 100,
            token_refresh_skew_max_fraction: 0.1,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    /// POSTs per leg (primary, then fallback); a 429 retry counts as one.
    pub max_attempts: u32,
    /// First backoff after a transient failure; doubles on each retry, jittered by ±20%.
    pub backoff_base_ms: u64,
    /// Ceiling for one backoff.
    pub backoff_max_ms: u64,
    /// Ceiling for a wait asked for by the tenant's `Retry-After`.
    pub retry_after_max_ms: u64,
    /// Content of the fallback prompt sent when the primary cannot be delivered.
    pub fallback_content: String,
    /// Longest accepted prompt content, in characters.
    pub max_content_chars: usize,
    /// Words looked for in the content when the caller sends no `keywords`.
    pub keywords: Vec<String>,
    /// How the agent desktop renders the prompt.
    pub ui: UiSettings,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff_base_ms: 100,
            backoff_max_ms: 2_000,
            retry_after_max_ms: 30_000,
            fallback_content: "Please verify account details before proceeding.".into(),
            max_content_chars: 2_000,
            keywords: [
                "escalation",
                "refund",
                "delay",
                "cancel",
                "complaint",
                "return",
                "loyalty",
                "credit",
                "billing",
                "fraud",
                "outage",
                "supervisor",
            ]
            .map(String::from)
            .to_vec(),
            ui: UiSettings::default(),
        }
    }
}

/// The tutorial's `uiConfig`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiSettings {
    /// `CARD`, `INLINE` or `SIDEBAR`.
    pub component_type: String,
    /// `TOP`, `BOTTOM` or `INLINE`.
    pub position: String,
    /// How long the prompt stays on the agent's screen.
    pub timeout_ms: u64,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            component_type: "CARD".into(),
            position: "BOTTOM".into(),
            timeout_ms: 15_000,
        }
    }
}

/// Where the rate limit's state lives. Only the in-process bucket exists today; a shared
/// backend for several replicas plugs in here.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitBackend {
    /// One token bucket per process.
    #[default]
    Memory,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Which implementation holds the bucket.
    pub backend: RateLimitBackend,
    /// Prompts allowed at once after a quiet period (`RATE_LIMIT_BURST`).
    pub burst: u32,
    /// Sustained prompts per second (`RATE_LIMIT_PER_SECOND`).
    pub per_second: f64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            backend: RateLimitBackend::Memory,
            burst: 10,
            per_second: 2.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EligibilitySettings {
    /// Interactions with a lower sentiment get no prompt (`ELIGIBILITY_MIN_SENTIMENT`).
    pub min_sentiment: f64,
    /// Skills an agent must all have (`ELIGIBILITY_REQUIRED_SKILLS`, comma-separated).
    pub required_skills: Vec<String>,
    /// Skills of any agent not listed in `agents`.
    pub default_skills: Vec<String>,
    /// Per-agent skill lists, replacing `default_skills` for that agent.
    pub agents: BTreeMap<String, Vec<String>>,
}

impl Default for EligibilitySettings {
    fn default() -> Self {
        Self {
            min_sentiment: -0.3,
            required_skills: vec!["billing".into()],
            default_skills: ["billing", "technical_support", "escalation"]
                .map(String::from)
                .to_vec(),
            agents: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorrelationSettings {
    /// Transcript look-ups running at once in this process.
    pub workers: usize,
    /// A job gives up when no transcript appeared within this time.
    pub give_up_after_ms: u64,
    /// First wait between transcript look-ups; doubles up to `backoff_max_ms`.
    pub backoff_base_ms: u64,
    /// Ceiling for one wait between look-ups.
    pub backoff_max_ms: u64,
    /// On shutdown, running look-ups get this long to finish; jobs left stay in the ledger.
    pub drain_timeout_ms: u64,
    /// A worker's hold on a job; a job held by a dead replica is taken over after this.
    pub lease_ms: u64,
    /// How often the ledger is checked for due jobs (new deliveries wake the worker at once).
    pub poll_interval_ms: u64,
}

impl Default for CorrelationSettings {
    fn default() -> Self {
        Self {
            workers: 32,
            give_up_after_ms: 60_000,
            backoff_base_ms: 250,
            backoff_max_ms: 5_000,
            drain_timeout_ms: 5_000,
            lease_ms: 30_000,
            poll_interval_ms: 250,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// The ledger (`DATABASE_URL`): `sqlite://path` (one replica; created on first start) or
    /// `postgres://...` (several replicas sharing records and the correlation queue).
    pub database_url: String,
    /// Connections in the ledger's pool.
    pub max_connections: u32,
    /// Records older than this many days are deleted by a background task; 0 keeps them.
    pub retention_days: u32,
    /// How often the retention task runs.
    pub prune_interval_secs: u64,
    /// A repeated `Idempotency-Key` replays the first answer within this window.
    pub idempotency_window_secs: u64,
    /// Keep prompt content in records; `false` keeps only its SHA-256, for privacy.
    pub store_content: bool,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            database_url: crate::store::DEFAULT_DATABASE_URL.into(),
            max_connections: 5,
            retention_days: 90,
            prune_interval_secs: 3_600,
            idempotency_window_secs: 86_400,
            store_content: true,
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
