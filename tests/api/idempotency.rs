//! How long an Idempotency-Key is held: a short lease while its request runs, the replay
//! window once it has an answer.

use std::time::Duration;

use sqlx::Connection;

use crate::helpers::*;

/// `(state, seconds from now until the key expires)` of the only key in the ledger.
async fn key_expiry(app: &TestApp) -> (String, f64) {
    let mut ledger = sqlx::SqliteConnection::connect(app.database_url())
        .await
        .unwrap();
    let (state, expires_at): (String, i64) =
        sqlx::query_as("SELECT state, expires_at FROM idempotency_keys")
            .fetch_one(&mut ledger)
            .await
            .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000;
    (state, (expires_at as f64 - now as f64) / 1e6)
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
        tokio::time::sleep(Duration::from_millis(200)).await;
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
