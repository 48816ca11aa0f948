//! Inbound auth, overload protection, the circuit breaker and the tenant's 429 cooldown.

use std::time::Duration;

use futures::future::join_all;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::{
    matchers::{method, path},
    Mock, ResponseTemplate,
};

use crate::helpers::*;

const KEY: &str = "inbound-key-0123456789";

async fn post_with_key(app: &TestApp, key: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/simulate-prompt"))
        .json(&prompt_body());
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn with_keys_configured_every_api_route_needs_one() {
    let app = spawn_app_with(|s| {
        s.auth.api_keys = vec![KEY.into(), "another-key-0123456789".into()];
    })
    .await;
    app.mount_tenant(delivered()).await;

    for key in [
        None,
        Some("wrong-key-000000000000"),
        Some("inbound-key-012345678"),
    ] {
        let response = post_with_key(&app, key).await;
        assert_eq!(response.status(), 401, "{key:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized");
    }
    assert_eq!(app.get("/prompts/whatever").await.status(), 401);
    assert!(app.prompts_received().await.is_empty());

    assert_eq!(post_with_key(&app, Some(KEY)).await.status(), 200);
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(app.get(open).await.status(), 200, "{open} needs no key");
    }
    assert_eq!(
        app.get("/nowhere").await.status(),
        404,
        "unknown routes stay 404"
    );
}

#[tokio::test]
async fn without_keys_the_api_is_open() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    assert_eq!(post_with_key(&app, None).await.status(), 200);
}

#[tokio::test]
async fn a_burst_beyond_the_in_flight_bound_gets_fast_503s_while_health_stays_up() {
    let app = spawn_app_with(|s| s.server.max_in_flight = 2).await;
    app.mount_tenant(delivered().set_delay(Duration::from_millis(500)))
        .await;

    let body = prompt_body();
    let burst = join_all((0..6).map(|_| app.post_prompt(&body)));
    let health = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        app.get("/healthz").await.status()
    };
    let (responses, health) = tokio::join!(burst, health);
    assert_eq!(health, 200);
    let ok = responses.iter().filter(|r| r.status() == 200).count();
    let overloaded: Vec<_> = responses.iter().filter(|r| r.status() == 503).collect();
    assert_eq!(ok, 2, "only the permitted requests were delivered");
    assert_eq!(overloaded.len(), 4);
    assert!(overloaded.iter().all(|r| r.headers()["retry-after"] == "1"));
    assert!(app
        .metrics_text()
        .await
        .contains("cxone_assist_overload_rejections_total 4"));
}

#[tokio::test]
async fn the_breaker_opens_fails_fast_and_half_opens_after_the_cooldown() {
    let app = spawn_app_with(|s| {
        s.breaker.failure_threshold = 3;
        s.breaker.cooldown_ms = 30_000;
        s.delivery.max_attempts = 1;
    })
    .await;
    app.mount_tenant(ResponseTemplate::new(503)).await;

    // Two requests: primary and fallback each fail once: 4 consecutive failures.
    for _ in 0..2 {
        assert_eq!(app.post_prompt(&prompt_body()).await.status(), 502);
    }
    let sent = app.prompts_received().await.len();
    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["retry-after"], "30");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_unavailable");
    assert_eq!(
        app.prompts_received().await.len(),
        sent,
        "failed fast: nothing sent"
    );
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["checks"]["breaker"], "open");
    assert!(app
        .metrics_text()
        .await
        .contains("cxone_assist_circuit_breaker_state 2"));

    app.tenant_recovers().await;
    app.clock.advance(Duration::from_secs(30));
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["checks"]["breaker"], "half_open");
    assert_eq!(
        app.post_prompt(&prompt_body()).await.status(),
        200,
        "the probe"
    );
    let ready: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["checks"]["breaker"], "closed");
}

#[tokio::test]
async fn a_tenant_429_holds_back_a_concurrent_request_until_the_cooldown_ends() {
    let app = spawn_app().await;
    app.mount_token().await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&app.tenant)
        .await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(delivered())
        .mount(&app.tenant)
        .await;

    let body = prompt_body();
    let first = app.post_prompt(&body);
    let second = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let during = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            app.prompts_received().await.len()
        };
        tokio::join!(app.post_prompt(&body), during)
    };
    let (first, (second, sent_during_cooldown)) = tokio::join!(first, second);
    assert_eq!(
        sent_during_cooldown, 1,
        "the second request waited instead of meeting a 429"
    );
    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 200);
    assert_eq!(app.prompts_received().await.len(), 3);
}

#[tokio::test]
async fn a_cooldown_past_the_deadline_fails_later_requests_fast_and_is_capped() {
    let app = spawn_app_with(|s| {
        s.server.request_timeout_ms = 1_000;
        s.delivery.retry_after_max_ms = 30_000;
    })
    .await;
    app.mount_tenant(ResponseTemplate::new(429).insert_header("retry-after", "60"))
        .await;
    let first = app.post_prompt(&prompt_body()).await;
    assert_eq!(first.status(), 429);
    assert_eq!(
        first.headers()["retry-after"],
        "60",
        "the tenant's own value is passed on"
    );
    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (28..=30).contains(&retry_after),
        "capped at retry_after_max: {retry_after}"
    );
    assert_eq!(
        app.prompts_received().await.len(),
        1,
        "the second never reached the tenant"
    );
}

#[tokio::test]
async fn a_connection_that_sends_no_headers_is_closed() {
    let app = spawn_app_with(|s| s.server.header_read_timeout_ms = 200).await;
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    stream
        .write_all(b"POST /simulate-prompt HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut buffer)).await;
    assert!(
        read.is_ok(),
        "the server closed the connection within the timeout"
    );
}

#[tokio::test]
async fn a_body_that_never_finishes_arriving_gets_408() {
    let app = spawn_app_with(|s| {
        s.server.request_timeout_ms = 200;
        s.server.http_timeout_ms = 400;
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(app.address).await.unwrap();
    stream
        .write_all(
            b"POST /simulate-prompt HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"interactionId\"",
        )
        .await
        .unwrap();
    let mut buffer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buffer))
        .await
        .expect("answered before the client gave up")
        .unwrap();
    let response = String::from_utf8_lossy(&buffer[..n]);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(
        response.contains(r#""code":"request_timeout""#),
        "{response}"
    );
}

#[tokio::test]
async fn an_absurd_retry_after_is_survived_and_capped() {
    let app = spawn_app().await;
    app.mount_tenant(
        ResponseTemplate::new(429).insert_header("retry-after", "99999999999999999999999"),
    )
    .await;
    let response = app.post_prompt(&prompt_body()).await;
    assert_eq!(response.status(), 429);
    assert_eq!(
        app.get("/healthz").await.status(),
        200,
        "no panic took the service down"
    );
    let again = app.post_prompt(&prompt_body()).await;
    let retry_after: u64 = again.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after <= 30, "{retry_after}");
}
