//! The prompt ledger over HTTP: idempotency, feedback, stats, listing, export, retention and
//! correlation that survives a restart.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path, path_regex},
    Mock, ResponseTemplate,
};

use crate::helpers::*;

async fn post_keyed(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.client
        .post(app.url("/simulate-prompt"))
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

fn with_interaction(id: &str) -> Value {
    let mut body = prompt_body();
    body["interactionId"] = json!(id);
    body
}

#[tokio::test]
async fn a_repeated_idempotency_key_replays_the_first_answer() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let first = post_keyed(&app, "order-42", &prompt_body()).await;
    assert_eq!(first.status(), 200);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    let first: Value = first.json().await.unwrap();

    let again = post_keyed(&app, "order-42", &prompt_body()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    assert_eq!(app.prompts_received().await.len(), 1, "delivered once");
}

#[tokio::test]
async fn a_key_reused_with_another_body_is_a_422() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    assert_eq!(post_keyed(&app, "k-1", &prompt_body()).await.status(), 200);
    let response = post_keyed(&app, "k-1", &with_interaction("int_other")).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<Value>().await.unwrap()["code"],
        "idempotency_key_reused"
    );
}

#[tokio::test]
async fn a_concurrent_duplicate_gets_409_and_is_not_delivered() {
    let app = spawn_app().await;
    app.mount_tenant(delivered().set_delay(Duration::from_millis(400)))
        .await;
    let body = prompt_body();
    let (a, b) = tokio::join!(post_keyed(&app, "dup", &body), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        post_keyed(&app, "dup", &body).await
    });
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 409);
    assert_eq!(b.headers()["retry-after"], "1");
    assert_eq!(app.prompts_received().await.len(), 1);
}

#[tokio::test]
async fn a_failed_delivery_frees_its_key_for_the_retry() {
    let app = spawn_app_with(|s| s.delivery.max_attempts = 1).await;
    app.mount_tenant(ResponseTemplate::new(503)).await;
    assert_eq!(
        post_keyed(&app, "retry-me", &prompt_body()).await.status(),
        502
    );
    app.tenant.reset().await;
    Mock::given(method("POST"))
        .and(path(PROMPTS_PATH))
        .respond_with(delivered())
        .mount(&app.tenant)
        .await;
    let response = post_keyed(&app, "retry-me", &prompt_body()).await;
    assert_eq!(response.status(), 200);
    assert!(!response.headers().contains_key("idempotent-replayed"));
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_callers_api_key() {
    let (a, b) = ("caller-a-key-0123456789", "caller-b-key-0123456789");
    let app = spawn_app_with(|s| s.auth.api_keys = vec![a.into(), b.into()]).await;
    app.mount_tenant(delivered()).await;
    for key in [a, b] {
        let response = app
            .client
            .post(app.url("/simulate-prompt"))
            .bearer_auth(key)
            .header("idempotency-key", "same")
            .json(&prompt_body())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(!response.headers().contains_key("idempotent-replayed"));
    }
    assert_eq!(app.prompts_received().await.len(), 2);
}

async fn feedback(app: &TestApp, prompt_id: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/prompts/{prompt_id}/feedback")))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn deliver(app: &TestApp, body: &Value) -> String {
    let response: Value = app.post_prompt(body).await.json().await.unwrap();
    response["promptId"].as_str().expect("delivered").to_owned()
}

#[tokio::test]
async fn feedback_is_recorded_once_per_outcome_and_checked() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let id = deliver(&app, &prompt_body()).await;

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
        deliver(&app, &prompt_body()).await,
        deliver(&app, &prompt_body()).await,
        deliver(&app, &other_agent).await,
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

#[tokio::test]
async fn listing_pages_newest_first_and_is_stable_under_inserts() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let mut delivered_ids = Vec::new();
    for i in 0..5 {
        delivered_ids.push(deliver(&app, &with_interaction(&format!("int_{i}"))).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/prompts?limit=2&cursor={c}"),
            None => "/prompts?limit=2".to_owned(),
        };
        let page: Value = app.get(&url).await.json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["promptId"].as_str().unwrap().to_owned()),
        );
        // A newer record arriving mid-walk must not shift or repeat later pages.
        deliver(&app, &with_interaction("int_late")).await;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    delivered_ids.reverse();
    assert_eq!(seen, delivered_ids, "every record once, newest first");

    let filtered: Value = app
        .get("/prompts?interactionId=int_3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/prompts?cursor=zzz").await.status(), 400);
    assert_eq!(app.get("/prompts?limit=0").await.status(), 400);
}

#[tokio::test]
async fn export_round_trips_as_json_lines_and_csv() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(deliver(&app, &with_interaction(&format!("int_{i}"))).await);
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

#[tokio::test]
async fn retention_deletes_only_old_records() {
    let app = spawn_app_with(|s| s.store.retention_days = 1).await;
    app.mount_tenant(delivered()).await;
    let id = deliver(&app, &prompt_body()).await;
    let store = app.store().await;
    let now = time::OffsetDateTime::now_utc();
    // Nothing is older than a day: a pass deletes nothing.
    let stop = tokio_util::sync::CancellationToken::new();
    assert_eq!(
        cxone_assist::retention::prune(store.as_ref(), now - time::Duration::days(1), &stop).await,
        0
    );
    assert_eq!(app.get_prompt(&id).await.status(), 200);
    // With the cut-off moved past it, the record goes (in batches, attempts with it).
    assert_eq!(
        cxone_assist::retention::prune(store.as_ref(), now + time::Duration::minutes(1), &stop)
            .await,
        1
    );
    assert_eq!(app.get_prompt(&id).await.status(), 404);
}

