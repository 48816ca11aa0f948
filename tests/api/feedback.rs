//! Agent feedback on delivered prompts, and the acceptance rates `/stats` derives from it.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;

async fn feedback(app: &TestApp, prompt_id: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/prompts/{prompt_id}/feedback")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn feedback_is_recorded_once_per_outcome_and_checked() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let id = app.deliver(&prompt_body()).await;

    let first = feedback(
        &app,
        &id,
        json!({"outcome": "displayed", "agentId": "agt_12345678"}),
    )
    .await;
    assert_eq!(first.status(), 201);
    assert_eq!(first.json::<Value>().await.unwrap()["recorded"], true);
    let again = feedback(&app, &id, json!({"outcome": "displayed"})).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["recorded"], false);

    let bad = feedback(&app, &id, json!({"outcome": "loved"})).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["field"], "outcome");
    let bad = feedback(&app, &id, json!({"outcome": "accepted", "at": "yesterday"})).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["field"], "at");
    let unknown = feedback(&app, "prompt_nope", json!({"outcome": "accepted"})).await;
    assert_eq!(unknown.status(), 404);
}

#[tokio::test]
async fn stats_count_deliveries_feedback_and_refusals() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let mut other_agent = prompt_body();
    other_agent["agentId"] = json!("agt_2");
    let ids = [
        app.deliver(&prompt_body()).await,
        app.deliver(&prompt_body()).await,
        app.deliver(&other_agent).await,
    ];
    for (id, outcome) in [
        (&ids[0], "displayed"),
        (&ids[0], "accepted"),
        (&ids[1], "displayed"),
        (&ids[2], "dismissed"),
    ] {
        assert_eq!(
            feedback(&app, id, json!({"outcome": outcome}))
                .await
                .status(),
            201
        );
    }
    let mut ineligible = prompt_body();
    ineligible["sentiment"] = json!(-0.9);
    assert_eq!(app.post_prompt(&ineligible).await.status(), 403);

    // Refusals reach the ledger with the next once-a-second flush.
    let mut stats = Value::Null;
    for _ in 0..40 {
        stats = app.get("/stats").await.json().await.unwrap();
        if !stats["refusals"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all = &stats["rows"][0];
    assert_eq!(all["delivered"], 3);
    assert_eq!(all["fallback"], 0);
    assert_eq!(all["displayed"], 2);
    assert_eq!(all["accepted"], 1);
    assert_eq!(all["dismissed"], 1);
    assert_eq!(all["acceptanceRateDisplayed"], 0.5);
    assert!((all["acceptanceRateDelivered"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert!(all["p95LatencyMs"].is_number());
    let refusals = stats["refusals"].as_array().unwrap();
    assert!(
        refusals
            .iter()
            .any(|r| r["kind"] == "ineligible" && r["count"] == 1),
        "{refusals:?}"
    );

    let by_agent: Value = app.get("/stats?groupBy=agent").await.json().await.unwrap();
    let rows = by_agent["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let row = |agent: &str| rows.iter().find(|r| r["group"] == agent).unwrap().clone();
    assert_eq!(row("agt_12345678")["delivered"], 2);
    assert_eq!(row("agt_12345678")["accepted"], 1);
    assert_eq!(row("agt_2")["dismissed"], 1);

    let bad = app.get("/stats?groupBy=planet").await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["field"], "groupBy");
}
