//! The OAuth2 token cache: single flight, expiry, 401 handling, failures not cached.

use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;
use wiremock::{
    matchers::{method, path},
    Mock, ResponseTemplate,
};

use crate::helpers::*;

#[tokio::test]
async fn fifty_concurrent_first_calls_fetch_one_token() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        // Slow enough that every request arrives while the first fetch is in flight.
        .respond_with(token_response(3600).set_delay(Duration::from_millis(300)))
        .mount(&app.auth)
        .await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(delivered())
        .mount(&app.tenant)
        .await;

    let body = prompt_body();
    let responses = join_all((0..50).map(|_| app.post_prompt(&body))).await;
    assert!(responses.iter().all(|r| r.status() == 200));
    assert_eq!(app.token_requests().await, 1);
    assert_eq!(app.prompts_received().await.len(), 50);
}

#[tokio::test]
async fn token_is_reused_until_shortly_before_expiry_then_refreshed() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;

    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
    app.clock.advance(Duration::from_secs(3_499));
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
    assert_eq!(
        app.token_requests().await,
        1,
        "still inside expires_in minus 100 s"
    );

    app.clock.advance(Duration::from_secs(2));
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
    assert_eq!(
        app.token_requests().await,
        2,
        "refreshed 100 s before expiry"
    );
}

#[tokio::test]
async fn a_short_lived_token_is_reused_for_a_burst() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(token_response(3))
        .mount(&app.auth)
        .await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(delivered())
        .mount(&app.tenant)
        .await;
    for _ in 0..5 {
        assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
    }
    assert_eq!(app.token_requests().await, 1);
    app.clock.advance(Duration::from_secs(3));
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
    assert_eq!(app.token_requests().await, 2);
}

#[tokio::test]
async fn a_401_drops_the_token_and_retries_once_with_a_fresh_one() {
    let app = spawn_app().await;
    app.mount_token().await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(ResponseTemplate::new(401))
        .up_to_n_times(1)
        .mount(&app.tenant)
        .await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(delivered())
        .mount(&app.tenant)
        .await;

    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["attempt"], 2,
        "the re-send after a 401 is the second POST"
    );
    assert_eq!(app.token_requests().await, 2);
    assert_eq!(app.prompts_received().await.len(), 2);

    let record = app.record(body["promptId"].as_str().unwrap()).await;
    let attempts = record["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status"], 401);
    assert_eq!(attempts[0]["outcome"], "unauthorized");
    assert_eq!(attempts[1]["number"], 2);
    assert_eq!(attempts[1]["outcome"], "delivered");
}

#[tokio::test]
async fn a_second_401_is_upstream_auth_without_fallback() {
    let app = spawn_app().await;
    app.mount_tenant(ResponseTemplate::new(401)).await;
    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_auth");
    assert_eq!(app.prompts_received().await.len(), 2);
}

#[tokio::test]
async fn refused_credentials_are_an_error_response_and_not_cached() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(serde_json::json!({"error": "invalid_client"})),
        )
        .mount(&app.auth)
        .await;

    for expected_fetches in 1..=2 {
        let response = app.post_prompt(&prompt_body()).await;
        assert_eq!(response.status(), 502);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "upstream_auth");
        assert_eq!(app.token_requests().await, expected_fetches);
    }
    assert!(app.prompts_received().await.is_empty());
}

#[tokio::test]
async fn a_token_endpoint_outage_is_retried_like_any_transient_fault() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&app.auth)
        .await;
    app.mount_tenant(delivered()).await;

    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["attempt"], 2);
    assert_eq!(app.token_requests().await, 2);
}

#[tokio::test]
async fn a_redirecting_token_endpoint_is_not_followed() {
    let app = spawn_app().await;
    let elsewhere = format!("{}/elsewhere", app.auth.uri());
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(307).insert_header("location", elsewhere.as_str()))
        .mount(&app.auth)
        .await;
    // Were the redirect followed, the client secret would be posted here.
    Mock::given(method("POST"))
        .and(path("/elsewhere"))
        .respond_with(token_response(3600))
        .mount(&app.auth)
        .await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(delivered())
        .mount(&app.tenant)
        .await;

    // A redirect is no token: retried like an outage, then a 502.
    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_failed");
    let followed = app
        .auth
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/elsewhere")
        .count();
    assert_eq!(followed, 0, "the redirect was followed");
    assert!(app.prompts_received().await.is_empty());
}

/// The token endpoint's 429 reaches the retry policy with its `Retry-After`: a wait past the
/// deadline is answered 429 at once with the tenant's own value, not retried as an outage.
#[tokio::test]
async fn a_token_endpoint_429_carries_its_retry_after_to_the_caller() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .mount(&app.auth)
        .await;
    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "120");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_rate_limited");
    assert_eq!(
        app.token_requests().await,
        1,
        "the 429 was waited out, not retried"
    );
}

/// A short token-endpoint 429 is waited out, and the prompt then goes through.
#[tokio::test]
async fn a_short_token_endpoint_429_is_waited_out() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&app.auth)
        .await;
    app.mount_tenant(delivered()).await;
    let started = std::time::Instant::now();
    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(app.token_requests().await, 2);
}

/// Readiness names the credential the token endpoint refused.
#[tokio::test]
async fn readiness_says_which_credential_was_refused() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": "invalid_client",
            "error_description": "unknown client"
        })))
        .mount(&app.auth)
        .await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    let tenant = body["checks"]["tenant"].as_str().unwrap();
    assert!(tenant.contains("invalid_client"), "{tenant}");
    assert!(tenant.contains("client id or secret"), "{tenant}");
    assert!(!tenant.contains(CLIENT_SECRET));
}
