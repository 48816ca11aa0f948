//! The committed API description stays what the code generates and serves.

use serde_json::Value;

use crate::helpers::*;

const REGENERATE: &str = "regenerate it with `cargo run -- openapi > openapi.json`";

fn committed() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"))
        .expect("openapi.json is committed")
}

#[test]
fn the_committed_document_matches_the_code() {
    assert!(
        committed() == cxone_assist::openapi::document(),
        "openapi.json is stale: {REGENERATE}"
    );
}

#[tokio::test]
async fn the_service_serves_the_committed_document() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let served: Value = response.json().await.unwrap();
    let committed: Value = serde_json::from_str(&committed()).unwrap();
    assert!(
        served == committed,
        "the served document differs from openapi.json: {REGENERATE}"
    );
    for path in [
        "/simulate-prompt",
        "/prompts/{prompt_id}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(served["paths"][path].is_object(), "{path} is documented");
    }
}
