//! The `cxone` dialect's harness: the issuer (discovery and the token endpoint) on the
//! `auth` mock server, the tenant's API host on the `tenant` one.

use base64::Engine;
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path, path_regex, query_param},
    Mock, ResponseTemplate,
};

use crate::helpers::*;

pub const ACCESS_KEY_ID: &str = "AKIDTEST0001";
/// Ends in `=` like real keys: it must arrive percent-encoded.
pub const ACCESS_KEY_SECRET: &str = "c2VjcmV0K2tleQ==";
pub const TENANT_ID: &str = "11eb0358-a5ea-4b50-9d0c-0242ac110003";
pub const AGENT: &str = "39260750";
pub const CONTACT: &str = "7700123456";
pub const MESSAGES_PATH: &str = "/inContactAPI/services/v34.0/agents/messages";
pub const ACTIVE_PATH: &str = "/inContactAPI/services/v34.0/contacts/active";

/// A JWT-shaped token whose payload carries the tenant id, as CXone's access tokens do.
pub fn access_token(tenant_id: &str) -> String {
    let part = |value: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string().as_bytes())
    };
    let header = part(json!({"alg": "RS256", "typ": "JWT"}));
    let payload = part(json!({"tenantId": tenant_id, "icBUId": 4607084, "iss": "test"}));
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

/// The service in the `cxone` dialect, its API host discovered unless `configure` sets one.
pub async fn spawn_cxone_app_with(
    configure: impl FnOnce(&mut cxone_assist::config::Settings),
) -> TestApp {
    spawn_app_with(|s| {
        s.tenant.api = cxone_assist::config::TenantApi::Cxone;
        let c = &mut s.tenant.cxone;
        c.auth_url = s
            .tenant
            .token_url
            .as_deref()
            .unwrap()
            .replace(TOKEN_PATH, "");
        c.access_key_id = Some(ACCESS_KEY_ID.to_owned().into());
        c.access_key_secret = Some(ACCESS_KEY_SECRET.to_owned().into());
        // `tenant.url` is still the API mock's address here, for `with_api_host`.
        configure(s);
        s.tenant.url = None;
        s.tenant.token_url = None;
    })
    .await
}

/// Configures the API host (`CXONE_API_URL`) instead of discovering it.
pub fn with_api_host(s: &mut cxone_assist::config::Settings) {
    s.tenant.cxone.api_url = s.tenant.url.clone();
}

pub async fn spawn_cxone_app() -> TestApp {
    spawn_cxone_app_with(|_| {}).await
}

impl TestApp {
    /// Both discovery documents and a token endpoint that grants every request.
    pub async fn mount_issuer(&self) {
        self.mount_issuer_without_token().await;
        self.mount_cxone_token(cxone_token()).await;
    }

    /// Both discovery documents.
    pub async fn mount_issuer_without_token(&self) {
        Mock::given(method("GET"))
            .and(path("/.well-known/openid-configuration"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "issuer": self.auth.uri(),
                "token_endpoint": format!("{}/auth/token", self.auth.uri()),
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            })))
            .mount(&self.auth)
            .await;
        Mock::given(method("GET"))
            .and(path("/.well-known/cxone-configuration"))
            .and(query_param("tenantId", TENANT_ID))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "private": false, "area": "na1", "cluster": "B32", "domain": "niceincontact.com",
                "ui_endpoint": "https://na1.example", "auth_endpoint": "https://na1.example",
                "api_endpoint": self.tenant.uri(), "tenantId": TENANT_ID,
            })))
            .mount(&self.auth)
            .await;
    }

    pub async fn mount_cxone_token(&self, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path("/auth/token"))
            .respond_with(response)
            .mount(&self.auth)
            .await;
    }

    /// Answers every agent message POST with `response`.
    pub async fn mount_messages(&self, response: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path(MESSAGES_PATH))
            .respond_with(response)
            .mount(&self.tenant)
            .await;
    }

    /// Every request the API host received on `path`, in order.
    pub async fn api_requests(&self, path: &str) -> Vec<wiremock::Request> {
        let requests = self.tenant.received_requests().await.unwrap_or_default();
        requests
            .into_iter()
            .filter(|r| r.url.path() == path)
            .collect()
    }

    /// Mounts `GET contacts/active` answering `response`.
    pub async fn mount_active_contacts(&self, response: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path_regex(format!("^{ACTIVE_PATH}$")))
            .respond_with(response)
            .mount(&self.tenant)
            .await;
    }
}

/// A granted token, as CXone's token endpoint answers.
pub fn cxone_token() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": access_token(TENANT_ID),
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "refresh",
        "id_token": access_token(TENANT_ID),
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
    }))
}

/// `agentMessageResults` for one message.
pub fn message_result(success: bool, id: i64) -> ResponseTemplate {
    let error = (!success).then_some("Invalid Agent Id");
    ResponseTemplate::new(200).set_body_json(json!({
        "errorCount": u8::from(!success),
        "agentMessageResults": [{"agentMessageId": id, "success": success, "error": error}],
    }))
}

/// A prompt for the CXone agent on the CXone contact.
pub fn cxone_prompt() -> Value {
    let mut body = prompt_body();
    body["agentId"] = json!(AGENT);
    body["interactionId"] = json!(CONTACT);
    body
}

/// An active contact list with one contact on `agent`.
pub fn active_contact(agent: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "totalRecords": 1,
        "activeContacts": [{
            "contactId": CONTACT.parse::<i64>().unwrap(),
            "masterContactId": CONTACT.parse::<i64>().unwrap(),
            "agentId": agent.parse::<i64>().unwrap(),
            "stateId": 4,
            "stateName": "Active",
        }],
    }))
}
