//! The seeded faults: what a client sees for each kind, reproducibility, and healing.

use std::time::{Duration, SystemTime};

use axum::http::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::tenant::{HttpClient, HttpClientOptions, TransportError};

/// A fake whose every prompt POST gets the fault `faults` gives a rate of 1.
async fn faulty(faults: FakeTenantFaults) -> Harness {
    Harness::start(FakeTenantSettings {
        retry_after_secs: 7,
        faults,
        ..quick()
    })
    .await
}

#[tokio::test]
async fn server_errors_are_5xx_of_several_kinds() {
    let h = faulty(FakeTenantFaults {
        server_error_rate: 1.0,
        ..FakeTenantFaults::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let (status, _, body) = h.prompt(&h.bearer, "ix-f1").await;
        assert_eq!(body, json!({"error": "server_error"}));
        statuses.push(status.as_u16());
    }
    assert!(
        statuses.iter().all(|s| [500, 502, 503, 504].contains(s)),
        "{statuses:?}"
    );
    statuses.dedup();
    assert!(statuses.len() > 1, "one kind only: {statuses:?}");
    assert_eq!(h.fake.faults_served().server_errors, 20);
    h.fake.stop().await;
}

#[tokio::test]
async fn retry_after_in_seconds_is_the_configured_wait() {
    let h = faulty(FakeTenantFaults {
        retry_after_seconds_rate: 1.0,
        ..FakeTenantFaults::default()
    })
    .await;
    let (status, headers, _) = h.prompt(&h.bearer, "ix-f2").await;
    assert_eq!(
        (status, headers["retry-after"].to_str().ok()),
        (StatusCode::TOO_MANY_REQUESTS, Some("7"))
    );
    h.fake.stop().await;
}

#[tokio::test]
async fn retry_after_as_a_date_is_the_configured_wait_from_now() {
    let h = faulty(FakeTenantFaults {
        retry_after_date_rate: 1.0,
        ..FakeTenantFaults::default()
    })
    .await;
    let (status, headers, _) = h.prompt(&h.bearer, "ix-f3").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let date = httpdate::parse_http_date(headers["retry-after"].to_str().unwrap()).unwrap();
    let wait = date.duration_since(SystemTime::now()).unwrap_or_default();
    // Whole seconds: up to one second shorter than asked, never longer.
    assert!(
        wait > Duration::from_secs(5) && wait <= Duration::from_secs(7),
        "{wait:?}"
    );
    h.fake.stop().await;
}

#[tokio::test]
async fn a_429_without_the_header_has_none() {
    let h = faulty(FakeTenantFaults {
        rate_limited_without_header_rate: 1.0,
        ..FakeTenantFaults::default()
    })
    .await;
    let (status, headers, body) = h.prompt(&h.bearer, "ix-f4").await;
    assert_eq!(
        (status, body),
        (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "rate_limited"})
        )
    );
    assert!(!headers.contains_key("retry-after"));
    h.fake.stop().await;
}

#[tokio::test]
async fn a_reset_closes_the_connection_with_no_answer_at_all() {
    let h = faulty(FakeTenantFaults {
        connection_reset_rate: 1.0,
        ..FakeTenantFaults::default()
    })
    .await;
    // The service's own client sees a broken exchange, not a status.
    let client = HttpClient::new(&HttpClientOptions {
        connect_timeout: Duration::from_secs(2),
        pool_idle_timeout: Duration::from_secs(10),
    })
    .unwrap();
    let body = json!({ "interactionId": "ix-f5", "promptId": "p", "content": "c" }).to_string();
    let url = url::Url::parse(&format!("{}{PROMPTS}", h.fake.url())).unwrap();
    let request = (client.request(Method::POST, url))
        .header("authorization", format!("Bearer {}", h.bearer))
        .header("content-type", "application/json")
        .body(body.clone());
    let sent = client.send(request, Duration::from_secs(2)).await;
    assert_eq!(sent.unwrap_err(), TransportError::Broken);

    // On the wire: not one byte comes back before the close.
    let mut stream = tokio::net::TcpStream::connect(h.fake.local_addr())
        .await
        .unwrap();
    let head = format!(
        "POST {PROMPTS} HTTP/1.1\r\nhost: fake\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        h.bearer,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut received));
    let _ = read.await.expect("the fake closed the connection");
    assert_eq!(String::from_utf8_lossy(&received), "");
    assert_eq!(h.fake.faults_served().connection_resets, 2);
    h.fake.stop().await;
}

#[tokio::test]
async fn a_hang_answers_only_after_its_delay() {
    let h = faulty(FakeTenantFaults {
        hang_rate: 1.0,
        hang_ms: 400,
        ..FakeTenantFaults::default()
    })
    .await;
    let body = json!({ "interactionId": "ix-f6", "promptId": "p", "content": "c" });
    let request = h.post(PROMPTS).bearer_auth(&h.bearer).json(&body);
    let cut_short = request
        .try_clone()
        .unwrap()
        .timeout(Duration::from_millis(100));
    assert!(cut_short.send().await.unwrap_err().is_timeout());
    let started = std::time::Instant::now();
    let (status, _, _) = send(request).await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a slow tenant, not a failing one"
    );
    h.fake.stop().await;
}

