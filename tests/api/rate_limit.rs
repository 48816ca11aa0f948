//! The local token bucket in front of delivery.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn burst_then_429_with_retry_after_then_refill() {
    let app = spawn_app_with(|s| {
        s.rate_limit.burst = 2;
        s.rate_limit.per_second = 0.5;
    })
    .await;
    app.mount_tenant(delivered()).await;

    for _ in 0..2 {
        assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
    }
    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 429);
    assert_eq!(
        response.headers()["retry-after"],
        "2",
        "one token takes 2 s at 0.5/s"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "rate_limited");
    assert_eq!(app.prompts_received().await.len(), 2);

    app.clock.advance(Duration::from_millis(1_000));
    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");

    app.clock.advance(Duration::from_millis(1_000));
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
}

#[tokio::test]
async fn invalid_and_ineligible_requests_consume_no_token() {
    let app = spawn_app_with(|s| {
        s.rate_limit.burst = 1;
        s.rate_limit.per_second = 0.001;
    })
    .await;
    app.mount_tenant(delivered()).await;

    let mut invalid = prompt_body();
    invalid["priority"] = json!("URGENT");
    assert_eq!(app.post_prompt(&invalid).await.status(), 400);
    let mut ineligible = prompt_body();
    ineligible["sentiment"] = json!(-0.9);
    assert_eq!(app.post_prompt(&ineligible).await.status(), 403);

    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 429);
}

#[tokio::test]
async fn a_locally_rate_limited_request_is_counted_as_a_refusal() {
    let app = spawn_app_with(|s| {
        s.rate_limit.burst = 1;
        s.rate_limit.per_second = 0.001;
    })
    .await;
    app.mount_tenant(delivered()).await;
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 429);

    // Refusals reach the ledger with the next once-a-second flush.
    let mut refusals = Vec::new();
    for _ in 0..40 {
        let stats: Value = app.get("/stats").await.json().await.unwrap();
        refusals = stats["refusals"].as_array().cloned().unwrap_or_default();
        if !refusals.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0]["kind"], "rate_limited");
    assert_eq!(refusals[0]["count"], 1);
    let stats: Value = app.get("/stats").await.json().await.unwrap();
    assert_eq!(
        stats["rows"][0]["delivered"], 1,
        "the refused request left no record"
    );
}
