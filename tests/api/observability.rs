//! Health, readiness, metrics and request ids.

use std::time::Duration;

use serde_json::Value;
use wiremock::{
    matchers::{header, method, path},
    Mock, ResponseTemplate,
};

use crate::helpers::*;

#[tokio::test]
async fn liveness_is_200_while_the_process_serves() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readiness_follows_the_tenant_token_endpoint() {
    let app = spawn_app().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(503))
        .mount(&app.auth)
        .await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "not_ready");
    assert!(
        body["checks"]["tenant"]
            .as_str()
            .unwrap()
            .starts_with("unreachable"),
        "{body}"
    );
    assert_eq!(body["checks"]["breaker"], "closed");

    app.auth.reset().await;
    app.mount_token().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["tenant"], "ok");

    app.get("/readyz").await;
    assert_eq!(
        app.token_requests().await,
        1,
        "a cached token makes probes free"
    );
}

#[tokio::test]
async fn readiness_turns_503_as_soon_as_shutdown_begins() {
    let mut app = spawn_app_with(|s| s.server.drain_delay_ms = 1_000).await;
    app.mount_token().await;
    assert_eq!(app.get("/readyz").await.status(), 200);

    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "stopping");
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "still serving during the drain delay"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn metrics_move_with_deliveries_and_carry_no_ids() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
    let mut ineligible = prompt_body();
    ineligible["sentiment"] = serde_json::json!(-0.9);
    assert_eq!(app.post_prompt(&ineligible).await.status(), 403);

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for expected in [
        r#"cxone_assist_deliveries_total{outcome="delivered"} 1"#,
        r#"cxone_assist_deliveries_total{outcome="ineligible"} 1"#,
        r#"cxone_assist_delivery_attempts_total{leg="primary",outcome="delivered"} 1"#,
        r#"cxone_assist_upstream_responses_total{endpoint="prompts",class="2xx"} 1"#,
        r#"cxone_assist_upstream_responses_total{endpoint="token",class="2xx"} 1"#,
        r#"cxone_assist_token_fetches_total{result="success"} 1"#,
        r#"cxone_assist_http_requests_total{route="/simulate-prompt",method="POST",status="200"} 1"#,
        "cxone_assist_delivery_duration_seconds_count 1",
        r#"cxone_assist_upstream_duration_seconds_bucket{le="+Inf",endpoint="prompts"} 1"#,
        "cxone_assist_circuit_breaker_state 0",
        "cxone_assist_correlation_queue_depth 1",
    ] {
        assert!(text.contains(expected), "missing {expected}\n{text}");
    }
    assert!(!text.contains("int_98765432") && !text.contains("agt_12345678"));
}

#[tokio::test]
async fn metrics_can_live_on_their_own_listener() {
    let app = spawn_app_with(|s| {
        s.metrics.listen_addr = Some("127.0.0.1:0".parse().unwrap());
        s.metrics.path = "/internal/metrics".into();
    })
    .await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    assert_eq!(app.get("/internal/metrics").await.status(), 404);
    let metrics_addr = app.metrics_addr.expect("a metrics listener");
    let response = reqwest::get(format!("http://{metrics_addr}/internal/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("cxone_assist_in_flight_requests"));
}

#[tokio::test]
async fn the_request_id_is_returned_and_passed_to_the_tenant() {
    let app = spawn_app().await;
    app.mount_token().await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .and(header("x-request-id", "req-abc-123"))
        .respond_with(delivered())
        .expect(1)
        .mount(&app.tenant)
        .await;
    let response = app
        .client
        .post(app.url("/simulate-prompt"))
        .header("x-request-id", "req-abc-123")
        .json(&prompt_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");
    let body: Value = response.json().await.unwrap();
    let record = app.record(body["promptId"].as_str().unwrap()).await;
    assert_eq!(record["requestId"], "req-abc-123");
}

#[tokio::test]
async fn a_request_id_that_cannot_go_into_logs_and_upstream_headers_is_replaced() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    for unusable in ["has spaces in it", &"x".repeat(129)] {
        let response = app
            .client
            .post(app.url("/simulate-prompt"))
            .header("x-request-id", unusable)
            .json(&prompt_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 26, "a ULID instead of {unusable:?}: {id}");
    }
    let sent = app.tenant.received_requests().await.unwrap();
    let prompts: Vec<_> = sent
        .iter()
        .filter(|r| r.url.path() == PROMPTS_PATH)
        .collect();
    assert_eq!(prompts.len(), 2);
    assert!(prompts
        .iter()
        .all(|r| r.headers["x-request-id"].len() == 26));
}

#[tokio::test]
async fn a_request_id_is_made_up_when_none_is_sent() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let response = app.post_prompt(&prompt_body()).await;
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 26, "a ULID: {id}");
    let sent = app.tenant.received_requests().await.unwrap();
    assert_eq!(sent[0].headers["x-request-id"], id.as_str());
    assert!(app
        .get("/nowhere")
        .await
        .headers()
        .contains_key("x-request-id"));
}
