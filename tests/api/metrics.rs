//! The metrics an operator alerts on move when deliveries go wrong, not only when they succeed.

use serde_json::Value;
use wiremock::{
    matchers::{method, path, path_regex},
    Mock, ResponseTemplate,
};

use crate::helpers::*;

#[tokio::test]
async fn failure_paths_show_in_the_metrics() {
    let app = spawn_app_with(|s| {
        s.rate_limit.burst = 3;
        s.rate_limit.per_second = 1.0;
    })
    .await;
    // The first token fetch fails; the second succeeds.
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&app.auth)
        .await;
    app.mount_token().await;
    Mock::given(method("GET"))
        .and(path_regex(r"^/api/v2/interactions/[^/]+/transcripts$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"id": "tr_1"})))
        .mount(&app.tenant)
        .await;
    let limited = ResponseTemplate::new(429).insert_header("retry-after", "0");
    let failing = ResponseTemplate::new(500);
    let mut answers = vec![limited, delivered()];
    answers.extend(std::iter::repeat_n(failing.clone(), 3));
    answers.push(delivered());
    answers.extend(std::iter::repeat_n(failing, 6));
    app.mount_answers(answers).await;

    // 1: token outage, then a 429 waited out, then delivered.
    let first: Value = app.post_prompt(&prompt_body()).await.json().await.unwrap();
    assert_eq!(first["fallback"], false);
    // 2: the primary fails three times; the fallback is delivered.
    let second: Value = app.post_prompt(&prompt_body()).await.json().await.unwrap();
    assert_eq!(second["fallback"], true);
    // 3: everything fails.
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 502);
    // 4: the local bucket (burst 3, clock stopped) is empty.
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 429);
    for delivered in [&first, &second] {
        let id = delivered["promptId"].as_str().unwrap();
        app.wait_for_record(id, |r| r["correlation"] == "correlated")
            .await;
    }

    let text = app.metrics_text().await;
    for expected in [
        r#"cxone_assist_deliveries_total{outcome="delivered"} 1"#,
        r#"cxone_assist_deliveries_total{outcome="fallback"} 1"#,
        r#"cxone_assist_deliveries_total{outcome="failed"} 1"#,
        r#"cxone_assist_deliveries_total{outcome="rate_limited"} 1"#,
        r#"cxone_assist_token_fetches_total{result="failure"} 1"#,
        r#"cxone_assist_delivery_attempts_total{leg="primary",outcome="token_unavailable"} 1"#,
        r#"cxone_assist_delivery_attempts_total{leg="fallback",outcome="server_error"} 3"#,
        r#"cxone_assist_upstream_responses_total{endpoint="prompts",class="5xx"} 9"#,
        "cxone_assist_upstream_rate_limited_total 1",
        "cxone_assist_upstream_retry_after_wait_seconds_count 1",
        r#"cxone_assist_correlations_total{outcome="correlated"} 2"#,
        "cxone_assist_rate_limiter_tokens 0",
        r#"cxone_assist_http_requests_total{route="/simulate-prompt",method="POST",status="429"} 1"#,
        // Explicit buckets, the same on every replica, so they can be summed.
        r#"cxone_assist_delivery_duration_seconds_bucket{le="0.005"}"#,
        r#"cxone_assist_upstream_duration_seconds_bucket{le="0.0005",endpoint="prompts"}"#,
        r#"cxone_assist_http_request_duration_seconds_bucket{le="10.0",route="/simulate-prompt"}"#,
    ] {
        assert!(text.contains(expected), "missing {expected}\n{text}");
    }
}

/// Prompts the breaker turns away never reached the tenant: they are counted as deliveries
/// but not timed, so an outage does not pull the delivery latency percentiles down.
#[tokio::test]
async fn delivery_latency_counts_only_prompts_that_reached_the_tenant() {
    let app = spawn_app_with(|s| {
        s.breaker.failure_threshold = 2;
        s.delivery.max_attempts = 1;
    })
    .await;
    app.mount_tenant(ResponseTemplate::new(503)).await;
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 502);
    for _ in 0..3 {
        let response = app.post_prompt(&prompt_body()).await;
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "upstream_unavailable");
    }
    let text = app.metrics_text().await;
    assert!(
        text.contains("cxone_assist_delivery_duration_seconds_count 1\n"),
        "{text}"
    );
    assert!(text.contains("cxone_assist_deliveries_total{outcome=\"failed\"} 4\n"));
}
