//! Delivery to the tenant: payload, retries, Retry-After, fallback, deadlines.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::{
    matchers::{header, method, path},
    Mock, ResponseTemplate,
};

use crate::helpers::*;

async fn mount_sequence(app: &TestApp, answers: Vec<ResponseTemplate>) {
    app.mount_token().await;
    app.mount_answers(answers).await;
}

#[tokio::test]
async fn sends_the_tutorial_payload_and_headers() {
    let app = spawn_app().await;
    app.mount_token().await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .and(header(
            "authorization",
            format!("Bearer {ACCESS_TOKEN}").as_str(),
        ))
        .and(header("accept", "application/json"))
        .respond_with(delivered())
        .expect(1)
        .mount(&app.tenant)
        .await;

    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let prompt_id = body["promptId"].as_str().unwrap().to_owned();
    assert!(prompt_id.starts_with("prompt_int_98765432_"), "{prompt_id}");
    assert_eq!(
        body,
        json!({"success": true, "promptId": prompt_id, "attempt": 1, "fallback": false,
               "transcriptId": null, "correlation": "pending", "recorded": true})
    );

    let sent = app.prompts_received().await;
    assert_eq!(
        sent,
        [json!({
            "interactionId": "int_98765432",
            "promptId": prompt_id,
            "content": "Customer has exceeded return window. Suggest loyalty credit instead.",
            "priority": "HIGH",
            "uiConfig": {"componentType": "CARD", "position": "BOTTOM", "timeoutMs": 15000},
            "context": {"sentimentScore": 0.1, "keywords": ["return", "loyalty", "credit"]},
            "targetAgentId": "agt_12345678"
        })]
    );

    let token_request = &app.auth.received_requests().await.unwrap()[0];
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&token_request.body)
        .into_owned()
        .collect();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("grant_type"), Some("client_credentials"));
    assert_eq!(field("client_id"), Some("test-client"));
    assert_eq!(field("client_secret"), Some(CLIENT_SECRET));
    assert_eq!(
        field("scope"),
        Some("agentassist:prompt:write interactions:read users:read")
    );
}

#[tokio::test]
async fn caller_keywords_are_sent_as_given() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let mut body = prompt_body();
    body["keywords"] = json!(["vip", "churn-risk"]);
    assert_eq!(app.post_prompt(&body).await.status(), 200);
    let sent = app.prompts_received().await;
    assert_eq!(sent[0]["context"]["keywords"], json!(["vip", "churn-risk"]));
}

#[tokio::test]
async fn server_errors_are_retried_with_the_same_prompt_id() {
    let app = spawn_app().await;
    mount_sequence(
        &app,
        vec![
            ResponseTemplate::new(503),
            ResponseTemplate::new(503),
            delivered(),
        ],
    )
    .await;

    let body: Value = app.post_prompt(&prompt_body()).await.json().await.unwrap();
    assert_eq!(body["attempt"], 3);
    assert_eq!(body["fallback"], false);
    let sent = app.prompts_received().await;
    assert_eq!(sent.len(), 3);
    assert!(sent.iter().all(|p| p["promptId"] == body["promptId"]));
}

