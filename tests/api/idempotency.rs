//! How long an Idempotency-Key is held: a short lease while its request runs, the replay
//! window once it has an answer.

use std::time::Duration;

use sqlx::Connection;

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