#[tokio::test]
async fn token_requests_are_answered_503_at_the_token_rate() {
    let settings = FakeTenantSettings {
        faults: FakeTenantFaults {
            token_unavailable_rate: 1.0,
            ..FakeTenantFaults::default()
        },
        ..quick()
    };
    let fake = FakeTenant::start(SocketAddr::from(([127, 0, 0, 1], 0)), settings)
        .await
        .unwrap();
    let token = Client::new()
        .post(format!("{}{TOKEN}", fake.url()))
        .form(&GRANT);
    let (status, _, body) = send(token).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "temporarily_unavailable"})
        )
    );
    assert_eq!(fake.faults_served().token_unavailable, 1);
    fake.stop().await;
}

/// The statuses of `count` prompt POSTs, one after the other, to a fake with a mixed plan.
async fn statuses_for_seed(seed: u64, count: usize) -> Vec<u16> {
    let h = faulty(FakeTenantFaults {
        seed,
        server_error_rate: 0.3,
        rate_limited_without_header_rate: 0.3,
        ..FakeTenantFaults::default()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..count {
        statuses.push(h.prompt(&h.bearer, "ix-f7").await.0.as_u16());
    }
    h.fake.stop().await;
    statuses
}

#[tokio::test]
async fn the_same_seed_serves_the_same_answers() {
    let first = statuses_for_seed(42, 30).await;
    assert_eq!(statuses_for_seed(42, 30).await, first);
    assert_ne!(statuses_for_seed(43, 30).await, first);
    for status in [201, 429] {
        assert!(first.contains(&status), "{status} missing from {first:?}");
    }
    assert!(first.iter().any(|s| *s >= 500), "no 5xx in {first:?}");
}

#[tokio::test]
async fn a_healed_fake_answers_like_a_healthy_one() {
    let h = faulty(FakeTenantFaults {
        server_error_rate: 1.0,
        ..FakeTenantFaults::default()
    })
    .await;
    assert!(h.prompt(&h.bearer, "ix-f8").await.0.is_server_error());
    let (status, _, _) = send(h.post("/_fake/heal")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h.prompt(&h.bearer, "ix-f8").await.0, StatusCode::CREATED);
    h.fake.stop().await;

    let settings = FakeTenantSettings {
        failure_rate: 1.0,
        faults: FakeTenantFaults {
            token_unavailable_rate: 1.0,
            ..FakeTenantFaults::default()
        },
        ..quick()
    };
    let fake = FakeTenant::start(SocketAddr::from(([127, 0, 0, 1], 0)), settings);
    let fake = fake.await.unwrap();
    let token = || {
        Client::new()
            .post(format!("{}{TOKEN}", fake.url()))
            .form(&GRANT)
    };
    assert_eq!(send(token()).await.0, StatusCode::SERVICE_UNAVAILABLE);
    fake.heal();
    let (status, _, body) = send(token()).await;
    assert_eq!(status, StatusCode::OK);
    // The older, unseeded failure rate stops too.
    let bearer = body["access_token"].as_str().unwrap();
    let prompt = json!({ "interactionId": "ix-f9", "promptId": "p", "content": "c" });
    let post = Client::new().post(format!("{}{PROMPTS}", fake.url()));
    assert_eq!(
        send(post.bearer_auth(bearer).json(&prompt)).await.0,
        StatusCode::CREATED
    );
    fake.stop().await;
}
