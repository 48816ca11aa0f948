//! Idempotency: a repeated key or prompt id replays the first answer, and how long a key is
//! held (a short lease while its request runs, the replay window once it has an answer).

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Connection;
use wiremock::ResponseTemplate;

use crate::helpers::*;

/// `(state, seconds from now until the key expires)` of the only key in the ledger, once
/// there is one (polled for at most two seconds).
async fn key_expiry(app: &TestApp) -> (String, f64) {
    let mut ledger = sqlx::SqliteConnection::connect(app.database_url())
        .await
        .unwrap();
    for _ in 0..100 {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT state, expires_at FROM idempotency_keys")
                .fetch_optional(&mut ledger)
                .await
                .unwrap();
        if let Some((state, expires_at)) = row {
            let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000;
            return (state, (expires_at as f64 - now as f64) / 1e6);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no idempotency key was written");
}

#[tokio::test]
async fn an_in_progress_key_is_leased_for_the_request_not_the_window() {
    let app = spawn_app_with(|s| s.server.request_timeout_ms = 2_000).await;
    app.mount_tenant(delivered().set_delay(Duration::from_millis(500)))
        .await;
    let request = app
        .client
        .post(app.url("/simulate-prompt"))
        .header("idempotency-key", "lease-1")
        .json(&prompt_body())
        .send();
    let (response, (state, lease)) = tokio::join!(request, async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        key_expiry(&app).await
    });
    assert_eq!(state, "in_progress");
    // The 2 s deadline plus a margin for the ledger writes, not the 24 h window: a request
    // that dies with its process blocks retries for seconds, not a day.
    assert!(lease > 1.0 && lease < 60.0, "lease {lease} s");

    assert_eq!(response.unwrap().status(), 200);
    let (state, window) = key_expiry(&app).await;
    assert_eq!(state, "completed");
    assert!(window > 86_000.0, "window {window} s");
}

#[tokio::test]
async fn one_named_prompt_is_sent_once_whatever_keys_it_comes_with() {
    let app = spawn_app().await;
    app.mount_tenant(delivered().set_delay(Duration::from_millis(300)))
        .await;
    let mut body = prompt_body();
    body["promptId"] = serde_json::json!("crm-9001");
    let send = |key: &'static str| {
        app.client
            .post(app.url("/simulate-prompt"))
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let (first, second) = tokio::join!(send("key-a"), send("key-b"));
    let mut statuses = [first.unwrap().status(), second.unwrap().status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409],
        "one delivers, the other is told it is in progress"
    );
    assert_eq!(app.prompts_received().await.len(), 1);

    let again = send("key-c").await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(app.prompts_received().await.len(), 1);
}

async fn post_keyed(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/simulate-prompt"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_repeated_idempotency_key_replays_the_first_answer() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let first = post_keyed(&app, "order-42", &prompt_body()).await;
    assert_eq!(first.status(), 200);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let first: Value = first.json().await.unwrap();

    let again = post_keyed(&app, "order-42", &prompt_body()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.prompts_received().await.len(), 1, "delivered once");
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_a_422() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    assert_eq!(post_keyed(&app, "k-1", &prompt_body()).await.status(), 200);
    let response = post_keyed(&app, "k-1", &with_interaction("int_other")).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "idempotency_key_reused"
    );
}

#[tokio::test]
async fn a_concurrent_duplicate_gets_409_and_is_not_delivered() {
    let app = spawn_app().await;
    app.mount_tenant(delivered().set_delay(Duration::from_millis(400)))
        .await;
    let body = prompt_body();
    let (a, b) = tokio::join!(post_keyed(&app, "dup", &body), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        post_keyed(&app, "dup", &body).await
    });
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 409);
    assert_eq!(b.headers()["retry-after"], "1");
    assert_eq!(app.prompts_received().await.len(), 1);
}

