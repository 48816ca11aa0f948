//! Eligibility rules, checked before any network call.

use serde_json::{json, Value};

use crate::helpers::*;

async fn assert_ineligible(app: &TestApp, body: &Value, reason: &str) {
    let response = app.post_prompt(body).await;
    assert_eq!(response.status(), 403);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["code"], "ineligible");
    assert_eq!(error["reason"], reason);
    assert!(app.prompts_received().await.is_empty());
    assert_eq!(
        app.token_requests().await,
        0,
        "no network I/O for an ineligible prompt"
    );
}

#[tokio::test]
async fn the_tutorials_own_example_is_below_the_sentiment_minimum() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let mut body = prompt_body();
    body["sentiment"] = json!(-0.45);
    assert_ineligible(&app, &body, "sentiment -0.45 is below the minimum -0.3").await;
}

#[tokio::test]
async fn an_agent_override_without_the_required_skill_is_refused() {
    let app = spawn_app_with(|s| {
        s.eligibility
            .agents
            .insert("agt_1".into(), vec!["technical_support".into()]);
    })
    .await;
    app.mount_tenant(delivered()).await;
    let mut body = prompt_body();
    body["agentId"] = json!("agt_1");
    assert_ineligible(&app, &body, "agent agt_1 lacks skill billing").await;
}

#[tokio::test]
async fn a_required_skill_outside_the_default_profile_is_refused() {
    let app = spawn_app_with(|s| {
        s.eligibility.required_skills = vec!["billing".into(), "fraud".into()];
    })
    .await;
    app.mount_tenant(delivered()).await;
    assert_ineligible(&app, &prompt_body(), "agent agt_12345678 lacks skill fraud").await;
}

#[tokio::test]
async fn an_agent_with_every_required_skill_gets_the_prompt() {
    let app = spawn_app_with(|s| {
        s.eligibility.required_skills = vec!["fraud".into()];
        s.eligibility
            .agents
            .insert("agt_12345678".into(), vec!["fraud".into()]);
    })
    .await;
    app.mount_tenant(delivered()).await;
    assert_eq!(app.post_prompt(&prompt_body()).await.status(), 200);
}
