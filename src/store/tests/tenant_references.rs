//! What the tenant said of a record: its own message id, what correlation matched, and when
//! the prompt was withdrawn.

use std::{sync::Arc, time::Duration};

use time::OffsetDateTime;

use super::{
    fixtures::{base_time, delivered},
    store_tests,
};
use crate::store::{CorrelationState, CorrelationUpdate, PromptStore};

store_tests!(
    the_tenant_message_id_and_correlation_detail_are_kept,
    a_prompt_is_marked_retracted_once,
);

async fn the_tenant_message_id_and_correlation_detail_are_kept(store: Arc<dyn PromptStore>) {
    let mut record = delivered("39260750", base_time(), 40);
    record.tenant_message_id = Some("5551".into());
    store
        .insert_with_job(record.clone(), Duration::from_secs(60))
        .await
        .unwrap();
    let update = CorrelationUpdate {
        state: CorrelationState::Correlated,
        transcript_id: None,
        attempts: 1,
        detail: Some("Active".into()),
    };
    store
        .update_correlation(&record.prompt_id, update)
        .await
        .unwrap();
    let stored = store.get(record.prompt_id.as_str()).await.unwrap().unwrap();
    assert_eq!(stored.tenant_message_id.as_deref(), Some("5551"));
    assert_eq!(stored.correlation_detail.as_deref(), Some("Active"));
    assert_eq!(stored.correlation, CorrelationState::Correlated);
}

async fn a_prompt_is_marked_retracted_once(store: Arc<dyn PromptStore>) {
    let record = delivered("39260750", base_time(), 40);
    store.insert(record.clone()).await.unwrap();
    let first = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    store
        .mark_retracted(record.primary_prompt_id.as_str(), first)
        .await
        .unwrap();
    let later = first + time::Duration::minutes(5);
    store
        .mark_retracted(record.prompt_id.as_str(), later)
        .await
        .unwrap();
    let stored = store.get(record.prompt_id.as_str()).await.unwrap().unwrap();
    assert_eq!(
        stored.retracted_at,
        Some(first),
        "the first withdrawal's time"
    );
}
