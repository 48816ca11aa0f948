use super::*;
use reqwest::{header::HeaderMap, Client, RequestBuilder, StatusCode};
use serde_json::{json, Value};

const TOKEN: &str = "/api/v2/oauth/token";
const PROMPTS: &str = "/api/v2/agentassist/prompts";
const GRANT: [(&str, &str); 3] = [
    ("grant_type", "client_credentials"),
    ("client_id", "id"),
    ("client_secret", "secret"),
];

/// A started fake, one pooled client and a token issued to it.
struct Harness {
    fake: FakeTenant,
    client: Client,
    bearer: String,
}

/// Sends `request`; the body is `Value::Null` when it is not JSON.
async fn send(request: RequestBuilder) -> (StatusCode, HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

impl Harness {
    async fn start(settings: FakeTenantSettings) -> Harness {
        let fake = FakeTenant::start(SocketAddr::from(([127, 0, 0, 1], 0)), settings);
        let (fake, client) = (fake.await.unwrap(), Client::new());
        let (status, _, body) =
            send(client.post(format!("{}{TOKEN}", fake.url())).form(&GRANT)).await;
        assert_eq!(status, StatusCode::OK);
        let bearer = body["access_token"].as_str().unwrap().to_owned();
        Harness {
            fake,
            client,
            bearer,
        }
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(format!("{}{path}", self.fake.url()))
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(format!("{}{path}", self.fake.url()))
    }

    async fn prompt(&self, bearer: &str, ix: &str) -> (StatusCode, HeaderMap, Value) {
        let body = json!({ "interactionId": ix, "promptId": "p-1", "content": "Offer a refund" });
        send(self.post(PROMPTS).bearer_auth(bearer).json(&body)).await
    }

    async fn transcript(&self, bearer: &str, ix: &str) -> (StatusCode, Value) {
        let path = format!("/api/v2/interactions/{ix}/transcripts");
        let (status, _, body) = send(self.get(&path).bearer_auth(bearer)).await;
        (status, body)
    }
}

fn quick() -> FakeTenantSettings {
    FakeTenantSettings {
        latency_ms: 0,
        ..FakeTenantSettings::default()
    }
}

#[tokio::test]
async fn issues_tokens_and_requires_bearer() {
    let h = Harness::start(quick()).await;
    let scoped = [("scope", "x y"), GRANT[0], GRANT[1], GRANT[2]];
    let (status, headers, body) = send(h.post(TOKEN).form(&scoped)).await;
    assert_eq!(
        (status, headers["cache-control"].to_str().ok()),
        (StatusCode::OK, Some("no-store"))
    );
    assert!(body["access_token"].as_str().unwrap().starts_with("fake_"));
    assert_eq!(
        (&body["token_type"], &body["expires_in"], &body["scope"]),
        (&json!("Bearer"), &json!(3600), &json!("x y"))
    );
    let (status, _, body) = send(h.post(TOKEN).form(&[("grant_type", "password")])).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"error": "unsupported_grant_type"})
        )
    );
    let (status, _, body) = send(h.post(TOKEN).form(&GRANT[..2])).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!({"error": "invalid_request"}))
    );

    let (status, headers, body) = send(h.post(PROMPTS).json(&json!({}))).await;
    assert_eq!(
        (status, body),
        (StatusCode::UNAUTHORIZED, json!({"error": "invalid_token"}))
    );
    assert!(headers.contains_key("www-authenticate"));
    assert_eq!(
        h.prompt("fake_unknown", "i").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        h.transcript("fake_unknown", "i").await.0,
        StatusCode::UNAUTHORIZED
    );
    let stats = h.fake.stats();
    assert_eq!(
        (stats.token_requests, stats.prompts, stats.transcripts),
        (4, 0, 0)
    );
    h.fake.stop().await;
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let h = Harness::start(FakeTenantSettings {
        token_lifetime_secs: 0,
        ..quick()
    })
    .await;
    assert_eq!(h.prompt(&h.bearer, "i").await.0, StatusCode::UNAUTHORIZED);
    h.fake.stop().await;
}