/// A delivered record received at `received_at`, written straight to the ledger.
fn stored_record(id: &str, received_at: time::OffsetDateTime) -> cxone_assist::store::PromptRecord {
    use cxone_assist::{
        domain::{Priority, PromptId},
        store::{CorrelationState, DeliveryStatus, PromptRecord},
    };
    let id = PromptId::from_existing(id);
    PromptRecord {
        prompt_id: id.clone(),
        primary_prompt_id: id,
        interaction_id: "int_98765432".into(),
        agent_id: "agt_12345678".into(),
        priority: Priority::High,
        sentiment: 0.1,
        content: None,
        content_hash: "0".repeat(64),
        request_id: None,
        status: DeliveryStatus::Delivered,
        failure: None,
        fallback: false,
        attempt: Some(1),
        attempts: Vec::new(),
        received_at,
        completed_at: received_at,
        correlation: CorrelationState::Pending,
        transcript_id: None,
        correlated_at: None,
        correlation_attempts: 0,
    }
}

#[tokio::test]
async fn the_retention_task_prunes_old_records_at_start() {
    use cxone_assist::store::{connect, LedgerOptions};
    let ledger = temp_ledger();
    let store = connect(&ledger, &LedgerOptions::default()).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let old = stored_record("prompt_old", now - time::Duration::days(3));
    store.insert(old).await.unwrap();
    store
        .insert(stored_record("prompt_new", now))
        .await
        .unwrap();

    let app = spawn_app_with(|s| {
        s.store.database_url = ledger.clone();
        s.store.retention_days = 2;
    })
    .await;
    let mut gone = false;
    for _ in 0..100 {
        if app.get_prompt("prompt_old").await.status() == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        gone,
        "the record older than the retention period was pruned"
    );
    assert_eq!(app.get_prompt("prompt_new").await.status(), 200);
}

#[tokio::test]
async fn a_job_held_by_a_dead_replica_is_taken_over_after_its_lease() {
    use cxone_assist::store::{connect, LedgerOptions};
    let ledger = temp_ledger();
    let store = connect(&ledger, &LedgerOptions::default()).await.unwrap();
    let id = cxone_assist::domain::PromptId::from_existing("prompt_int_98765432_orphan");
    let record = stored_record(id.as_str(), time::OffsetDateTime::now_utc());
    store
        .insert_with_job(record, Duration::from_secs(60))
        .await
        .unwrap();
    // A replica leases the job and dies without finishing it.
    let lease = Duration::from_millis(800);
    let claimed = store
        .claim_correlation_jobs("dead-replica", lease, 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let leased_at = std::time::Instant::now();

    let app = spawn_app_with(|s| s.store.database_url = ledger.clone()).await;
    app.mount_token().await;
    Mock::given(method("GET"))
        .and(path_regex("/transcripts$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "tr_taken_over"})))
        .mount(&app.tenant)
        .await;
    let record = app
        .wait_for_record(id.as_str(), |r| r["correlation"] == "correlated")
        .await;
    assert_eq!(record["transcriptId"], "tr_taken_over", "{record}");
    assert!(
        leased_at.elapsed() >= lease,
        "not taken before the lease expired"
    );
}

#[tokio::test]
async fn two_instances_on_postgres_never_correlate_a_job_twice() {
    let Some(database_url) = postgres_schema().await else {
        eprintln!("skipping PostgreSQL: TEST_DATABASE_URL is not set");
        return;
    };
    let first = spawn_app_with(|s| s.store.database_url = database_url.clone()).await;
    first.mount_tenant(delivered()).await;
    Mock::given(method("GET"))
        .and(path_regex("/transcripts$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "tr_shared"}))
                .set_delay(Duration::from_millis(50)),
        )
        .mount(&first.tenant)
        .await;
    let (tenant, auth) = (first.tenant.uri(), first.auth.uri());
    let second = spawn_app_with(|s| {
        s.store.database_url = database_url.clone();
        s.tenant.url = Some(tenant.clone());
        s.tenant.token_url = Some(format!("{auth}{TOKEN_PATH}"));
    })
    .await;

    let bodies: Vec<Value> = (0..20)
        .map(|i| with_interaction(&format!("int_pg_{i}")))
        .collect();
    let ids = join_all(bodies.iter().enumerate().map(|(i, body)| {
        let app = if i % 2 == 0 { &first } else { &second };
        deliver(app, body)
    }))
    .await;
    for id in &ids {
        let record = first
            .wait_for_record(id, |r| r["correlation"] == "correlated")
            .await;
        assert_eq!(record["correlationAttempts"], 1, "{record}");
    }
    let lookups = first
        .tenant
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/transcripts"))
        .count();
    assert_eq!(
        lookups, 20,
        "each job looked up exactly once across both instances"
    );
}

#[tokio::test]
async fn a_client_supplied_prompt_id_is_used_and_delivered_once() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let mut body = prompt_body();
    body["promptId"] = json!("crm-7781");
    let first = app.post_prompt(&body).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<Value>().await.unwrap()["promptId"], "crm-7781");
    let again = app.post_prompt(&body).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let sent = app.prompts_received().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["promptId"], "crm-7781");

    body["content"] = json!("Something else entirely");
    assert_eq!(app.post_prompt(&body).await.status(), 422);
    body["promptId"] = json!("no spaces allowed");
    let bad = app.post_prompt(&body).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["field"], "promptId");
}
