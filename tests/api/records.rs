//! What a record keeps of a prompt: the content delivered, its hash, and the outcome of a
//! retry under the same client-supplied id.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use wiremock::{
    matchers::{body_partial_json, method, path},
    Mock, ResponseTemplate,
};

use crate::helpers::*;

const FALLBACK_CONTENT: &str = "Please verify account details before proceeding.";

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The tenant refuses every HIGH (primary) prompt and takes every LOW (fallback) one.
async fn mount_failing_primary(app: &TestApp) {
    app.mount_token().await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .and(body_partial_json(json!({"priority": "LOW"})))
        .respond_with(delivered())
        .mount(&app.tenant)
        .await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(ResponseTemplate::new(500))
        .mount(&app.tenant)
        .await;
}

#[tokio::test]
async fn a_fallback_record_keeps_the_fallback_content_and_its_hash() {
    let app = spawn_app().await;
    mount_failing_primary(&app).await;
    let body: Value = app.post_prompt(&prompt_body()).await.json().await.unwrap();
    assert_eq!(body["fallback"], true);

    let record = app.record(body["promptId"].as_str().unwrap()).await;
    assert_eq!(record["fallback"], true);
    assert_eq!(record["content"], FALLBACK_CONTENT);
    assert_eq!(record["contentHash"], sha256(FALLBACK_CONTENT));
}

#[tokio::test]
async fn with_store_content_off_a_record_keeps_only_the_hash() {
    let app = spawn_app_with(|s| s.store.store_content = false).await;
    app.mount_tenant(delivered()).await;
    let id = app.deliver(&prompt_body()).await;

    let record = app.record(&id).await;
    assert_eq!(record["status"], "delivered");
    assert!(record["content"].is_null(), "{record}");
    let content = prompt_body()["content"].as_str().unwrap().to_owned();
    assert_eq!(record["contentHash"], sha256(&content));
    assert_eq!(record["contentHash"].as_str().unwrap().len(), 64);
}

#[tokio::test]
async fn a_retry_of_a_failed_prompt_id_records_its_delivery() {
    let app = spawn_app_with(|s| s.delivery.max_attempts = 1).await;
    app.mount_tenant(ResponseTemplate::new(503)).await;
    let mut body = prompt_body();
    body["promptId"] = json!("crm-retry-1");
    assert_eq!(app.post_prompt(&body).await.status(), 502);
    let record: Value = app.get_prompt("crm-retry-1").await.json().await.unwrap();
    assert_eq!(record["status"], "failed");

    app.tenant_recovers().await;
    let response = app.post_prompt(&body).await;
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("idempotent-replayed"));

    let record: Value = app.get_prompt("crm-retry-1").await.json().await.unwrap();
    assert_eq!(record["status"], "delivered", "{record}");
    assert!(record["failure"].is_null());
    let outcomes: Vec<&str> = record["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes.len(),
        3,
        "primary and fallback of the failure, then the delivery"
    );
    assert_eq!(outcomes[2], "delivered");
    assert_ne!(outcomes[0], "delivered");
    // Its correlation job was queued with it (no transcript yet, so it is still there).
    assert_eq!(app.store().await.pending_correlations().await.unwrap(), 1);

    // Delivered now: another request for the prompt, even under a fresh Idempotency-Key,
    // is answered from the record and neither re-sent nor recorded over it.
    let again = app
        .client
        .post(app.url("/simulate-prompt"))
        .header("idempotency-key", "another-key")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(
        again.json::<Value>().await.unwrap()["promptId"],
        "crm-retry-1"
    );
    assert_eq!(
        app.prompts_received().await.len(),
        1,
        "sent once since the reset"
    );
    let unchanged: Value = app.get_prompt("crm-retry-1").await.json().await.unwrap();
    assert_eq!(unchanged["attempts"], record["attempts"]);
}
