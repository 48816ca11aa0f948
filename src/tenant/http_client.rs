use std::time::Duration;

use crate::config::TenantSettings;

/// The one HTTP client for all upstream calls, built once: connections are pooled and reused.
pub fn build_http_client(settings: &TenantSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(settings.connect_timeout_ms))
        .pool_idle_timeout(Duration::from_millis(settings.pool_idle_timeout_ms))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        // A token endpoint that redirects could forward the client secret elsewhere, and a
        // redirected POST is not what the tenant asked for: follow none.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("cxone-assist/", env!("CARGO_PKG_VERSION")))
        .build()
}
