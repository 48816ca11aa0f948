//! Group commit through [`BatchWriter`]: every caller's write lands, a bad one fails alone,
//! and shutdown keeps what was queued.

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;

use super::{fixtures::delivered, store_tests};
use crate::store::{
    BatchWriter, CorrelationState, CorrelationUpdate, LedgerWrite, NewJob, PromptRecord,
    PromptStore,
};

store_tests!(
    concurrent_writes_all_commit,
    a_failing_write_fails_alone,
    concurrent_correlation_results_each_land_on_their_own_prompt,
    two_results_for_one_prompt_in_one_group_land_in_order,
    a_result_still_pending_keeps_its_job_beside_final_ones,
    shutdown_commits_what_is_queued_and_refuses_later_writes,
);

fn with_job(record: &PromptRecord) -> LedgerWrite {
    LedgerWrite::Record {
        record: Box::new(record.clone()),
        job: Some(NewJob {
            give_up_after: Duration::from_secs(60),
            lease: None,
        }),
    }
}

fn fresh() -> PromptRecord {
    delivered("agt_1", OffsetDateTime::now_utc(), 30)
}

async fn concurrent_writes_all_commit(store: Arc<dyn PromptStore>) {
    let (writer, task) = BatchWriter::spawn(store.clone());
    let records: Vec<PromptRecord> = (0..300).map(|_| fresh()).collect();
    let writes = records.iter().map(|record| {
        let writer = writer.clone();
        let write = with_job(record);
        tokio::spawn(async move { writer.write(write).await })
    });
    for result in futures::future::join_all(writes).await {
        result.unwrap().unwrap();
    }
    for record in [&records[0], &records[150], &records[299]] {
        let id = record.prompt_id.as_str();
        assert!(store.get(id).await.unwrap().is_some(), "{id} missing");
    }
    assert_eq!(store.pending_correlations().await.unwrap(), 300);
    task.shutdown(Duration::from_secs(5)).await;
}

async fn concurrent_correlation_results_each_land_on_their_own_prompt(store: Arc<dyn PromptStore>) {
    let (writer, task) = BatchWriter::spawn(store.clone());
    let records: Vec<PromptRecord> = (0..150).map(|_| fresh()).collect();
    for record in &records {
        writer.write(with_job(record)).await.unwrap();
    }
    // Every third look-up failed; the others found transcript `tr_{n}`.
    let outcome = |n: usize| {
        if n % 3 == 0 {
            (CorrelationState::Failed, None)
        } else {
            (CorrelationState::Correlated, Some(format!("tr_{n}")))
        }
    };
    let writes = records.iter().enumerate().map(|(n, record)| {
        let (writer, (state, transcript_id)) = (writer.clone(), outcome(n));
        let write = LedgerWrite::Correlation {
            prompt_id: record.prompt_id.clone(),
            update: CorrelationUpdate {
                detail: None,
                state,
                transcript_id,
                attempts: 2,
            },
        };
        tokio::spawn(async move { writer.write(write).await })
    });
    for result in futures::future::join_all(writes).await {
        result.unwrap().unwrap();
    }
    for (n, record) in records.iter().enumerate() {
        let stored = store.get(record.prompt_id.as_str()).await.unwrap().unwrap();
        let (state, transcript_id) = outcome(n);
        assert_eq!(stored.correlation, state, "prompt {n}");
        assert_eq!(stored.transcript_id, transcript_id, "prompt {n}");
        assert_eq!(stored.correlation_attempts, 2);
        assert_eq!(stored.correlated_at.is_some(), n % 3 != 0);
    }
    assert_eq!(store.pending_correlations().await.unwrap(), 0);
    task.shutdown(Duration::from_secs(5)).await;
}

