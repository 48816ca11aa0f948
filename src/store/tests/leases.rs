//! Correlation leases: a job is its holder's until the lease runs out or is released, and
//! no two claimers ever share one.

use std::{collections::HashSet, sync::Arc, time::Duration};

use super::{
    fixtures::{delivered, now, recent, LONG},
    store_tests,
};
use crate::store::{
    CorrelationClaim, CorrelationState, CorrelationUpdate, JobLease, LedgerWrite, NewJob,
    PromptRecord, PromptStore,
};

store_tests!(
    a_job_written_leased_is_its_holders_until_the_lease_runs_out,
    released_leases_are_free_at_once_and_only_the_owners,
    an_expired_lease_is_taken_over,
    concurrent_claimers_never_share_a_job,
);

async fn insert_leased(
    store: &dyn PromptStore,
    record: &PromptRecord,
    owner: &str,
    lease: Duration,
) {
    let job = NewJob {
        give_up_after: LONG,
        lease: Some(JobLease::from_now(owner.into(), lease)),
    };
    let write = LedgerWrite::Record {
        record: Box::new(record.clone()),
        job: Some(job),
    };
    store.apply(&[write]).await.unwrap();
}

async fn a_job_written_leased_is_its_holders_until_the_lease_runs_out(store: Arc<dyn PromptStore>) {
    let briefly = delivered("agt_1", recent(), 30);
    insert_leased(store.as_ref(), &briefly, "a", Duration::from_millis(300)).await;
    let held = delivered("agt_2", recent(), 30);
    insert_leased(store.as_ref(), &held, "a", LONG).await;

    assert!(store
        .claim_correlation_jobs("b", LONG, 10)
        .await
        .unwrap()
        .is_empty());
    // The holder is the one that may put it back.
    assert!(!store
        .reschedule_correlation(&held.prompt_id, "b", 1, now())
        .await
        .unwrap());
    assert!(store
        .reschedule_correlation(&held.prompt_id, "a", 1, now() + LONG)
        .await
        .unwrap());

    tokio::time::sleep(Duration::from_millis(400)).await;
    let taken = store.claim_correlation_jobs("b", LONG, 10).await.unwrap();
    // What the ledger hands another worker is what the holder was handed.
    assert_eq!(taken, [CorrelationClaim::of_new_job(&briefly, LONG)]);
}

async fn released_leases_are_free_at_once_and_only_the_owners(store: Arc<dyn PromptStore>) {
    let written_leased = delivered("agt_1", recent(), 30);
    insert_leased(store.as_ref(), &written_leased, "a", LONG).await;
    let others = delivered("agt_2", recent(), 30);
    insert_leased(store.as_ref(), &others, "b", LONG).await;
    let claimed = delivered("agt_3", recent(), 30);
    store.insert_with_job(claimed.clone(), LONG).await.unwrap();
    assert_eq!(
        store.claim_correlation_jobs("a", LONG, 10).await.unwrap(),
        [CorrelationClaim::of_new_job(&claimed, LONG)]
    );

    assert_eq!(store.release_correlation_leases("a").await.unwrap(), 2);
    let taken: HashSet<_> = store
        .claim_correlation_jobs("c", LONG, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.prompt_id)
        .collect();
    assert_eq!(
        taken,
        HashSet::from([written_leased.prompt_id, claimed.prompt_id]),
        "long before their leases would have run out; b's lease stands"
    );
    assert_eq!(store.release_correlation_leases("a").await.unwrap(), 0);
}

async fn an_expired_lease_is_taken_over(store: Arc<dyn PromptStore>) {
    let record = delivered("agt_1", recent(), 30);
    store.insert_with_job(record.clone(), LONG).await.unwrap();
    let lease = Duration::from_millis(300);
    assert_eq!(
        store
            .claim_correlation_jobs("a", lease, 1)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .claim_correlation_jobs("b", lease, 1)
        .await
        .unwrap()
        .is_empty());
    tokio::time::sleep(Duration::from_millis(400)).await;
    let taken = store.claim_correlation_jobs("b", LONG, 1).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].prompt_id, record.prompt_id);
    // The first owner lost it: its reschedule is refused.
    assert!(!store
        .reschedule_correlation(&record.prompt_id, "a", 1, now())
        .await
        .unwrap());
}

async fn concurrent_claimers_never_share_a_job(store: Arc<dyn PromptStore>) {
    for round in 0..20 {
        for _ in 0..2 {
            store
                .insert_with_job(delivered("agt_1", recent(), 30), LONG)
                .await
                .unwrap();
        }
        let (a, b) = tokio::join!(
            store.claim_correlation_jobs("a", LONG, 1),
            store.claim_correlation_jobs("b", LONG, 1),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.len(), 1, "round {round}");
        assert_eq!(b.len(), 1, "round {round}");
        assert_ne!(a[0].prompt_id, b[0].prompt_id, "round {round}");
        for claim in a.iter().chain(&b) {
            let update = CorrelationUpdate {
                detail: None,
                state: CorrelationState::Failed,
                transcript_id: None,
                attempts: 1,
            };
            store
                .update_correlation(&claim.prompt_id, update)
                .await
                .unwrap();
        }
    }
    let ids: HashSet<_> = store
        .claim_correlation_jobs("c", LONG, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.prompt_id)
        .collect();
    assert!(ids.is_empty(), "every job was finished");
}
