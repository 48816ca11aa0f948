//! A prompt retried under the caller's own id after a failure.

use std::{sync::Arc, time::Duration};

use super::{
    fixtures::{base_time, delivered, failed, json, via_fallback},
    store_tests,
};
use crate::store::{DeliveryStatus, LedgerWrite, NewJob, PromptRecord, PromptStore};

store_tests!(
    a_retry_replaces_the_failed_record_and_keeps_its_attempts,
    a_delivered_record_is_never_replaced,
    a_failure_and_its_retry_in_one_batch_leave_one_record,
    a_retry_among_new_records_in_one_batch_replaces_its_failed_record,
    a_retry_among_first_deliveries_in_one_batch_replaces_its_failed_record,
);

const GIVE_UP: Duration = Duration::from_secs(60);

async fn a_retry_replaces_the_failed_record_and_keeps_its_attempts(store: Arc<dyn PromptStore>) {
    let mut first = failed(delivered("agt_1", base_time(), 30));
    first.attempts[0].outcome = "server_error";
    store.insert(first.clone()).await.unwrap();
    let primary = first.primary_prompt_id.clone();

    // The retry failed too: still one record, with both requests' attempts.
    let mut second = first.clone();
    second.received_at = base_time() + time::Duration::seconds(5);
    store.insert(second.clone()).await.unwrap();
    let read = store.get(primary.as_str()).await.unwrap().unwrap();
    assert_eq!(read.status, DeliveryStatus::Failed);
    assert_eq!(read.attempts.len(), 2);
    assert_eq!(
        read.received_at,
        crate::store::rows::truncate(second.received_at)
    );

    // The next one went through the fallback: the record takes the fallback's id, keeps the
    // earlier attempts first, and its correlation job is queued.
    let mut third = via_fallback(delivered("agt_1", base_time(), 30));
    third.primary_prompt_id = primary.clone();
    store.insert_with_job(third.clone(), GIVE_UP).await.unwrap();
    let read = store.get(primary.as_str()).await.unwrap().unwrap();
    assert_eq!(read.status, DeliveryStatus::Delivered);
    assert_eq!(read.prompt_id, third.prompt_id);
    let outcomes: Vec<&str> = read.attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        ["server_error", "server_error", "rejected", "delivered"]
    );
    assert_eq!(store.pending_correlations().await.unwrap(), 1);
    let by_fallback_id = store.get(third.prompt_id.as_str()).await.unwrap().unwrap();
    assert_eq!(json(&by_fallback_id), json(&read));
}

async fn a_delivered_record_is_never_replaced(store: Arc<dyn PromptStore>) {
    let record = delivered("agt_1", base_time(), 30);
    store
        .insert_with_job(record.clone(), GIVE_UP)
        .await
        .unwrap();
    let before = json(&store.get(record.prompt_id.as_str()).await.unwrap().unwrap());

    assert!(store.insert(failed(record.clone())).await.is_err());
    let mut via_other_leg = via_fallback(record.clone());
    via_other_leg.primary_prompt_id = record.primary_prompt_id.clone();
    assert!(store.insert(via_other_leg).await.is_err());

    let after = store.get(record.prompt_id.as_str()).await.unwrap().unwrap();
    assert_eq!(json(&after), before);
    assert_eq!(store.pending_correlations().await.unwrap(), 1);
}

/// A failed delivery, and its retry under the same ids, delivered five seconds later.
fn failure_and_retry() -> (PromptRecord, PromptRecord) {
    let mut first = failed(delivered("agt_1", base_time(), 30));
    first.attempts[0].outcome = "server_error";
    let mut retry = delivered("agt_1", base_time() + time::Duration::seconds(5), 30);
    retry.prompt_id = first.prompt_id.clone();
    retry.primary_prompt_id = first.primary_prompt_id.clone();
    (first, retry)
}

/// Applies `records` in one batch, each with a correlation job when `jobs`.
async fn apply_batch(store: &dyn PromptStore, records: Vec<PromptRecord>, jobs: bool) {
    let writes: Vec<LedgerWrite> = (records.into_iter())
        .map(|record| LedgerWrite::Record {
            record: Box::new(record),
            job: jobs.then_some(NewJob {
                give_up_after: GIVE_UP,
                lease: None,
            }),
        })
        .collect();
    store.apply(&writes).await.unwrap();
}

/// The record under `first`'s id is the retry's, with the failure's attempt first.
async fn assert_replaced(store: &dyn PromptStore, first: &PromptRecord) {
    let read = store.get(first.prompt_id.as_str()).await.unwrap().unwrap();
    assert_eq!(read.status, DeliveryStatus::Delivered);
    assert_eq!(
        read.attempts.len(),
        2,
        "the failure's attempt, then the retry's"
    );
    assert_eq!(read.attempts[0].outcome, "server_error");
}

async fn a_failure_and_its_retry_in_one_batch_leave_one_record(store: Arc<dyn PromptStore>) {
    let (first, retry) = failure_and_retry();
    let other = delivered("agt_2", base_time(), 30);
    apply_batch(
        store.as_ref(),
        vec![first.clone(), retry, other.clone()],
        true,
    )
    .await;

    assert_replaced(store.as_ref(), &first).await;
    assert!(store.get(other.prompt_id.as_str()).await.unwrap().is_some());
    assert_eq!(store.pending_correlations().await.unwrap(), 2);
}

async fn a_retry_among_new_records_in_one_batch_replaces_its_failed_record(
    store: Arc<dyn PromptStore>,
) {
    // Four distinct records: written as one statement, which the taken id makes fail.
    retry_among_new_records(store.as_ref(), false).await;
}

async fn a_retry_among_first_deliveries_in_one_batch_replaces_its_failed_record(
    store: Arc<dyn PromptStore>,
) {
    // Delivered at the first attempt, with jobs: records, attempts and jobs written in one
    // query, which the taken id makes fail.
    retry_among_new_records(store.as_ref(), true).await;
}

/// A retry of a failed prompt in one batch with three new records, each with a job when `jobs`.
async fn retry_among_new_records(store: &dyn PromptStore, jobs: bool) {
    let (first, retry) = failure_and_retry();
    store.insert(first.clone()).await.unwrap();
    let others: Vec<_> = (2..5)
        .map(|n| delivered(&format!("agt_{n}"), base_time(), 30))
        .collect();
    let batch = std::iter::once(retry)
        .chain(others.iter().cloned())
        .collect();
    apply_batch(store, batch, jobs).await;

    assert_replaced(store, &first).await;
    for other in &others {
        let stored = store.get(other.prompt_id.as_str()).await.unwrap().unwrap();
        assert_eq!(stored.agent_id, other.agent_id);
        assert_eq!(stored.attempts.len(), 1, "the attempt is written once");
    }
    let jobs_written = if jobs { 4 } else { 0 };
    assert_eq!(store.pending_correlations().await.unwrap(), jobs_written);
}
