//! The export: every record as JSON lines or CSV, and an export that fails part-way must not
//! look complete.

use serde_json::Value;
use sqlx::Connection;

use crate::helpers::*;

/// GETs `path`; `Ok` only when the whole body arrived (the status line may have gone out
/// before the failure, and the connection may break before or after it).
async fn complete_body(app: &TestApp, path: &str) -> Result<String, reqwest::Error> {
    app.client.get(app.url(path)).send().await?.text().await
}

#[tokio::test]
async fn a_store_error_mid_export_aborts_the_body() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
    assert!(complete_body(&app, "/prompts/export").await.is_ok());

    // Reading a batch's attempts now fails, after the CSV header has been sent.
    let mut ledger = sqlx::SqliteConnection::connect(app.database_url())
        .await
        .unwrap();
    sqlx::query("DROP TABLE prompt_attempts")
        .execute(&mut ledger)
        .await
        .unwrap();

    for path in ["/prompts/export?format=csv", "/prompts/export"] {
        let body = complete_body(&app, path).await;
        assert!(body.is_err(), "{path} ended cleanly: {body:?}");
    }
    // The service is still answering.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn export_round_trips_as_json_lines_and_csv() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(app.deliver(&with_interaction(&format!("int_{i}"))).await);
    }
    let response = app.get("/prompts/export").await;
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let text = response.text().await.unwrap();
    let exported: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let exported_ids: Vec<&str> = exported
        .iter()
        .map(|r| r["promptId"].as_str().unwrap())
        .collect();
    assert_eq!(exported_ids, ids, "oldest first");
    assert_eq!(exported[0]["attempts"].as_array().unwrap().len(), 1);

    let csv = app
        .get("/prompts/export?format=csv")
        .await
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("promptId,primaryPromptId,interactionId"));
    assert_eq!(lines.len(), 4);
    assert!(lines[1].starts_with(&ids[0]));
    assert!(
        lines[1].ends_with(",Customer has exceeded return window. Suggest loyalty credit instead.")
    );
}
