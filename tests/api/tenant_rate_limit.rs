//! A tenant that answers 429: Retry-After in both forms, the deadline, the fallback, and a
//! tenant that throttles to the end.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::helpers::*;

async fn mount_sequence(app: &TestApp, answers: Vec<ResponseTemplate>) {
    app.mount_token().await;
    app.mount_answers(answers).await;
}

#[tokio::test]
async fn retry_after_in_seconds_is_waited_out() {
    let app = spawn_app().await;
    let limited = ResponseTemplate::new(429).insert_header("retry-after", "1");
    mount_sequence(&app, vec![limited, delivered()]).await;

    let started = Instant::now();
    let body: Value = app.post_prompt(&prompt_body()).await.json().await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(body["attempt"], 2, "the 429 counts as an attempt");
    assert_eq!(body["fallback"], false);
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_waited_out() {
    let app = spawn_app().await;
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let limited = ResponseTemplate::new(429).insert_header("retry-after", when.as_str());
    mount_sequence(&app, vec![limited, delivered()]).await;

    let started = Instant::now();
    let body: Value = app.post_prompt(&prompt_body()).await.json().await.unwrap();
    // HTTP-dates have one-second resolution, so the wait is between 1 and 2 seconds.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(body["attempt"], 2);
}

#[tokio::test]
async fn retry_after_beyond_the_deadline_answers_429_at_once() {
    let app = spawn_app_with(|s| s.server.request_timeout_ms = 3_000).await;
    app.mount_tenant(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .await;

    let started = Instant::now();
    let response = app.post_prompt(&prompt_body()).await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "120");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_rate_limited");
    assert_eq!(app.prompts_received().await.len(), 1);
}

#[tokio::test]
async fn a_primary_rate_limited_on_every_try_goes_to_the_fallback() {
    let app = spawn_app().await;
    // No Retry-After: each 429 is waited out with the backoff, well inside the deadline.
    let limited = ResponseTemplate::new(429);
    mount_sequence(
        &app,
        vec![limited.clone(), limited.clone(), limited, delivered()],
    )
    .await;

    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["fallback"], true);
    assert_eq!(body["attempt"], 1);
    let sent = app.prompts_received().await;
    assert_eq!(sent.len(), 4, "3 primary tries, then the fallback");
    assert_eq!(sent[3]["priority"], "LOW");
}

#[tokio::test]
async fn a_tenant_throttling_to_the_end_is_a_429_not_a_502() {
    let app = spawn_app().await;
    app.mount_tenant(ResponseTemplate::new(429).insert_header("retry-after", "0"))
        .await;

    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_rate_limited");
    assert_eq!(
        app.prompts_received().await.len(),
        6,
        "3 primary + 3 fallback"
    );
}
