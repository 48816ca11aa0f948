//! Correlation with the transcript runs after the response.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, ResponseTemplate,
};

use crate::{helpers::*, ledgers::temp_ledger};

const TRANSCRIPTS_PATH: &str = "/api/v2/interactions/int_98765432/transcripts";

#[tokio::test]
async fn the_response_does_not_wait_for_the_transcript_which_is_retried_after_404() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPTS_PATH))
        .respond_with(ResponseTemplate::new(404))
        .up_to_n_times(2)
        .mount(&app.tenant)
        .await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPTS_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "tr_42", "interactionId": "int_98765432"}))
                .set_delay(Duration::from_millis(500)),
        )
        .mount(&app.tenant)
        .await;

    let started = Instant::now();
    let body: Value = app.post_prompt(&prompt_body()).await.json().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(body["transcriptId"], Value::Null);
    assert_eq!(body["correlation"], "pending");

    let prompt_id = body["promptId"].as_str().unwrap();
    let record = app
        .wait_for_record(prompt_id, |r| r["correlation"] != "pending")
        .await;
    assert_eq!(record["correlation"], "correlated");
    assert_eq!(record["transcriptId"], "tr_42");
    assert_eq!(record["correlationAttempts"], 3);
    assert!(record["correlatedAt"].is_string());
}

#[tokio::test]
async fn a_transcript_that_never_appears_ends_as_failed() {
    let app = spawn_app_with(|s| s.correlation.give_up_after_ms = 200).await;
    app.mount_tenant(delivered()).await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPTS_PATH))
        .respond_with(ResponseTemplate::new(503))
        .mount(&app.tenant)
        .await;

    let id = app.deliver(&prompt_body()).await;
    let record = app
        .wait_for_record(&id, |r| r["correlation"] != "pending")
        .await;
    assert_eq!(record["correlation"], "failed");
    assert_eq!(record["transcriptId"], Value::Null);
}

#[tokio::test]
async fn unknown_prompt_ids_are_a_json_404() {
    let app = spawn_app().await;
    let response = app.get_prompt("prompt_nope").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn prompts_beyond_what_the_workers_can_take_are_correlated_through_the_ledger() {
    // One worker: of eight prompts delivered at once, at most two are handed to it directly
    // (one running, one waiting); the rest are written free and leased by the poller.
    let app = spawn_app_with(|s| s.correlation.workers = 1).await;
    app.mount_tenant(delivered()).await;
    mount_transcript(&app, "tr_7", Duration::from_millis(50)).await;
    let body = prompt_body();
    let answers = futures::future::join_all((0..8).map(|_| app.post_prompt(&body))).await;
    for answer in answers {
        let body: Value = answer.json().await.unwrap();
        let prompt_id = body["promptId"].as_str().unwrap();
        let record = app
            .wait_for_record(prompt_id, |r| r["correlation"] != "pending")
            .await;
        assert_eq!(record["correlation"], "correlated", "{prompt_id}");
        assert_eq!(record["correlationAttempts"], 1, "{prompt_id}");
    }
    // Each job was looked up once: none was both handed over and leased by the poller.
    assert_eq!(lookups(&app).await, 8);
}

#[tokio::test]
async fn a_worker_looks_up_the_next_transcript_while_its_last_result_waits_to_commit() {
    use sqlx::{Connection, Executor};

    let app = spawn_app_with(|s| s.correlation.workers = 1).await;
    app.mount_tenant(delivered()).await;
    mount_transcript(&app, "tr_8", Duration::from_millis(300)).await;
    // Two records committed one after the other, each job handed to the only worker: the
    // first runs, the second waits for the worker.
    let mut ids = Vec::new();
    for _ in 0..2 {
        ids.push(app.deliver(&prompt_body()).await);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Another writer holds the ledger's write lock, so the first result cannot commit (the
    // service's writer waits up to its busy timeout of 5 s); reads go on in WAL mode.
    let mut blocker = sqlx::SqliteConnection::connect(app.database_url())
        .await
        .unwrap();
    blocker.execute("BEGIN IMMEDIATE").await.unwrap();
    let lookups = wait_for_lookups(&app, 2).await;
    blocker.execute("ROLLBACK").await.unwrap();
    assert_eq!(
        lookups, 2,
        "the second look-up waited for the first one's commit"
    );

    for prompt_id in &ids {
        let record = app
            .wait_for_record(prompt_id, |r| r["correlation"] != "pending")
            .await;
        assert_eq!(record["correlation"], "correlated", "{prompt_id}");
    }
}

#[tokio::test]
async fn correlation_resumes_after_a_restart() {
    let ledger = temp_ledger();
    let first = spawn_app_with(|s| {
        s.store.database_url = ledger.clone();
        s.correlation.drain_timeout_ms = 100;
        s.correlation.give_up_after_ms = 60_000;
        s.correlation.backoff_base_ms = 50;
    })
    .await;
    first.mount_tenant(delivered()).await;
    Mock::given(method("GET"))
        .and(path(TRANSCRIPTS_PATH))
        .respond_with(ResponseTemplate::new(404))
        .mount(&first.tenant)
        .await;
    let id = first.deliver(&prompt_body()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    first.stop().await.unwrap();

    assert_a_restart_correlates(&ledger, &id).await;
}

/// A look-up cut short by shutdown leaves its job free: the next start takes it up at once,
/// not when the lease (30 s) would have run out.
#[tokio::test]
async fn a_look_up_cut_short_by_shutdown_is_resumed_at_the_next_start() {
    let ledger = temp_ledger();
    let first = spawn_app_with(|s| {
        s.store.database_url = ledger.clone();
        s.correlation.drain_timeout_ms = 100;
    })
    .await;
    first.mount_tenant(delivered()).await;
    mount_transcript(&first, "tr_too_late", Duration::from_secs(30)).await;
    let id = first.deliver(&prompt_body()).await;
    assert_eq!(wait_for_lookups(&first, 1).await, 1);
    first.stop().await.unwrap();

    assert_a_restart_correlates(&ledger, &id).await;
}

/// A second start on `ledger`, whose tenant has the transcript, correlates `prompt_id`.
async fn assert_a_restart_correlates(ledger: &str, prompt_id: &str) {
    let second = spawn_app_with(|s| s.store.database_url = ledger.to_owned()).await;
    second.mount_token().await;
    mount_transcript(&second, "tr_resumed", Duration::ZERO).await;
    let record = second
        .wait_for_record(prompt_id, |r| r["correlation"] != "pending")
        .await;
    assert_eq!(record["correlation"], "correlated", "{record}");
    assert_eq!(record["transcriptId"], "tr_resumed");
}

/// Every transcript look-up finds `transcript_id`, answered after `delay`.
async fn mount_transcript(app: &TestApp, transcript_id: &str, delay: Duration) {
    Mock::given(method("GET"))
        .and(path(TRANSCRIPTS_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": transcript_id, "interactionId": "int_98765432"}))
                .set_delay(delay),
        )
        .mount(&app.tenant)
        .await;
}

/// How many transcript look-ups the tenant has seen.
async fn lookups(app: &TestApp) -> usize {
    let sent = app.tenant.received_requests().await.unwrap();
    sent.iter()
        .filter(|r| r.url.path() == TRANSCRIPTS_PATH)
        .count()
}

/// Look-ups seen by the tenant once there are `count` of them, or after 3 s.
async fn wait_for_lookups(app: &TestApp, count: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let seen = lookups(app).await;
        if seen >= count || Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
