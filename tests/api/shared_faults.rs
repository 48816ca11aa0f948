//! A fault that many requests share counts once: the circuit breaker counts tenant exchanges,
//! not the requests that waited on them.

use std::time::Duration;

use serde_json::Value;
use wiremock::{
    matchers::{method, path},
    Mock, ResponseTemplate,
};

use crate::helpers::*;

/// Twenty prompts waiting on one token fetch that fails: one exchange failed, not twenty, so
/// the breaker (threshold 10) stays closed and the next prompts are delivered once the token
/// endpoint is back.
#[tokio::test]
async fn one_failed_token_fetch_shared_by_a_burst_is_one_failure() {
    let app = spawn_app_with(|s| {
        s.breaker.failure_threshold = 10;
        s.delivery.max_attempts = 1;
    })
    .await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        // Slow enough that the whole burst joins the one fetch.
        .respond_with(ResponseTemplate::new(503).set_delay(Duration::from_millis(300)))
        .mount(&app.auth)
        .await;
    app.tenant_recovers().await;

    let bodies: Vec<Value> = (0..20)
        .map(|n| with_interaction(&format!("int_{n}")))
        .collect();
    let burst = bodies.iter().map(|body| app.post_prompt(body));
    for response in futures::future::join_all(burst).await {
        assert_eq!(response.status(), 502);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "upstream_failed", "the token endpoint failed");
    }
    // The primary's try and the fallback's: each one fetch shared by all twenty.
    let fetches = app.token_requests().await;
    assert!(fetches <= 4, "{fetches} token requests");

    app.auth.reset().await;
    app.mount_token().await;
    for n in 0..5 {
        let response = app
            .post_prompt(&with_interaction(&format!("int_after_{n}")))
            .await;
        assert_eq!(response.status(), 200, "the breaker must not have opened");
    }
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["checks"]["breaker"], "closed");
}
