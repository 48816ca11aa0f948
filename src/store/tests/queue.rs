//! The correlation queue: jobs written with their record, claimed, rescheduled, finished
//! (leases are in `leases.rs`).

use std::{sync::Arc, time::Duration};

use super::{
    fixtures::{delivered, failed, json, now, recent, stored, LONG},
    store_tests,
};
use crate::store::{CorrelationState, CorrelationUpdate, PromptStore};

store_tests!(
    pending_record_creates_a_claimable_job,
    a_final_update_removes_the_job,
    reschedule_defers_the_job,
);

async fn pending_record_creates_a_claimable_job(store: Arc<dyn PromptStore>) {
    let record = delivered("agt_1", recent(), 30);
    store.insert_with_job(record.clone(), LONG).await.unwrap();
    // The record, its attempt and its job went in together; the record reads back whole.
    let read = store.get(record.prompt_id.as_str()).await.unwrap().unwrap();
    assert_eq!(json(&read), stored(record.clone()));
    // No job: a plain insert, and a record with nothing to correlate.
    store
        .insert(delivered("agt_1", recent(), 30))
        .await
        .unwrap();
    store
        .insert_with_job(failed(delivered("agt_1", recent(), 30)), LONG)
        .await
        .unwrap();

    let claims = store.claim_correlation_jobs("a", LONG, 10).await.unwrap();
    assert_eq!(claims.len(), 1);
    let claim = &claims[0];
    assert_eq!(claim.prompt_id, record.prompt_id);
    assert_eq!(claim.interaction_id, "int_1");
    assert_eq!(claim.agent_id, "agt_1");
    assert_eq!(claim.request_id.as_deref(), Some("req-1"));
    assert_eq!(claim.attempts, 0);
    let expected_give_up = crate::store::rows::truncate(record.completed_at + LONG);
    assert_eq!(claim.give_up_at, expected_give_up);

    // Leased: nobody else gets it, not even the same owner again.
    assert!(store
        .claim_correlation_jobs("b", LONG, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .claim_correlation_jobs("a", LONG, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .claim_correlation_jobs("a", LONG, 0)
        .await
        .unwrap()
        .is_empty());
}

async fn a_final_update_removes_the_job(store: Arc<dyn PromptStore>) {
    let record = delivered("agt_1", recent(), 30);
    store.insert_with_job(record.clone(), LONG).await.unwrap();
    let claims = store.claim_correlation_jobs("a", LONG, 10).await.unwrap();
    assert_eq!(claims.len(), 1);
    let update = CorrelationUpdate {
        detail: None,
        state: CorrelationState::Correlated,
        transcript_id: Some("tr_1".into()),
        attempts: 3,
    };
    store
        .update_correlation(&record.prompt_id, update)
        .await
        .unwrap();
    let read = store.get(record.prompt_id.as_str()).await.unwrap().unwrap();
    assert_eq!(read.correlation, CorrelationState::Correlated);
    assert_eq!(read.transcript_id.as_deref(), Some("tr_1"));
    assert_eq!(read.correlation_attempts, 3);
    assert!(read.correlated_at.is_some());
    // Gone from the queue, even for a claimer that ignores leases (they have all expired).
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store
        .claim_correlation_jobs("b", Duration::ZERO, 10)
        .await
        .unwrap()
        .is_empty());

    // A job finished without ever being claimed goes too; "skipped" keeps no transcript.
    let skipped = delivered("agt_1", recent(), 30);
    store.insert_with_job(skipped.clone(), LONG).await.unwrap();
    let update = CorrelationUpdate {
        detail: None,
        state: CorrelationState::Skipped,
        transcript_id: Some("ignored".into()),
        attempts: 0,
    };
    store
        .update_correlation(&skipped.prompt_id, update)
        .await
        .unwrap();
    let read = store
        .get(skipped.prompt_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.correlation, CorrelationState::Skipped);
    assert_eq!(read.transcript_id, None);
    assert!(store
        .claim_correlation_jobs("b", LONG, 10)
        .await
        .unwrap()
        .is_empty());
}

async fn reschedule_defers_the_job(store: Arc<dyn PromptStore>) {
    let record = delivered("agt_1", recent(), 30);
    store.insert_with_job(record.clone(), LONG).await.unwrap();
    store.claim_correlation_jobs("a", LONG, 1).await.unwrap();
    // Only the lease holder may reschedule.
    assert!(!store
        .reschedule_correlation(&record.prompt_id, "b", 2, now())
        .await
        .unwrap());
    let due = now() + Duration::from_millis(400);
    assert!(store
        .reschedule_correlation(&record.prompt_id, "a", 2, due)
        .await
        .unwrap());
    let read = store.get(record.prompt_id.as_str()).await.unwrap().unwrap();
    assert_eq!(read.correlation_attempts, 2);
    assert_eq!(read.correlation, CorrelationState::Pending);
    // Released but not yet due.
    assert!(store
        .claim_correlation_jobs("b", LONG, 1)
        .await
        .unwrap()
        .is_empty());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let claims = store.claim_correlation_jobs("b", LONG, 1).await.unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].attempts, 2);
}

/// Jobs live in the file: a restarted process (here, a second store on the same file after
/// the first is gone) finds them, and two stores sharing the file never share a job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_jobs_survive_restarts_and_are_shared_safely() {
    use crate::store::{connect, LedgerOptions};
    let dir = std::env::temp_dir()
        .join("cxone-assist-store-tests")
        .join(ulid::Ulid::new().to_string());
    let url = format!("sqlite://{}/ledger.db", dir.display());
    let options = LedgerOptions::default();
    let record = delivered("agt_1", recent(), 30);
    {
        let first = connect(&url, &options).await.unwrap();
        first.insert_with_job(record.clone(), LONG).await.unwrap();
    }
    let (one, two) = (
        connect(&url, &options).await.unwrap(),
        connect(&url, &options).await.unwrap(),
    );
    let claims = two.claim_correlation_jobs("b", LONG, 10).await.unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].prompt_id, record.prompt_id);

    for round in 0..10 {
        for _ in 0..2 {
            one.insert_with_job(delivered("agt_1", recent(), 30), LONG)
                .await
                .unwrap();
        }
        let (a, b) = tokio::join!(
            one.claim_correlation_jobs("a", LONG, 1),
            two.claim_correlation_jobs("b", LONG, 1),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!((a.len(), b.len()), (1, 1), "round {round}");
        assert_ne!(a[0].prompt_id, b[0].prompt_id, "round {round}");
    }
    drop((one, two));
    let _ = std::fs::remove_dir_all(&dir);
}
