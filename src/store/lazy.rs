//! A store that connects on first use.
//!
//! Lets a caller that cannot wait (a synchronous constructor) hold a ledger, and lets a
//! process start while its database is still coming up: a failed connection is an error for
//! the operation that tried, and the next operation tries again.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use futures::{
    stream::{self, BoxStream},
    StreamExt, TryStreamExt,
};
use time::OffsetDateTime;
use tokio::sync::OnceCell;

use super::{
    connect, CorrelationClaim, CorrelationUpdate, Feedback, FeedbackOutcome, IdempotencyBegin,
    LedgerOptions, ListQuery, PromptPage, PromptRecord, PromptStore, RefusalCount, RefusalKind,
    StatsQuery, StatsRow, StoreError,
};
use crate::domain::PromptId;

/// [`connect`], deferred to the first operation.
pub fn connect_lazy(database_url: &str, options: &LedgerOptions) -> Arc<dyn PromptStore> {
    Arc::new(LazyStore {
        url: database_url.to_owned(),
        options: *options,
        store: OnceCell::new(),
    })
}

struct LazyStore {
    url: String,
    options: LedgerOptions,
    store: OnceCell<Arc<dyn PromptStore>>,
}

impl LazyStore {
    async fn store(&self) -> Result<&Arc<dyn PromptStore>, StoreError> {
        self.store
            .get_or_try_init(|| connect(&self.url, &self.options))
            .await
    }
}

#[async_trait]
impl PromptStore for LazyStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.store().await?.ping().await
    }

    async fn insert(&self, record: PromptRecord) -> Result<(), StoreError> {
        self.store().await?.insert(record).await
    }

    async fn insert_with_job(
        &self,
        record: PromptRecord,
        give_up_after: Duration,
    ) -> Result<(), StoreError> {
        let store = self.store().await?;
        store.insert_with_job(record, give_up_after).await
    }

    async fn get(&self, prompt_id: &str) -> Result<Option<PromptRecord>, StoreError> {
        self.store().await?.get(prompt_id).await
    }

    async fn update_correlation(
        &self,
        prompt_id: &PromptId,
        update: CorrelationUpdate,
    ) -> Result<(), StoreError> {
        let store = self.store().await?;
        store.update_correlation(prompt_id, update).await
    }

    async fn claim_correlation_jobs(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<CorrelationClaim>, StoreError> {
        let store = self.store().await?;
        store.claim_correlation_jobs(owner, lease, limit).await
    }

    async fn reschedule_correlation(
        &self,
        prompt_id: &PromptId,
        owner: &str,
        attempts: u32,
        next_attempt_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let store = self.store().await?;
        store
            .reschedule_correlation(prompt_id, owner, attempts, next_attempt_at)
            .await
    }

    async fn begin_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        ttl: Duration,
    ) -> Result<IdempotencyBegin, StoreError> {
        let store = self.store().await?;
        store.begin_idempotent(scope, key, request_hash, ttl).await
    }

    async fn complete_idempotent(
        &self,
        scope: &str,
        key: &str,
        status: u16,
        body: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let store = self.store().await?;
        store.complete_idempotent(scope, key, status, body).await
    }

    async fn abandon_idempotent(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        self.store().await?.abandon_idempotent(scope, key).await
    }

    async fn record_feedback(
        &self,
        prompt_id: &str,
        feedback: &Feedback,
    ) -> Result<FeedbackOutcome, StoreError> {
        self.store()
            .await?
            .record_feedback(prompt_id, feedback)
            .await
    }

    async fn stats(&self, query: &StatsQuery) -> Result<Vec<StatsRow>, StoreError> {
        self.store().await?.stats(query).await
    }

    async fn list_prompts(&self, query: &ListQuery) -> Result<PromptPage, StoreError> {
        self.store().await?.list_prompts(query).await
    }

    fn export(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> BoxStream<'_, Result<PromptRecord, StoreError>> {
        stream::once(self.store())
            .map_ok(move |store| store.export(from, to))
            .try_flatten()
            .boxed()
    }

    async fn count_refusal(&self, kind: RefusalKind, at: OffsetDateTime) -> Result<(), StoreError> {
        self.store().await?.count_refusal(kind, at).await
    }

    async fn refusals(
        &self,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> Result<Vec<RefusalCount>, StoreError> {
        self.store().await?.refusals(from, to).await
    }

    async fn prune(&self, older_than: OffsetDateTime, batch: u32) -> Result<u64, StoreError> {
        self.store().await?.prune(older_than, batch).await
    }
}