async fn two_results_for_one_prompt_in_one_group_land_in_order(store: Arc<dyn PromptStore>) {
    let record = fresh();
    store.apply(&[with_job(&record)]).await.unwrap();
    let result = |state, transcript_id: Option<&str>, attempts| LedgerWrite::Correlation {
        prompt_id: record.prompt_id.clone(),
        update: CorrelationUpdate {
            detail: None,
            state,
            transcript_id: transcript_id.map(str::to_owned),
            attempts,
        },
    };
    // A retry's "not yet" and the next look-up's answer, committed together.
    store
        .apply(&[
            result(CorrelationState::Pending, None, 1),
            result(CorrelationState::Correlated, Some("tr_9"), 2),
        ])
        .await
        .unwrap();

    let stored = store.get(record.prompt_id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.correlation, CorrelationState::Correlated);
    assert_eq!(stored.transcript_id.as_deref(), Some("tr_9"));
    assert_eq!(stored.correlation_attempts, 2);
    assert_eq!(store.pending_correlations().await.unwrap(), 0);
}

async fn a_result_still_pending_keeps_its_job_beside_final_ones(store: Arc<dyn PromptStore>) {
    let records: Vec<PromptRecord> = (0..3).map(|_| fresh()).collect();
    let jobs: Vec<LedgerWrite> = records.iter().map(with_job).collect();
    store.apply(&jobs).await.unwrap();
    let states = [
        CorrelationState::Correlated,
        CorrelationState::Pending,
        CorrelationState::Failed,
    ];
    let results: Vec<LedgerWrite> = (records.iter().zip(states))
        .map(|(record, state)| LedgerWrite::Correlation {
            prompt_id: record.prompt_id.clone(),
            update: CorrelationUpdate {
                detail: None,
                state,
                transcript_id: (state == CorrelationState::Correlated).then(|| "tr_1".into()),
                attempts: 1,
            },
        })
        .collect();
    store.apply(&results).await.unwrap();

    for (record, state) in records.iter().zip(states) {
        let stored = store.get(record.prompt_id.as_str()).await.unwrap().unwrap();
        assert_eq!(stored.correlation, state);
    }
    // Only the look-up that is to be tried again is still queued.
    assert_eq!(store.pending_correlations().await.unwrap(), 1);
}

async fn a_failing_write_fails_alone(store: Arc<dyn PromptStore>) {
    let existing = fresh();
    store.insert(existing.clone()).await.unwrap();
    let new = fresh();
    let (writer, task) = BatchWriter::spawn(store.clone());
    let (duplicate, inserted, updated) = tokio::join!(
        writer.write(with_job(&existing)),
        writer.write(with_job(&new)),
        writer.write(LedgerWrite::Correlation {
            prompt_id: new.prompt_id.clone(),
            update: CorrelationUpdate {
                detail: None,
                state: CorrelationState::Correlated,
                transcript_id: Some("tr_1".into()),
                attempts: 1,
            },
        }),
    );
    assert!(duplicate.is_err(), "a second record with one id must fail");
    inserted.unwrap();
    updated.unwrap();
    let stored = store.get(new.prompt_id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.correlation, CorrelationState::Correlated);
    assert_eq!(stored.transcript_id.as_deref(), Some("tr_1"));
    assert_eq!(store.pending_correlations().await.unwrap(), 0);
    task.shutdown(Duration::from_secs(5)).await;
}

async fn shutdown_commits_what_is_queued_and_refuses_later_writes(store: Arc<dyn PromptStore>) {
    let (writer, task) = BatchWriter::spawn(store.clone());
    let last = fresh();
    let queued = tokio::spawn({
        let writer = writer.clone();
        let write = with_job(&last);
        async move { writer.write(write).await }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    task.shutdown(Duration::from_secs(5)).await;
    queued.await.unwrap().unwrap();
    assert!(store.get(last.prompt_id.as_str()).await.unwrap().is_some());
    let late = writer.write(with_job(&fresh())).await;
    assert!(late.is_err(), "a write after shutdown must be refused");
}