#[tokio::test]
async fn exhausted_primary_falls_back_to_a_low_priority_prompt_with_a_new_id() {
    let app = spawn_app().await;
    let fail = ResponseTemplate::new(500);
    mount_sequence(&app, vec![fail.clone(), fail.clone(), fail, delivered()]).await;

    let body: Value = app.post_prompt(&prompt_body()).await.json().await.unwrap();
    assert_eq!(body["fallback"], true);
    assert_eq!(body["attempt"], 1);
    let sent = app.prompts_received().await;
    assert_eq!(sent.len(), 4);
    let fallback = &sent[3];
    assert_eq!(fallback["priority"], "LOW");
    assert_eq!(
        fallback["content"],
        "Please verify account details before proceeding."
    );
    assert_ne!(fallback["promptId"], sent[0]["promptId"]);
    assert_eq!(body["promptId"], fallback["promptId"]);

    let record = app.record(body["promptId"].as_str().unwrap()).await;
    assert_eq!(record["fallback"], true);
    assert_eq!(record["primaryPromptId"], sent[0]["promptId"]);
    assert_eq!(record["attempts"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn everything_failing_is_a_502_and_the_service_keeps_answering() {
    let app = spawn_app().await;
    app.mount_tenant(ResponseTemplate::new(502)).await;

    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_failed");
    assert_eq!(
        app.prompts_received().await.len(),
        6,
        "3 primary + 3 fallback"
    );

    let record = app.record(body["promptId"].as_str().unwrap()).await;
    assert_eq!(record["status"], "failed");
    assert_eq!(record["failure"], "upstream_failed");
    assert_eq!(record["correlation"], "not_applicable");
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 502);
}

#[tokio::test]
async fn forbidden_is_neither_retried_nor_replaced_by_the_fallback() {
    let app = spawn_app().await;
    app.mount_tenant(ResponseTemplate::new(403)).await;
    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_forbidden");
    assert_eq!(app.prompts_received().await.len(), 1);
}

#[tokio::test]
async fn other_client_errors_skip_retries_and_go_to_the_fallback() {
    let app = spawn_app().await;
    mount_sequence(&app, vec![ResponseTemplate::new(400), delivered()]).await;
    let body: Value = app.post_prompt(&prompt_body()).await.json().await.unwrap();
    assert_eq!(body["fallback"], true);
    let sent = app.prompts_received().await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["priority"], "LOW");
}

#[tokio::test]
async fn unreachable_tenant_fails_within_the_deadline() {
    // A port that was just free: connections are refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let app = spawn_app_with(|s| {
        s.tenant.url = Some(format!("http://{closed}"));
        s.tenant.token_url = Some(format!("http://{closed}/oauth/token"));
        s.server.request_timeout_ms = 3_000;
    })
    .await;

    let started = Instant::now();
    let response = app.post_prompt(&prompt_body()).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_failed");
}

#[tokio::test]
async fn slow_tenant_is_cut_off_at_the_deadline() {
    let app = spawn_app_with(|s| s.server.request_timeout_ms = 800).await;
    app.mount_tenant(delivered().set_delay(Duration::from_secs(10)))
        .await;

    let started = Instant::now();
    let response = app.post_prompt(&prompt_body()).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_millis(1_500),
        "took {elapsed:?}"
    );
    assert_eq!(response.status(), 504);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_timeout");
}

#[tokio::test]
async fn a_slow_tenant_never_has_more_prompt_posts_in_flight_than_the_cap() {
    let app = spawn_app_with(|s| s.tenant.max_concurrent_posts = 2).await;
    app.mount_tenant(delivered().set_delay(Duration::from_millis(600)))
        .await;

    let body = prompt_body();
    let prompts = futures::future::join_all((0..4).map(|_| app.post_prompt(&body)));
    // While the first two POSTs are held by the tenant, the other two wait for a slot.
    let in_flight = async {
        let started = Instant::now();
        while app.prompts_received().await.len() < 2 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "no POST arrived"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.prompts_received().await.len()
    };
    let (responses, seen_while_held) = tokio::join!(prompts, in_flight);

    assert_eq!(seen_while_held, 2);
    for response in responses {
        assert_eq!(response.status(), 200);
    }
    assert_eq!(app.prompts_received().await.len(), 4);
}

#[tokio::test]
async fn a_delivery_that_never_gets_a_slot_ends_at_its_deadline_without_a_post() {
    let app = spawn_app_with(|s| {
        s.tenant.max_concurrent_posts = 1;
        s.server.request_timeout_ms = 800;
    })
    .await;
    app.mount_tenant(delivered().set_delay(Duration::from_secs(10)))
        .await;

    let body = prompt_body();
    let (first, second) = tokio::join!(app.post_prompt(&body), app.post_prompt(&body));

    for response in [first, second] {
        assert_eq!(response.status(), 504);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["code"], "upstream_timeout");
    }
    // The one slot was held by the other request's POST until both deadlines passed.
    assert_eq!(app.prompts_received().await.len(), 1);
}
