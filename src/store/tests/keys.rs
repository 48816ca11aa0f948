//! Idempotency keys, feedback, refusal counts, and connecting by URL.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use time::Duration as TimeDuration;

use super::{
    fixtures::{base_time, delivered, via_fallback},
    store_tests,
};
use crate::store::{
    connect, Feedback, FeedbackKind, FeedbackOutcome, IdempotencyBegin, LedgerOptions, PromptStore,
    RefusalCount, RefusalKind,
};

store_tests!(
    idempotency_states,
    expired_keys_are_replaced,
    a_lapsed_lease_is_taken_over_and_completion_keeps_the_window,
    retention_prunes_keys_past_one_batch,
    feedback_once_per_outcome,
    refusals_are_counted_per_day,
);

const TTL: Duration = Duration::from_secs(60);
const OWNER: &str = "owner-1";

async fn idempotency_states(store: Arc<dyn PromptStore>) {
    use IdempotencyBegin::*;
    let begin = |key: &'static str, hash: &'static str| {
        let store = store.clone();
        async move {
            store
                .begin_idempotent("simulate", key, hash, TTL, OWNER)
                .await
                .unwrap()
        }
    };
    assert_eq!(begin("k1", "h1").await, Started);
    assert_eq!(begin("k1", "h1").await, InProgress);
    assert_eq!(begin("k1", "h2").await, Mismatch);
    // Scopes are independent.
    assert_eq!(
        store
            .begin_idempotent("other", "k1", "h2", TTL, OWNER)
            .await
            .unwrap(),
        Started
    );

    let body = json!({"success": true, "promptId": "prompt_1", "attempt": 1});
    store
        .complete_idempotent("simulate", "k1", OWNER, 200, &body, TTL)
        .await
        .unwrap();
    let replay = Completed {
        status: 200,
        body: body.clone(),
    };
    assert_eq!(begin("k1", "h1").await, replay);
    assert_eq!(begin("k1", "h2").await, Mismatch);
    // Completed keys are not abandoned.
    store
        .abandon_idempotent("simulate", "k1", OWNER)
        .await
        .unwrap();
    assert_eq!(begin("k1", "h1").await, replay);

    // An abandoned attempt may run again, even with another body.
    assert_eq!(begin("k2", "h1").await, Started);
    store
        .abandon_idempotent("simulate", "k2", OWNER)
        .await
        .unwrap();
    assert_eq!(begin("k2", "h2").await, Started);
}

async fn expired_keys_are_replaced(store: Arc<dyn PromptStore>) {
    let expired = Duration::ZERO;
    let begin = |hash: &'static str, ttl: Duration| {
        let store = store.clone();
        async move {
            store
                .begin_idempotent("s", "k", hash, ttl, OWNER)
                .await
                .unwrap()
        }
    };
    assert_eq!(begin("h1", expired).await, IdempotencyBegin::Started);
    tokio::time::sleep(Duration::from_millis(5)).await;
    // In progress but expired: a crashed request's key does not block retries forever.
    assert_eq!(begin("h2", TTL).await, IdempotencyBegin::Started);
    assert_eq!(begin("h2", TTL).await, IdempotencyBegin::InProgress);

    assert_eq!(begin("h3", expired).await, IdempotencyBegin::Mismatch);
    store.abandon_idempotent("s", "k", OWNER).await.unwrap();
    assert_eq!(begin("h3", expired).await, IdempotencyBegin::Started);
    store
        .complete_idempotent("s", "k", OWNER, 201, &json!([1, 2]), expired)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(begin("h4", TTL).await, IdempotencyBegin::Started);
    // Pruning removes expired keys without touching records.
    assert_eq!(store.prune(base_time(), 10).await.unwrap().records, 0);
}

async fn a_lapsed_lease_is_taken_over_and_completion_keeps_the_window(store: Arc<dyn PromptStore>) {
    let lease = Duration::ZERO;
    let begin = |owner: &'static str| {
        let store = store.clone();
        async move {
            store
                .begin_idempotent("s", "k", "h", lease, owner)
                .await
                .unwrap()
        }
    };
    assert_eq!(begin("first").await, IdempotencyBegin::Started);
    tokio::time::sleep(Duration::from_millis(5)).await;
    // The first request died holding the key: once its lease ran out, the retry runs.
    assert_eq!(begin("retry").await, IdempotencyBegin::Started);

    // Completing sets the replay window, so the answer outlives the (lapsed) lease.
    let body = json!({"success": true});
    let completed = store.complete_idempotent("s", "k", "retry", 200, &body, TTL);
    assert!(completed.await.unwrap());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let replay = IdempotencyBegin::Completed { status: 200, body };
    assert_eq!(begin("later").await, replay);
}

async fn retention_prunes_keys_past_one_batch(store: Arc<dyn PromptStore>) {
    // More expired keys than a batch, and no old records at all.
    for key in ["k1", "k2", "k3", "k4", "k5"] {
        let begun = store
            .begin_idempotent("s", key, "h", Duration::ZERO, OWNER)
            .await;
        assert_eq!(begun.unwrap(), IdempotencyBegin::Started);
    }
    let live = store
        .begin_idempotent("s", "live", "h", TTL, OWNER)
        .await
        .unwrap();
    assert_eq!(live, IdempotencyBegin::Started);
    tokio::time::sleep(Duration::from_millis(5)).await;

    let stop = tokio_util::sync::CancellationToken::new();
    let pruned = crate::retention::prune_in_batches(store.as_ref(), base_time(), 2, &stop).await;
    assert_eq!((pruned.records, pruned.idempotency_keys), (0, 5));
    // The unexpired key is still held.
    let live = store
        .begin_idempotent("s", "live", "h", TTL, OWNER)
        .await
        .unwrap();
    assert_eq!(live, IdempotencyBegin::InProgress);
}

