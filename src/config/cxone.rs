//! Which tenant API the service speaks, and the settings of CXone's documented one.

use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

use super::validate::check_tenant_url;

/// The tenant API dialect (`CXONE_API`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantApi {
    /// The Go tutorial's endpoints (`/api/v2/agentassist/prompts`, client-credentials tokens).
    #[default]
    Tutorial,
    /// NICE CXone's documented APIs: access-key password grant, discovery, agent messages or
    /// custom events, active contacts.
    Cxone,
}

/// How a prompt reaches the agent in the `cxone` dialect (`CXONE_DELIVERY`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CxoneDelivery {
    /// An agent message (`POST .../agents/messages`): a pop-up and an entry in the agent's
    /// message panel, withdrawable with `DELETE /prompts/{promptId}`.
    #[default]
    AgentMessage,
    /// A custom event into the agent's event stream (`PUT .../agents/{id}/custom-event`), for
    /// a desktop integration that renders it; not withdrawable.
    CustomEvent,
}

/// The `cxone` dialect's settings (`[tenant.cxone]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CxoneSettings {
    /// The API user's access key id (`CXONE_ACCESS_KEY_ID`), sent as the password grant's
    /// username. Never read from the config file; `access_key_id_file` for mounted secrets.
    #[serde(skip)]
    pub access_key_id: Option<SecretString>,
    /// File holding the access key id (`CXONE_ACCESS_KEY_ID_FILE`).
    pub access_key_id_file: Option<PathBuf>,
    /// The API user's access key secret (`CXONE_ACCESS_KEY_SECRET`), the grant's password.
    #[serde(skip)]
    pub access_key_secret: Option<SecretString>,
    /// File holding the access key secret (`CXONE_ACCESS_KEY_SECRET_FILE`).
    pub access_key_secret_file: Option<PathBuf>,
    /// The OpenID issuer (`CXONE_AUTH_URL`): its discovery document names the token endpoint,
    /// and its CXone discovery document the tenant's API host.
    pub auth_url: String,
    /// The tenant's API host (`CXONE_API_URL`), e.g. `https://api-na1.niceincontact.com`;
    /// unset, it is discovered from the token's `tenantId`.
    pub api_url: Option<String>,
    /// The Admin API version in every call's path (`CXONE_API_VERSION`), e.g. `v34.0`.
    pub api_version: String,
    /// Agent message or custom event (`CXONE_DELIVERY`).
    pub delivery: CxoneDelivery,
    /// The custom event's name (`CXONE_EVENT_NAME`); case-sensitive, and an agent keeps only
    /// the last event of each name.
    pub event_name: String,
}

impl Default for CxoneSettings {
    fn default() -> Self {
        Self {
            access_key_id: None,
            access_key_id_file: None,
            access_key_secret: None,
            access_key_secret_file: None,
            auth_url: "https://cxone.niceincontact.com".into(),
            api_url: None,
            // The newest Admin API version seen on the agent calls (custom-event and the
            // agent-state calls are marked "updated in v34.0").
            api_version: "v34.0".into(),
            delivery: CxoneDelivery::AgentMessage,
            event_name: "AgentAssistPrompt".into(),
        }
    }
}

impl CxoneSettings {
    /// Every problem with these settings, each naming its variable.
    pub(super) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = check_tenant_url(&self.auth_url) {
            problems.push(format!("tenant.cxone.auth_url (CXONE_AUTH_URL) {e}"));
        }
        if let Some(Err(e)) = self.api_url.as_deref().map(check_tenant_url) {
            problems.push(format!("tenant.cxone.api_url (CXONE_API_URL) {e}"));
        }
        let version = self
            .api_version
            .strip_prefix('v')
            .and_then(|v| v.split_once('.'));
        let numeric = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !version.is_some_and(|(major, minor)| numeric(major) && numeric(minor)) {
            problems.push(format!(
                "tenant.cxone.api_version (CXONE_API_VERSION) must look like v34.0, got `{}`",
                self.api_version
            ));
        }
        let name_ok = !self.event_name.is_empty()
            && self.event_name.len() <= 64
            && (self.event_name.bytes())
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            problems.push(format!(
                "tenant.cxone.event_name (CXONE_EVENT_NAME) must be 1 to 64 of A-Z a-z 0-9 _ -, got `{}`",
                self.event_name
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cxone_urls_version_and_event_name_are_checked() {
        assert!(CxoneSettings::default().problems().is_empty());
        let settings = CxoneSettings {
            auth_url: "http://cxone.example.com".into(),
            api_url: Some("http://api.example.com".into()),
            api_version: "34".into(),
            event_name: "Agent Assist".into(),
            ..CxoneSettings::default()
        };
        let problems = settings.problems().join("\n");
        for variable in [
            "CXONE_AUTH_URL",
            "CXONE_API_URL",
            "CXONE_API_VERSION",
            "CXONE_EVENT_NAME",
        ] {
            assert!(problems.contains(variable), "{problems}");
        }
        let loopback = CxoneSettings {
            auth_url: "http://127.0.0.1:9000".into(),
            ..CxoneSettings::default()
        };
        assert!(loopback.problems().is_empty(), "http to a loopback host");
    }
}
