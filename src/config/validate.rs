//! Checks run on the merged settings before anything binds a socket.

use secrecy::ExposeSecret;

use super::Settings;

/// Returns every problem at once, each naming the setting (and its variable, where it has one).
pub(super) fn validate(s: &Settings) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();
    let mut check = |ok: bool, message: String| {
        if !ok {
            errors.push(message);
        }
    };

    if !s.sandbox.enabled {
        if let Some(url) = &s.tenant.url {
            if let Err(e) = check_tenant_url(url) {
                check(false, format!("tenant.url (CXONE_TENANT_URL) {e}"));
            }
        }
        if let Some(url) = &s.tenant.token_url {
            if let Err(e) = check_tenant_url(url) {
                check(false, format!("tenant.token_url (CXONE_TOKEN_URL) {e}"));
            }
        }
        if s.tenant.api == super::TenantApi::Cxone {
            s.tenant
                .cxone
                .problems()
                .into_iter()
                .for_each(|p| check(false, p));
        }
    }
    let t = &s.server.request_timeout_ms;
    check(
        (100..=600_000).contains(t),
        format!("server.request_timeout_ms (REQUEST_TIMEOUT_MS) must be 100..=600000, got {t}"),
    );
    check(
        s.server.max_body_bytes >= 1024,
        format!(
            "server.max_body_bytes must be at least 1024, got {}",
            s.server.max_body_bytes
        ),
    );
    check(
        s.server.max_in_flight >= 1,
        "server.max_in_flight must be at least 1".into(),
    );
    check(
        s.server.header_read_timeout_ms >= 1
            && s.server.http_timeout_ms > s.server.request_timeout_ms,
        "server.header_read_timeout_ms must be at least 1 and server.http_timeout_ms above \
         server.request_timeout_ms"
            .into(),
    );
    check(
        s.metrics.path.starts_with('/') && s.metrics.path.len() > 1,
        format!(
            "metrics.path must start with / and name a path, got `{}`",
            s.metrics.path
        ),
    );
    check(
        s.breaker.failure_threshold >= 1 && (1..=86_400_000).contains(&s.breaker.cooldown_ms),
        "breaker.failure_threshold must be at least 1 and breaker.cooldown_ms 1..=86400000".into(),
    );
    check(
        s.store.retention_days <= 36_500 && s.store.prune_interval_secs >= 1,
        "store.retention_days must be at most 36500 and store.prune_interval_secs at least 1"
            .into(),
    );
    let api_routes = [
        "/simulate-prompt",
        "/prompts",
        "/stats",
        "/healthz",
        "/readyz",
        "/openapi.json",
    ];
    check(
        !api_routes.contains(&s.metrics.path.as_str()) && !s.metrics.path.starts_with("/prompts/"),
        format!(
            "metrics.path `{}` collides with an API route",
            s.metrics.path
        ),
    );
    check(
        s.auth
            .api_keys
            .iter()
            .all(|k| k.expose_secret().len() >= 16),
        "every inbound API key (INBOUND_API_KEYS) must be at least 16 characters".into(),
    );
    check(
        s.rate_limit.burst >= 1,
        "rate_limit.burst (RATE_LIMIT_BURST) must be at least 1, got 0".to_string(),
    );
    let rate = s.rate_limit.per_second;
    check(
        rate.is_finite() && rate > 0.0,
        format!("rate_limit.per_second (RATE_LIMIT_PER_SECOND) must be above 0, got {rate}"),
    );
    let min = s.eligibility.min_sentiment;
    check(
        (-1.0..=1.0).contains(&min),
        format!(
            "eligibility.min_sentiment (ELIGIBILITY_MIN_SENTIMENT) must be in -1..=1, got {min}"
        ),
    );
    check(
        (1..=10).contains(&s.delivery.max_attempts),
        format!(
            "delivery.max_attempts must be 1..=10, got {}",
            s.delivery.max_attempts
        ),
    );
    check(
        s.delivery.backoff_base_ms >= 1 && s.delivery.backoff_max_ms >= s.delivery.backoff_base_ms,
        "delivery.backoff_base_ms must be at least 1 and at most delivery.backoff_max_ms".into(),
    );
    // Waits longer than the request deadline (at most 10 min) can never be taken; bounding
    // them keeps the deadline arithmetic far from overflow.
    check(
        s.delivery.backoff_max_ms <= 600_000 && s.delivery.retry_after_max_ms <= 600_000,
        "delivery.backoff_max_ms and delivery.retry_after_max_ms must be at most 600000".into(),
    );
    check(
        !s.delivery.fallback_content.trim().is_empty(),
        "delivery.fallback_content must not be empty".into(),
    );
    let ui = &s.delivery.ui;
    check(
        ["CARD", "INLINE", "SIDEBAR"].contains(&ui.component_type.as_str()),
        format!(
            "delivery.ui.component_type must be CARD, INLINE or SIDEBAR, got {:?}",
            ui.component_type
        ),
    );
    check(
        ["TOP", "BOTTOM", "INLINE"].contains(&ui.position.as_str()),
        format!(
            "delivery.ui.position must be TOP, BOTTOM or INLINE, got {:?}",
            ui.position
        ),
    );
    check(
        ui.timeout_ms >= 1,
        "delivery.ui.timeout_ms must be at least 1".into(),
    );
    check(
        s.delivery.max_content_chars >= 1,
        "delivery.max_content_chars must be at least 1".into(),
    );
    let fraction = s.tenant.token_refresh_skew_max_fraction;
    check(
        (0.0..0.9).contains(&fraction),
        format!("tenant.token_refresh_skew_max_fraction must be in 0..0.9, got {fraction}"),
    );
    check(
        s.tenant.attempt_timeout_ms >= 1 && s.tenant.connect_timeout_ms >= 1,
        "tenant.attempt_timeout_ms and tenant.connect_timeout_ms must be at least 1".into(),
    );
    check(
        (1..=tokio::sync::Semaphore::MAX_PERMITS).contains(&s.tenant.max_concurrent_posts),
        format!(
            "tenant.max_concurrent_posts must be between 1 and {}",
            tokio::sync::Semaphore::MAX_PERMITS
        ),
    );
    check(
        s.correlation.workers >= 1
            && s.correlation.poll_interval_ms >= 1
            && s.correlation.lease_ms > s.tenant.attempt_timeout_ms,
        "correlation.workers and correlation.poll_interval_ms must be at least 1, and \
         correlation.lease_ms above tenant.attempt_timeout_ms"
            .into(),
    );
    check(
        s.correlation.backoff_base_ms >= 1
            && s.correlation.backoff_max_ms >= s.correlation.backoff_base_ms,
        "correlation.backoff_base_ms must be at least 1 and at most correlation.backoff_max_ms"
            .into(),
    );
    check(
        s.store.max_connections >= 1 && s.store.idempotency_window_secs >= 1,
        "store.max_connections and store.idempotency_window_secs must be at least 1".into(),
    );
    check(
        ["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| s.store.database_url.starts_with(scheme)),
        format!(
            "store.database_url (DATABASE_URL) must start with sqlite: or postgres://, got {}",
            crate::store::redact(&s.store.database_url)
        ),
    );
    check(
        s.eligibility
            .required_skills
            .iter()
            .all(|k| !k.trim().is_empty()),
        "eligibility.required_skills must not contain empty names".into(),
    );
    check(
        tracing_subscriber::EnvFilter::try_new(&s.log.level).is_ok(),
        format!(
            "log.level (LOG_LEVEL) is not a valid filter: `{}`",
            s.log.level
        ),
    );
    let fake = &s.sandbox.tenant;
    check(
        (0.0..=1.0).contains(&fake.failure_rate) && (0.0..=1.0).contains(&fake.rate_limited_rate),
        "sandbox.tenant.failure_rate and rate_limited_rate must be in 0..=1".into(),
    );
    check(
        fake.faults.rates_valid(),
        "sandbox.tenant.faults: every rate must be in 0..=1 and the prompt rates add up to at most 1"
            .into(),
    );

    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Credentials must not cross the network in clear text; plain http is allowed only to a
/// loopback host (tests, the sandbox, a local proxy).
pub(super) fn check_tenant_url(raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("is not a URL ({e}): `{raw}`"))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(format!("has no host: `{raw}`")),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!(
            "must be https (http only for a loopback host), got `{raw}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_url_must_be_https_unless_loopback() {
        assert!(check_tenant_url("https://tenant.example.com").is_ok());
        assert!(check_tenant_url("http://127.0.0.1:9000").is_ok());
        assert!(check_tenant_url("http://localhost:9000").is_ok());
        assert!(check_tenant_url("http://[::1]:9000").is_ok());
        assert!(check_tenant_url("http://tenant.example.com").is_err());
        assert!(check_tenant_url("ftp://127.0.0.1").is_err());
        assert!(check_tenant_url("not a url").is_err());
    }

    #[test]
    fn reports_every_bad_setting_by_name() {
        let mut s = Settings::default();
        s.sandbox.enabled = true;
        s.rate_limit.burst = 0;
        s.delivery.retry_after_max_ms = u64::MAX;
        s.rate_limit.per_second = -1.0;
        s.eligibility.min_sentiment = 3.0;
        s.tenant.max_concurrent_posts = 0;
        let errors = validate(&s).unwrap_err();
        let all = errors.join("\n");
        assert_eq!(errors.len(), 5, "{all}");
        assert!(all.contains("tenant.max_concurrent_posts"));
        assert!(all.contains("delivery.retry_after_max_ms"));
        assert!(all.contains("RATE_LIMIT_BURST"));
        assert!(all.contains("RATE_LIMIT_PER_SECOND"));
        assert!(all.contains("ELIGIBILITY_MIN_SENTIMENT"));
    }

    #[test]
    fn ui_config_must_be_one_the_tenant_renders() {
        let mut s = Settings::default();
        s.sandbox.enabled = true;
        s.delivery.ui.component_type = "card".into();
        s.delivery.ui.position = "LEFT".into();
        let all = validate(&s).unwrap_err().join("\n");
        assert!(all.contains("delivery.ui.component_type"), "{all}");
        assert!(all.contains("delivery.ui.position"), "{all}");
    }

    #[test]
    fn defaults_are_valid() {
        let mut s = Settings::default();
        s.sandbox.enabled = true;
        assert_eq!(validate(&s), Ok(()));
    }
}
