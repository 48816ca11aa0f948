//! What a record keeps of a prompt: the content delivered, its hash, and the outcome of a
//! retry with the same client-supplied id.

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

    let record: Value = app
        .get_prompt(body["promptId"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["fallback"], true);
    assert_eq!(record["content"], FALLBACK_CONTENT);
    assert_eq!(record["contentHash"], sha256(FALLBACK_CONTENT));
}

#[tokio::test]
async fn with_store_content_off_a_record_keeps_only_the_hash() {
    let app = spawn_app_with(|s| s.store.store_content = false).await;
    app.mount_tenant(delivered()).await;
    let body: Value = app.post_prompt(&prompt_body()).await.json().await.unwrap();

    let record: Value = app
        .get_prompt(body["promptId"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["status"], "delivered");
    assert!(record["content"].is_null(), "{record}");
    let content = prompt_body()["content"].as_str().unwrap().to_owned();
    assert_eq!(record["contentHash"], sha256(&content));
    assert_eq!(record["contentHash"].as_str().unwrap().len(), 64);
}