#[tokio::test]
async fn a_failed_delivery_frees_its_key_for_the_retry() {
    let app = spawn_app_with(|s| s.delivery.max_attempts = 1).await;
    app.mount_tenant(ResponseTemplate::new(503)).await;
    assert_eq!(
        post_keyed(&app, "retry-me", &prompt_body()).await.status(),
        502
    );
    app.tenant_recovers().await;
    let response = post_keyed(&app, "retry-me", &prompt_body()).await;
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("idempotent-replayed"));
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_callers_api_key() {
    let (a, b) = ("caller-a-key-0123456789", "caller-b-key-0123456789");
    let app = spawn_app_with(|s| s.auth.api_keys = vec![a.into(), b.into()]).await;
    app.mount_tenant(delivered()).await;
    for key in [a, b] {
        let response = app
            .client
            .post(app.url("/simulate-prompt"))
            .bearer_auth(key)
            .header("idempotency-key", "same")
            .json(&prompt_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(!response.headers().contains_key("idempotent-replayed"));
    }
    assert_eq!(app.prompts_received().await.len(), 2);
}

#[tokio::test]
async fn a_client_supplied_prompt_id_is_used_and_delivered_once() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let mut body = prompt_body();
    body["promptId"] = json!("crm-7781");
    let first = app.post_prompt(&body).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<Value>().await.unwrap()["promptId"], "crm-7781");
    let again = app.post_prompt(&body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let sent = app.prompts_received().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["promptId"], "crm-7781");

    body["content"] = json!("Something else entirely");
    assert_eq!(app.post_prompt(&body).await.status(), 422);
    body["promptId"] = json!("no spaces allowed");
    let bad = app.post_prompt(&body).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["field"], "promptId");
}

#[tokio::test]
async fn a_named_prompt_sent_under_two_api_keys_is_delivered_once() {
    let (a, b) = ("caller-a-key-0123456789", "caller-b-key-0123456789");
    let app = spawn_app_with(|s| s.auth.api_keys = vec![a.into(), b.into()]).await;
    app.mount_tenant(delivered().set_delay(Duration::from_millis(300)))
        .await;
    let mut body = prompt_body();
    body["promptId"] = json!("crm-shared-1");
    let send = |api_key: &'static str| {
        app.client
            .post(app.url("/simulate-prompt"))
            .bearer_auth(api_key)
            .json(&body)
            .send()
    };
    let (first, second) = tokio::join!(send(a), send(b));
    let mut statuses = [first.unwrap().status(), second.unwrap().status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409],
        "the prompt id is one key, whoever sends it"
    );
    assert_eq!(app.prompts_received().await.len(), 1);
}

#[tokio::test]
async fn a_rate_limited_keyed_request_writes_nothing_to_the_ledger() {
    let app = spawn_app_with(|s| {
        s.rate_limit.burst = 1;
        s.rate_limit.per_second = 0.001;
    })
    .await;
    app.mount_tenant(delivered()).await;
    assert_eq!(
        post_keyed(&app, "first", &prompt_body()).await.status(),
        200
    );
    // A write would wait for this lock; a refusal must not.
    let lock = crate::ledgers::SqliteWriteLock::take(app.database_url()).await;
    let refused = tokio::time::timeout(
        Duration::from_secs(1),
        post_keyed(&app, "second", &with_interaction("int_second")),
    )
    .await
    .expect("refused without waiting for the ledger");
    assert_eq!(refused.status(), 429);
    lock.release().await;

    let mut ledger = sqlx::SqliteConnection::connect(app.database_url())
        .await
        .unwrap();
    let keys: Vec<(String,)> = sqlx::query_as("SELECT key FROM idempotency_keys ORDER BY key")
        .fetch_all(&mut ledger)
        .await
        .unwrap();
    assert_eq!(keys, vec![("first".to_owned(),)], "the refusal left no key");
    // The earlier delivery still replays before any limit.
    let again = post_keyed(&app, "first", &prompt_body()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
}
