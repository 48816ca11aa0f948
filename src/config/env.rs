//! The environment layer: a fixed table of variable names, each applied to one setting.

use std::{collections::HashMap, fmt::Display, str::FromStr};

use secrecy::SecretString;

use super::{Acknowledge, CxoneDelivery, LogFormat, Settings, TenantApi};

type Apply = fn(&mut Settings, &str) -> Result<(), String>;

/// Every environment variable the service reads, in the order they are applied.
pub(super) const VARIABLES: &[(&str, Apply)] = &[
    ("LISTEN_ADDR", |s, v| set(&mut s.server.listen_addr, v)),
    ("REQUEST_TIMEOUT_MS", |s, v| {
        set(&mut s.server.request_timeout_ms, v)
    }),
    ("RATE_LIMIT_BURST", |s, v| set(&mut s.rate_limit.burst, v)),
    ("RATE_LIMIT_PER_SECOND", |s, v| {
        set(&mut s.rate_limit.per_second, v)
    }),
    ("ELIGIBILITY_MIN_SENTIMENT", |s, v| {
        set(&mut s.eligibility.min_sentiment, v)
    }),
    ("ELIGIBILITY_REQUIRED_SKILLS", |s, v| {
        s.eligibility.required_skills = comma_list(v);
        Ok(())
    }),
    ("CXONE_TENANT_URL", |s, v| {
        s.tenant.url = Some(v.trim().to_owned());
        Ok(())
    }),
    ("CXONE_TOKEN_URL", |s, v| {
        s.tenant.token_url = Some(v.trim().to_owned());
        Ok(())
    }),
    ("CXONE_CLIENT_ID", |s, v| {
        s.tenant.client_id = Some(v.trim().to_owned());
        Ok(())
    }),
    ("CXONE_CLIENT_SECRET", |s, v| {
        s.tenant.client_secret = Some(SecretString::from(v.to_owned()));
        Ok(())
    }),
    ("CXONE_CLIENT_SECRET_FILE", |s, v| {
        s.tenant.client_secret_file = Some(v.into());
        Ok(())
    }),
    ("CXONE_API", |s, v| {
        s.tenant.api = match v.trim() {
            "tutorial" => TenantApi::Tutorial,
            "cxone" => TenantApi::Cxone,
            other => return Err(format!("expected `tutorial` or `cxone`, got `{other}`")),
        };
        Ok(())
    }),
    ("CXONE_ACCESS_KEY_ID", |s, v| {
        s.tenant.cxone.access_key_id = Some(SecretString::from(v.trim().to_owned()));
        Ok(())
    }),
    ("CXONE_ACCESS_KEY_ID_FILE", |s, v| {
        s.tenant.cxone.access_key_id_file = Some(v.into());
        Ok(())
    }),
    ("CXONE_ACCESS_KEY_SECRET", |s, v| {
        s.tenant.cxone.access_key_secret = Some(SecretString::from(v.to_owned()));
        Ok(())
    }),
    ("CXONE_ACCESS_KEY_SECRET_FILE", |s, v| {
        s.tenant.cxone.access_key_secret_file = Some(v.into());
        Ok(())
    }),
    ("CXONE_AUTH_URL", |s, v| {
        s.tenant.cxone.auth_url = v.trim().to_owned();
        Ok(())
    }),
    ("CXONE_API_URL", |s, v| {
        s.tenant.cxone.api_url = Some(v.trim().to_owned());
        Ok(())
    }),
    ("CXONE_API_VERSION", |s, v| {
        s.tenant.cxone.api_version = v.trim().to_owned();
        Ok(())
    }),
    ("CXONE_DELIVERY", |s, v| {
        s.tenant.cxone.delivery = match v.trim() {
            "agent_message" => CxoneDelivery::AgentMessage,
            "custom_event" => CxoneDelivery::CustomEvent,
            other => {
                return Err(format!(
                    "expected `agent_message` or `custom_event`, got `{other}`"
                ))
            }
        };
        Ok(())
    }),
    ("CXONE_EVENT_NAME", |s, v| {
        s.tenant.cxone.event_name = v.trim().to_owned();
        Ok(())
    }),
    ("INBOUND_API_KEYS", |s, v| {
        s.auth.api_keys = comma_list(v).into_iter().map(SecretString::from).collect();
        Ok(())
    }),
    ("INBOUND_API_KEYS_FILE", |s, v| {
        s.auth.api_keys_file = Some(v.into());
        Ok(())
    }),
    ("METRICS_LISTEN_ADDR", |s, v| {
        let mut addr = s.server.listen_addr;
        set(&mut addr, v)?;
        s.metrics.listen_addr = Some(addr);
        Ok(())
    }),
    ("SHUTDOWN_DRAIN_DELAY_MS", |s, v| {
        set(&mut s.server.drain_delay_ms, v)
    }),
    ("DATABASE_URL", |s, v| {
        s.store.database_url = v.trim().to_owned();
        Ok(())
    }),
    ("LEDGER_ACKNOWLEDGE", |s, v| {
        s.store.acknowledge = match v.trim() {
            "committed" => Acknowledge::Committed,
            "queued" => Acknowledge::Queued,
            other => return Err(format!("expected `committed` or `queued`, got `{other}`")),
        };
        Ok(())
    }),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", |s, v| {
        s.otlp.endpoint = Some(v.trim().to_owned());
        Ok(())
    }),
    ("LOG_FORMAT", |s, v| {
        s.log.format = match v.trim() {
            "human" => LogFormat::Human,
            "json" => LogFormat::Json,
            other => return Err(format!("expected `human` or `json`, got `{other}`")),
        };
        Ok(())
    }),
    ("LOG_LEVEL", |s, v| {
        s.log.level = v.trim().to_owned();
        Ok(())
    }),
];