async fn feedback_once_per_outcome(store: Arc<dyn PromptStore>) {
    let record = via_fallback(delivered("agt_1", base_time(), 30));
    store.insert(record.clone()).await.unwrap();
    let feedback = |outcome| Feedback {
        outcome,
        at: base_time() + TimeDuration::seconds(5),
        agent_id: Some("agt_1".into()),
    };
    let id = record.prompt_id.as_str();
    let primary = record.primary_prompt_id.as_str();
    let displayed = feedback(FeedbackKind::Displayed);
    assert_eq!(
        store.record_feedback(id, &displayed).await.unwrap(),
        FeedbackOutcome::Recorded
    );
    assert_eq!(
        store.record_feedback(id, &displayed).await.unwrap(),
        FeedbackOutcome::AlreadyRecorded
    );
    // The primary's id finds the same record.
    assert_eq!(
        store.record_feedback(primary, &displayed).await.unwrap(),
        FeedbackOutcome::AlreadyRecorded
    );
    let accepted = Feedback {
        agent_id: None,
        ..feedback(FeedbackKind::Accepted)
    };
    assert_eq!(
        store.record_feedback(primary, &accepted).await.unwrap(),
        FeedbackOutcome::Recorded
    );
    assert_eq!(
        store
            .record_feedback("prompt_unknown", &displayed)
            .await
            .unwrap(),
        FeedbackOutcome::UnknownPrompt
    );
    let stats = store.stats(&Default::default()).await.unwrap();
    assert_eq!((stats[0].displayed, stats[0].accepted), (1, 1));
}

async fn refusals_are_counted_per_day(store: Arc<dyn PromptStore>) {
    // base_time is 10:00 UTC on 2026-03-01; 23:00 UTC that day is already 2026-03-02 in
    // UTC+12, but counts for the UTC day.
    let day1 = base_time();
    let day2 = base_time() + TimeDuration::hours(14);
    let late_day1_elsewhere = (base_time() + TimeDuration::hours(13))
        .to_offset(time::UtcOffset::from_hms(12, 0, 0).unwrap());
    for _ in 0..2 {
        store
            .count_refusals(RefusalKind::Ineligible, day1, 1)
            .await
            .unwrap();
    }
    store
        .count_refusals(RefusalKind::Ineligible, late_day1_elsewhere, 1)
        .await
        .unwrap();
    store
        .count_refusals(RefusalKind::RateLimited, day1, 1)
        .await
        .unwrap();
    store
        .count_refusals(RefusalKind::Invalid, day2, 1)
        .await
        .unwrap();
    store
        .count_refusals(RefusalKind::Invalid, day2, 1)
        .await
        .unwrap();

    let count = |day: &str, kind, count| RefusalCount {
        day: day.into(),
        kind,
        count,
    };
    let all = vec![
        count("2026-03-01", RefusalKind::Ineligible, 3),
        count("2026-03-01", RefusalKind::RateLimited, 1),
        count("2026-03-02", RefusalKind::Invalid, 2),
    ];
    assert_eq!(store.refusals(None, None).await.unwrap(), all);
    let day2_start = base_time().replace_time(time::Time::MIDNIGHT) + TimeDuration::days(1);
    assert_eq!(
        store.refusals(Some(day2_start), None).await.unwrap(),
        all[2..]
    );
    assert_eq!(
        store.refusals(None, Some(day2_start)).await.unwrap(),
        all[..2]
    );
    // A range ending mid-day includes that day.
    assert_eq!(
        store
            .refusals(Some(day1), Some(day2_start + TimeDuration::minutes(1)))
            .await
            .unwrap(),
        all
    );
}

#[tokio::test]
async fn connect_creates_sqlite_directories_and_refuses_other_schemes() {
    let dir = std::env::temp_dir()
        .join("cxone-assist-store-tests")
        .join(ulid::Ulid::new().to_string());
    let url = format!("sqlite://{}/nested/ledger.db", dir.display());
    let store = connect(&url, &LedgerOptions::default()).await.unwrap();
    store.ping().await.unwrap();
    assert!(dir.join("nested/ledger.db").exists());
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);

    let error = connect(
        "mysql://admin:hunter2@db.example/ledger",
        &LedgerOptions::default(),
    )
    .await
    .err()
    .unwrap()
    .to_string();
    assert!(error.contains("\"mysql\""), "{error}");
    assert!(!error.contains("hunter2"), "{error}");

    let unreachable = "postgres://admin:hunter2@127.0.0.1:9/ledger";
    let quick = LedgerOptions {
        acquire_timeout: Duration::from_millis(300),
        ..LedgerOptions::default()
    };
    let error = connect(unreachable, &quick)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn redact_hides_credentials() {
    use crate::store::redact;
    assert_eq!(
        redact("postgres://app:hunter2@db.example:5432/ledger?sslmode=require&password=hunter2"),
        "postgres://db.example:5432/ledger?sslmode=require&password=%3Credacted%3E"
    );
    assert_eq!(redact("sqlite://data/ledger.db"), "sqlite://data/ledger.db");
    assert_eq!(redact("app:hunter2@db"), "<redacted>@db");
}

#[tokio::test]
async fn in_memory_sqlite_keeps_one_database() {
    let store = connect("sqlite::memory:", &LedgerOptions::default())
        .await
        .unwrap();
    let record = delivered("agt_1", base_time(), 10);
    store.insert(record.clone()).await.unwrap();
    assert!(store
        .get(record.prompt_id.as_str())
        .await
        .unwrap()
        .is_some());
}
