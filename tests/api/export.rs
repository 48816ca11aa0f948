//! An export that fails part-way must not look complete.

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