#[tokio::test]
async fn prompt_is_delivered_and_echoes_prompt_id() {
    let h = Harness::start(quick()).await;
    let (status, _, body) = h.prompt(&h.bearer, "ix-1").await;
    assert_eq!(
        (status, &body["promptId"], &body["status"]),
        (StatusCode::CREATED, &json!("p-1"), &json!("DELIVERED"))
    );
    let rfc3339 = &time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(body["deliveredAt"].as_str().unwrap(), rfc3339).unwrap();

    let partial = json!({ "interactionId": "ix-1", "promptId": "p-2" });
    let (status, _, body) = send(h.post(PROMPTS).bearer_auth(&h.bearer).json(&partial)).await;
    assert_eq!(
        (status, &body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid_request"))
    );
    assert!(body["message"].as_str().unwrap().contains("content"));
    let (status, _, _) = send(h.post(PROMPTS).bearer_auth(&h.bearer).body("{not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    h.fake.stop().await;
}

#[tokio::test]
async fn transcript_appears_after_delay() {
    let h = Harness::start(FakeTenantSettings {
        transcript_delay_ms: 50,
        ..quick()
    })
    .await;
    let not_found = (StatusCode::NOT_FOUND, json!({"error": "not_found"}));
    assert_eq!(h.transcript(&h.bearer, "ix-2").await, not_found);
    assert_eq!(h.prompt(&h.bearer, "ix-2").await.0, StatusCode::CREATED);
    assert_eq!(h.transcript(&h.bearer, "ix-2").await, not_found);
    tokio::time::sleep(Duration::from_millis(120)).await;
    let (status, body) = h.transcript(&h.bearer, "ix-2").await;
    assert_eq!(
        (status, &body["id"], &body["interactionId"]),
        (StatusCode::OK, &json!("tr_ix-2"), &json!("ix-2"))
    );
    assert_eq!(body["status"], "AVAILABLE");
    assert!(body["createdAt"].is_string());
    assert_eq!(
        (
            &body["segments"][0]["speaker"],
            &body["segments"][1]["speaker"]
        ),
        (&json!("AGENT"), &json!("CUSTOMER"))
    );
    assert_eq!(h.fake.stats().transcripts, 3);
    h.fake.stop().await;
}

#[tokio::test]
async fn failure_rate_one_gives_503_and_records_nothing() {
    let h = Harness::start(FakeTenantSettings {
        failure_rate: 1.0,
        transcript_delay_ms: 0,
        ..quick()
    })
    .await;
    let (status, _, body) = h.prompt(&h.bearer, "ix-3").await;
    assert_eq!(
        (status, body),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "service_unavailable"})
        )
    );
    // A failed delivery does not start the transcript clock.
    assert_eq!(
        h.transcript(&h.bearer, "ix-3").await.0,
        StatusCode::NOT_FOUND
    );
    h.fake.stop().await;
}

#[tokio::test]
async fn rate_limited_rate_one_gives_429_with_retry_after() {
    let h = Harness::start(FakeTenantSettings {
        rate_limited_rate: 1.0,
        retry_after_secs: 7,
        ..quick()
    })
    .await;
    let (status, headers, body) = h.prompt(&h.bearer, "ix-4").await;
    assert_eq!(
        (status, body),
        (
            StatusCode::TOO_MANY_REQUESTS,
            json!({"error": "rate_limited"})
        )
    );
    assert_eq!(headers["retry-after"], "7");
    h.fake.stop().await;
}

#[tokio::test]
async fn stats_count_requests_and_connections() {
    let h = Harness::start(quick()).await;
    h.prompt(&h.bearer, "ix-5").await;
    h.prompt(&h.bearer, "ix-5").await;
    h.transcript(&h.bearer, "ix-5").await;
    let (_, _, served) = send(h.get("/_fake/stats")).await;
    let expected = json!({"tokenRequests": 1, "prompts": 2, "transcripts": 1, "connections": 1,
        "agentMessagePosts": 0, "agentMessagesDelivered": 0, "agentMessagesDeleted": 0,
        "agentMessageLists": 0, "customEvents": 0, "contactLookups": 0});
    assert_eq!(served, expected);
    // A second client cannot reuse the first one's pooled connection.
    send(Client::new().get(format!("{}/_fake/stats", h.fake.url()))).await;
    let expected = FakeTenantStats {
        token_requests: 1,
        prompts: 2,
        transcripts: 1,
        connections: 2,
        ..FakeTenantStats::default()
    };
    assert_eq!(h.fake.stats(), expected);
    h.fake.stop().await;
}

#[tokio::test]
async fn unknown_routes_answer_json_404() {
    let h = Harness::start(quick()).await;
    let (status, _, body) = send(h.get("/nope")).await;
    assert_eq!(
        (status, body),
        (StatusCode::NOT_FOUND, json!({"error": "not_found"}))
    );
    h.fake.stop().await;
}

#[tokio::test]
async fn stop_lets_in_flight_answers_finish() {
    let h = Harness::start(FakeTenantSettings {
        latency_ms: 300,
        ..quick()
    })
    .await;
    let body = json!({ "interactionId": "i", "promptId": "p", "content": "c" });
    let in_flight = tokio::spawn(send(h.post(PROMPTS).bearer_auth(&h.bearer).json(&body)));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let addr = h.fake.local_addr();
    h.fake.stop().await;
    assert_eq!(in_flight.await.unwrap().0, StatusCode::CREATED);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn url_maps_wildcard_to_loopback() {
    let fake = FakeTenant::start(SocketAddr::from(([0, 0, 0, 0], 0)), quick())
        .await
        .unwrap();
    assert_eq!(
        fake.url(),
        format!("http://127.0.0.1:{}", fake.local_addr().port())
    );
    fake.stop().await;
}

mod faults;