/// Applies every variable present in `env`; an empty value counts as unset, as in the
/// tutorial, so `FOO= cxone-assist` does not override a file setting with nothing.
pub(super) fn apply(settings: &mut Settings, env: &HashMap<String, String>) -> Result<(), String> {
    for (name, apply) in VARIABLES {
        if let Some(value) = env.get(*name).filter(|v| !v.trim().is_empty()) {
            apply(settings, value).map_err(|e| format!("invalid {name}: {e}"))?;
        }
    }
    Ok(())
}

fn set<T: FromStr>(slot: &mut T, value: &str) -> Result<(), String>
where
    T::Err: Display,
{
    *slot = value
        .trim()
        .parse()
        .map_err(|e| format!("`{}`: {e}", value.trim()))?;
    Ok(())
}

fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn applies_fixed_names_over_defaults() {
        let mut s = Settings::default();
        apply(
            &mut s,
            &env(&[
                ("LISTEN_ADDR", "127.0.0.1:9000"),
                ("RATE_LIMIT_BURST", "25"),
                ("RATE_LIMIT_PER_SECOND", "7.5"),
                ("ELIGIBILITY_MIN_SENTIMENT", "-0.8"),
                ("ELIGIBILITY_REQUIRED_SKILLS", "billing, fraud,,"),
                ("REQUEST_TIMEOUT_MS", "2500"),
                ("LEDGER_ACKNOWLEDGE", "queued"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.listen_addr.to_string(), "127.0.0.1:9000");
        assert_eq!(s.rate_limit.burst, 25);
        assert_eq!(s.rate_limit.per_second, 7.5);
        assert_eq!(s.eligibility.min_sentiment, -0.8);
        assert_eq!(s.eligibility.required_skills, ["billing", "fraud"]);
        assert_eq!(s.server.request_timeout_ms, 2500);
        assert_eq!(s.store.acknowledge, Acknowledge::Queued);
    }

    #[test]
    fn names_the_variable_with_a_bad_value() {
        let err = apply(
            &mut Settings::default(),
            &env(&[("RATE_LIMIT_BURST", "lots")]),
        )
        .unwrap_err();
        assert!(err.starts_with("invalid RATE_LIMIT_BURST: `lots`"), "{err}");
        let err = apply(
            &mut Settings::default(),
            &env(&[("LEDGER_ACKNOWLEDGE", "later")]),
        )
        .unwrap_err();
        assert!(err.starts_with("invalid LEDGER_ACKNOWLEDGE:"), "{err}");
        assert!(err.contains("`committed` or `queued`"), "{err}");
    }
}
