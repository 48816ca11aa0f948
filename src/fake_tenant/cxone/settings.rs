//! Which API the fake tenant speaks, and the identity of the CXone tenant it plays.

/// The API a fake tenant speaks (`sandbox.tenant.dialect`, or `fake-tenant --api`).
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Deserialize,
    serde::Serialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// The tutorial's three calls: client-credentials token, prompt POST, transcript look-up.
    #[default]
    Tutorial,
    /// NICE CXone's own surface: discovery, password-grant token, agent messages, custom
    /// events and active contacts.
    Cxone,
}

/// The CXone tenant the `cxone` dialect plays: its back-end app registration, its API user's
/// access key and its ids (`[sandbox.tenant.cxone]`). Every field is defaulted, so the fake
/// runs without any of them set; a client is then configured with the same defaults.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FakeCxoneSettings {
    /// OAuth2 client id of the back-end app, sent in the token request's Basic header.
    /// Default `sandbox-app`.
    pub client_id: String,
    /// OAuth2 client secret of the back-end app. Default `sandbox-app-secret`.
    pub client_secret: String,
    /// The API user's access key id, the password grant's `username`. Default `SANDBOXKEYID`.
    pub access_key_id: String,
    /// The API user's access key secret, the password grant's `password`. The default,
    /// `c2FuZGJveC1zZWNyZXQ=`, ends in `=` (base64 padding) like real keys, so clients are
    /// exercised with a secret that must be URL-encoded (`%3D`).
    pub access_key_secret: String,
    /// The tenant's id (a UUID): the `tenantId` claim of issued tokens and the one id
    /// `/.well-known/cxone-configuration` knows. Default `11eb0000-5a4d-c0de-8000-000000000001`.
    pub tenant_id: String,
    /// The business unit, the tokens' `icBUId` claim and `businessUnitId` of contact
    /// answers. Default 4607084.
    pub business_unit_id: u64,
    /// How long a contact stays active (listed by `/contacts/active`) after the first
    /// delivery that names it, or after `/_fake/contacts/{id}/start`, seconds. Default 300.
    pub contact_active_secs: u64,
}

impl Default for FakeCxoneSettings {
    fn default() -> Self {
        Self {
            client_id: "sandbox-app".into(),
            client_secret: "sandbox-app-secret".into(),
            access_key_id: "SANDBOXKEYID".into(),
            access_key_secret: "c2FuZGJveC1zZWNyZXQ=".into(),
            tenant_id: "11eb0000-5a4d-c0de-8000-000000000001".into(),
            business_unit_id: 4_607_084,
            contact_active_secs: 300,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_tenant::FakeTenantSettings;

    #[test]
    fn dialect_and_cxone_table_deserialise_with_defaults() {
        let text = "dialect = \"cxone\"\n[cxone]\nbusiness_unit_id = 7\n";
        let settings: FakeTenantSettings = toml::from_str(text).unwrap();
        assert_eq!(settings.dialect, Dialect::Cxone);
        let expected = FakeCxoneSettings {
            business_unit_id: 7,
            ..FakeCxoneSettings::default()
        };
        assert_eq!(settings.cxone, expected);
        let default: FakeTenantSettings = toml::from_str("").unwrap();
        assert_eq!(default.dialect, Dialect::Tutorial);
        assert!(toml::from_str::<FakeTenantSettings>("dialect = \"Cxone\"").is_err());
        assert!(toml::from_str::<FakeTenantSettings>("[cxone]\nclient = \"x\"").is_err());
    }
}
