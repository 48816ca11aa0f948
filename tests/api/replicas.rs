//! Several replicas on one ledger: a job a dead replica held is taken over after its lease,
//! and no job is correlated twice.

use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path_regex},
    Mock, ResponseTemplate,
};

use crate::{
    helpers::*,
    ledgers::{postgres_schema, stored_record, temp_ledger},
};

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
        app.deliver(body)
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
