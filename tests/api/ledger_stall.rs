//! A ledger that cannot commit (a table lock held by the test) delays no answer past the
//! request deadline plus a small bound: the prompt is answered 200 saying its record is not
//! yet written, a retry of its key replays that answer, the record lands once the ledger
//! recovers, and readiness says the ledger cannot commit meanwhile.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{
    helpers::*,
    ledgers::{postgres_schema, PromptsTableLock, SqliteWriteLock},
};

/// The deadline the tests set, and the most an answer may take beyond it.
const DEADLINE_MS: u64 = 1_000;
const ANSWER_BOUND: Duration = Duration::from_millis(DEADLINE_MS + 2_000);

async fn post_keyed(app: &TestApp, key: &str) -> reqwest::Response {
    app.client
        .post(app.url("/simulate-prompt"))
        .header("idempotency-key", key)
        .json(&prompt_body())
        .send()
        .await
        .unwrap()
}

async fn within_bound(answer: impl std::future::Future<Output = reqwest::Response>) -> Value {
    let started = Instant::now();
    let response = tokio::time::timeout(ANSWER_BOUND, answer)
        .await
        .expect("answered within the deadline plus the bound");
    assert_eq!(response.status(), 200, "after {:?}", started.elapsed());
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_keyed_prompt_is_answered_while_prompts_is_locked_and_its_retry_replays() {
    let Some(database_url) = postgres_schema().await else {
        eprintln!("skipping PostgreSQL: TEST_DATABASE_URL is not set");
        return;
    };
    let app = spawn_app_with(|s| {
        s.store.database_url = database_url.clone();
        s.server.request_timeout_ms = DEADLINE_MS;
    })
    .await;
    app.mount_tenant(delivered()).await;
    let lock = PromptsTableLock::take(&database_url).await;

    let first = within_bound(post_keyed(&app, "stalled-1")).await;
    assert_eq!(first["recorded"], false, "{first}");
    let retry = post_keyed(&app, "stalled-1").await;
    assert_eq!(retry.status(), 200);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(
        retry.json::<Value>().await.unwrap()["promptId"],
        first["promptId"]
    );
    assert_eq!(app.prompts_received().await.len(), 1, "delivered once");

    lock.release().await;
    let id = first["promptId"].as_str().unwrap();
    let record = app
        .wait_for_record(id, |r| r["status"] == "delivered")
        .await;
    assert_eq!(
        record["status"], "delivered",
        "written once the ledger recovered"
    );
}

#[tokio::test]
async fn a_prompt_is_answered_while_the_sqlite_ledger_is_locked_and_recorded_after() {
    let app = spawn_app_with(|s| s.server.request_timeout_ms = DEADLINE_MS).await;
    app.mount_tenant(delivered()).await;
    let lock = SqliteWriteLock::take(app.database_url()).await;

    let answer = within_bound(app.post_prompt(&prompt_body())).await;
    assert_eq!(answer["recorded"], false, "{answer}");
    let metrics = app.metrics_text().await;
    assert!(
        metrics.contains("cxone_assist_ledger_records_awaiting_commit 1"),
        "{metrics}"
    );

    lock.release().await;
    let id = answer["promptId"].as_str().unwrap();
    let record = app
        .wait_for_record(id, |r| r["status"] == "delivered")
        .await;
    assert_eq!(
        record["status"], "delivered",
        "written once the ledger recovered"
    );
    let committed = within_bound(app.post_prompt(&prompt_body())).await;
    assert_eq!(committed["recorded"], true, "{committed}");
}

#[tokio::test]
async fn readiness_reports_a_ledger_that_cannot_commit() {
    let app = spawn_app_with(|s| s.server.request_timeout_ms = DEADLINE_MS).await;
    app.mount_tenant(delivered()).await;
    let lock = SqliteWriteLock::take(app.database_url()).await;

    within_bound(app.post_prompt(&prompt_body())).await;
    // The commit has waited since the delivery; past the stall limit readiness says so.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    let store = body["checks"]["store"].as_str().unwrap_or_default();
    assert!(store.starts_with("cannot commit"), "{body}");

    lock.release().await;
    let mut status = 0;
    for _ in 0..50 {
        status = app.get("/readyz").await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert_eq!(status, 200, "ready again once commits go through");
}
