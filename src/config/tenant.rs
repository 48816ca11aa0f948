//! How the service reaches the tenant and what it sends there.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::{CxoneSettings, TenantApi};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// Which tenant API to speak (`CXONE_API`): `tutorial` (the default) or `cxone`.
    pub api: TenantApi,
    /// The `cxone` dialect's settings (`[tenant.cxone]`).
    pub cxone: CxoneSettings,
    /// Base URL of the tenant (`CXONE_TENANT_URL`), tutorial dialect; https unless the host
    /// is loopback.
    pub url: Option<String>,
    /// OAuth2 token endpoint (`CXONE_TOKEN_URL`); defaults to `{url}/api/v2/oauth/token`.
    pub token_url: Option<String>,
    /// OAuth2 client id (`CXONE_CLIENT_ID`); in the `cxone` dialect, the registered
    /// application's, sent as HTTP Basic with its secret.
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
    /// Most prompt POSTs in flight to the tenant at once, from this process. Each holds one
    /// pooled connection, so this also bounds the connections (and their buffers) that a
    /// burst of deliveries opens; a delivery past it waits for a slot within its deadline.
    /// 32 is 320 prompts/s per process against a tenant answering in 100 ms.
    pub max_concurrent_posts: usize,
    /// Tokens are refreshed this long before `expires_in` runs out...
    pub token_refresh_skew_secs: u64,
    /// ...but never more than this fraction of the token's lifetime, so short-lived tokens
    /// are still reused.
    pub token_refresh_skew_max_fraction: f64,
}

impl Default for TenantSettings {
    fn default() -> Self {
        Self {
            api: TenantApi::Tutorial,
            cxone: CxoneSettings::default(),
            url: None,
            token_url: None,
            client_id: None,
            client_secret: None,
            client_secret_file: None,
            scope: "agentassist:prompt:write interactions:read users:read".into(),
            connect_timeout_ms: 2_000,
            attempt_timeout_ms: 3_000,
            pool_idle_timeout_ms: 50_000,
            max_concurrent_posts: 32,
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
