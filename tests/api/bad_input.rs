//! Bad input: always a 4xx with the JSON error shape, never a 500, and nothing sent upstream.

use serde_json::{json, Value};

use crate::helpers::*;

async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "errors are JSON"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    body
}

fn with(field: &str, value: Value) -> Value {
    let mut body = prompt_body();
    body[field] = value;
    body
}

fn without(field: &str) -> Value {
    let mut body = prompt_body();
    body.as_object_mut().unwrap().remove(field);
    body
}

#[tokio::test]
async fn each_invalid_field_is_a_400_naming_it() {
    let app = spawn_app_with(|s| s.delivery.max_content_chars = 100).await;
    app.mount_tenant(delivered()).await;
    let cases = [
        (without("agentId"), "agentId"),
        (without("interactionId"), "interactionId"),
        (without("content"), "content"),
        (without("priority"), "priority"),
        (without("sentiment"), "sentiment"),
        (with("sentiment", json!("very sad")), "sentiment"),
        (with("sentiment", json!(1.01)), "sentiment"),
        (with("sentiment", json!(-7)), "sentiment"),
        (with("priority", json!("URGENT")), "priority"),
        (with("priority", json!(1)), "priority"),
        (with("interactionId", json!("")), "interactionId"),
        (with("agentId", json!(42)), "agentId"),
        (with("agentId", json!("agt/../admin")), "agentId"),
        (with("content", json!("")), "content"),
        (with("content", json!("x".repeat(101))), "content"),
        (with("keywords", json!("refund")), "keywords"),
        (with("keywords", json!([""])), "keywords"),
    ];
    for (body, field) in cases {
        let response = app.post_prompt(&body).await;
        let error = assert_error(response, 400, "invalid_field").await;
        assert_eq!(error["field"], field, "{body}");
        assert!(error["error"].as_str().unwrap().contains(field), "{error}");
    }
    assert!(app.prompts_received().await.is_empty());
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    for raw in ["{", "", "[1,2]", "null", r#"{"agentId": "a"} trailing"#] {
        let response = app.post_raw(raw, Some("application/json")).await;
        assert_eq!(response.status(), 400, "{raw:?}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["code"] == "malformed_json" || body["code"] == "invalid_field",
            "{body}"
        );
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let app = spawn_app_with(|s| s.server.max_body_bytes = 2_048).await;
    let body = with("content", json!("x".repeat(4_096))).to_string();
    let response = app.post_raw(body, Some("application/json")).await;
    assert_error(response, 413, "payload_too_large").await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = spawn_app().await;
    let body = prompt_body().to_string();
    assert_error(
        app.post_raw(body.clone(), Some("text/plain")).await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        app.post_raw(body, None).await,
        415,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405_and_an_unknown_route_a_json_404() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/simulate-prompt"))
        .send()
        .await
        .unwrap();
    assert_error(response, 405, "method_not_allowed").await;
    let response = app.client.get(app.url("/nowhere")).send().await.unwrap();
    assert_error(response, 404, "not_found").await;
}
