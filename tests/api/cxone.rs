//! The `cxone` dialect against CXone's documented APIs (wiremock): discovery, the access-key
//! token, agent messages and custom events, and active-contact correlation.

use std::time::Duration;

use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, ResponseTemplate,
};

use crate::{cxone_tenant::*, helpers::*};

fn form(request: &wiremock::Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

#[tokio::test]
async fn a_prompt_goes_out_as_an_agent_message_through_the_discovered_endpoints() {
    let app = spawn_cxone_app().await;
    app.mount_issuer().await;
    app.mount_messages(message_result(true, 5551)).await;

    let response = app.post_prompt(&cxone_prompt()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["fallback"], false);

    // The token came from the endpoint the issuer's discovery document named, with the
    // application's credentials as Basic and the access key as the password grant.
    let auth = app.auth.received_requests().await.unwrap();
    let token = auth.iter().find(|r| r.url.path() == "/auth/token").unwrap();
    let basic = token.headers["authorization"].to_str().unwrap();
    let expected = base64_basic("test-client", CLIENT_SECRET);
    assert_eq!(basic, expected);
    let body_text = String::from_utf8(token.body.clone()).unwrap();
    assert!(
        body_text.contains("password=c2VjcmV0K2tleQ%3D%3D"),
        "{body_text}"
    );
    let fields = form(token);
    assert!(fields.contains(&("grant_type".into(), "password".into())));
    assert!(fields.contains(&("username".into(), ACCESS_KEY_ID.into())));
    assert!(fields.contains(&("password".into(), ACCESS_KEY_SECRET.into())));
    assert!(
        !fields.iter().any(|(k, _)| k == "client_secret"),
        "Basic, not the form"
    );

    // The API host was discovered with the token's tenantId.
    let discovery = auth
        .iter()
        .find(|r| r.url.path() == "/.well-known/cxone-configuration")
        .expect("the API host was discovered");
    assert_eq!(
        discovery.url.query(),
        Some(format!("tenantId={TENANT_ID}").as_str())
    );

    let sent = app.api_requests(MESSAGES_PATH).await;
    assert_eq!(sent.len(), 1);
    let post = &sent[0];
    assert_eq!(post.headers["accept"], "application/json");
    assert_eq!(post.headers["content-type"], "application/json");
    assert!(post.headers["authorization"]
        .to_str()
        .unwrap()
        .starts_with("Bearer "));
    let message: Value = serde_json::from_slice(&post.body).unwrap();
    let expected = json!({"agentMessages": [{
        "targetType": "Agent",
        "targetId": 39260750,
        "subject": format!("[HIGH] contact {CONTACT}: return, loyalty, credit"),
        "message": "Customer has exceeded return window. Suggest loyalty credit instead.",
        "expireMinutes": 1,
    }]});
    assert_eq!(message, expected);
}

fn base64_basic(id: &str, secret: &str) -> String {
    use base64::Engine;
    let raw = format!("{id}:{secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

#[tokio::test]
async fn a_configured_api_host_skips_discovery() {
    let app = spawn_cxone_app_with(with_api_host).await;
    app.mount_issuer().await;
    app.mount_messages(message_result(true, 5550)).await;
    assert_eq!(app.post_prompt(&cxone_prompt()).await.status(), 200);
    assert_eq!(app.api_requests(MESSAGES_PATH).await.len(), 1);
    let discovered = (app.auth.received_requests().await.unwrap().iter())
        .any(|r| r.url.path() == "/.well-known/cxone-configuration");
    assert!(!discovered, "CXONE_API_URL skips the API host's discovery");
}

#[tokio::test]
async fn success_false_is_a_rejection_and_the_fallback_goes() {
    let app = spawn_cxone_app().await;
    app.mount_issuer().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(message_result(false, 0))
        .up_to_n_times(1)
        .mount(&app.tenant)
        .await;
    app.mount_messages(message_result(true, 5552)).await;

    let response = app.post_prompt(&cxone_prompt()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["fallback"], true);
    let sent = app.api_requests(MESSAGES_PATH).await;
    assert_eq!(
        sent.len(),
        2,
        "no retry of a refused message, then the fallback"
    );
}

#[tokio::test]
async fn a_401_fetches_one_fresh_token() {
    let app = spawn_cxone_app().await;
    app.mount_issuer().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .mount(&app.tenant)
        .await;
    app.mount_messages(message_result(true, 5553)).await;

    assert_eq!(app.post_prompt(&cxone_prompt()).await.status(), 200);
    let tokens = (app.auth.received_requests().await.unwrap().iter())
        .filter(|r| r.url.path() == "/auth/token")
        .count();
    assert_eq!(tokens, 2);
}

#[tokio::test]
async fn a_429_is_waited_out_with_its_retry_after() {
    let app = spawn_cxone_app().await;
    app.mount_issuer().await;
    Mock::given(method("POST"))
        .and(path(MESSAGES_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&app.tenant)
        .await;
    app.mount_messages(message_result(true, 5554)).await;
    let started = std::time::Instant::now();
    assert_eq!(app.post_prompt(&cxone_prompt()).await.status(), 200);
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_token_endpoint_429_reaches_the_caller_with_its_retry_after() {
    let app = spawn_cxone_app().await;
    app.mount_issuer_without_token().await;
    app.mount_cxone_token(ResponseTemplate::new(429).insert_header("retry-after", "90"))
        .await;
    let response = app.post_prompt(&cxone_prompt()).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "90");
}

#[tokio::test]
async fn refused_credentials_say_which_one_in_readiness_and_to_callers() {
    for (status, error, says) in [
        (401, "invalid_client", "client id or secret"),
        (400, "invalid_grant", "access key"),
    ] {
        let app = spawn_cxone_app().await;
        app.mount_issuer_without_token().await;
        app.mount_cxone_token(ResponseTemplate::new(status).set_body_json(json!({
            "error": error, "error_description": "refused"
        })))
        .await;
        let ready: Value = app.get("/readyz").await.json().await.unwrap();
        let tenant = ready["checks"]["tenant"].as_str().unwrap();
        assert!(tenant.contains(error) && tenant.contains(says), "{tenant}");
        assert!(!tenant.contains(ACCESS_KEY_SECRET) && !tenant.contains(CLIENT_SECRET));
        let response = app.post_prompt(&cxone_prompt()).await;
        assert_eq!(response.status(), 502);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "upstream_auth");
    }
}

#[tokio::test]
async fn ids_that_are_not_cxone_numbers_are_refused_before_anything_is_sent() {
    let app = spawn_cxone_app().await;
    app.mount_issuer().await;
    app.mount_messages(message_result(true, 1)).await;
    for (field, value) in [
        ("agentId", "agt_12345678"),
        ("interactionId", "int_98765432"),
        ("interactionId", "99999999999999999999"),
    ] {
        let mut body = cxone_prompt();
        body[field] = json!(value);
        let response = app.post_prompt(&body).await;
        assert_eq!(response.status(), 400, "{field}={value}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "invalid_field");
        assert_eq!(error["field"], field);
        assert!(error["error"].as_str().unwrap().contains("CXone"));
    }
    assert!(app.api_requests(MESSAGES_PATH).await.is_empty());
}

#[tokio::test]
async fn a_custom_event_carries_the_prompt_in_its_query() {
    let app = spawn_cxone_app_with(|s| {
        s.tenant.cxone.delivery = cxone_assist::config::CxoneDelivery::CustomEvent;
    })
    .await;
    app.mount_issuer().await;
    let event_path = format!("/inContactAPI/services/v34.0/agents/{AGENT}/custom-event");
    Mock::given(method("PUT"))
        .and(path(event_path.as_str()))
        .respond_with(ResponseTemplate::new(200))
        .mount(&app.tenant)
        .await;

    let body: Value = app.post_prompt(&cxone_prompt()).await.json().await.unwrap();
    let prompt_id = body["promptId"].as_str().unwrap();
    let sent = app.api_requests(&event_path).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body.is_empty(), "query only");
    let query: Vec<(String, String)> = sent[0].url.query_pairs().into_owned().collect();
    assert_eq!(query[0], ("eventName".into(), "AgentAssistPrompt".into()));
    assert_eq!(query[1], ("persistInMemory".into(), "false".into()));
    let data: Value = serde_json::from_str(&query[2].1).unwrap();
    assert_eq!(
        data,
        json!({
            "promptId": prompt_id,
            "interactionId": CONTACT,
            "priority": "HIGH",
            "content": "Customer has exceeded return window. Suggest loyalty credit instead.",
            "keywords": ["return", "loyalty", "credit"],
        })
    );
}

#[tokio::test]
async fn content_too_long_for_a_custom_event_url_is_a_400() {
    let app = spawn_cxone_app_with(|s| {
        s.tenant.cxone.delivery = cxone_assist::config::CxoneDelivery::CustomEvent;
        s.delivery.max_content_chars = 10_000;
    })
    .await;
    app.mount_issuer().await;
    let mut body = cxone_prompt();
    // Every one of these characters takes nine bytes once URL-encoded.
    body["content"] = json!("é".repeat(1_000));
    let response = app.post_prompt(&body).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["field"], "content");
    assert!(error["error"].as_str().unwrap().contains("custom event"));
    assert!(app.tenant.received_requests().await.unwrap().is_empty());
}
