use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{CorrelationState, CorrelationUpdate, PromptRecord, PromptStore, StoreError};
use crate::domain::PromptId;

/// Records in a map, oldest forgotten first once `capacity` is reached, so memory stays
/// bounded however long the process runs.
pub struct MemoryStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    records: HashMap<PromptId, PromptRecord>,
    /// Primary id -> record key, for records whose fallback was delivered.
    aliases: HashMap<PromptId, PromptId>,
    order: VecDeque<PromptId>,
}

impl MemoryStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl PromptStore for MemoryStore {
    async fn insert(&self, record: PromptRecord) -> Result<(), StoreError> {
        let mut inner = self.lock();
        while inner.order.len() >= self.capacity {
            if let Some(oldest) = inner.order.pop_front() {
                if let Some(evicted) = inner.records.remove(&oldest) {
                    inner.aliases.remove(&evicted.primary_prompt_id);
                }
            }
        }
        let key = record.prompt_id.clone();
        if record.primary_prompt_id != key {
            inner
                .aliases
                .insert(record.primary_prompt_id.clone(), key.clone());
        }
        inner.order.push_back(key.clone());
        inner.records.insert(key, record);
        Ok(())
    }

    async fn get(&self, prompt_id: &str) -> Result<Option<PromptRecord>, StoreError> {
        let inner = self.lock();
        let id = PromptId::from_existing(prompt_id);
        let key = inner.aliases.get(&id).unwrap_or(&id);
        Ok(inner.records.get(key).cloned())
    }

    async fn update_correlation(
        &self,
        prompt_id: &PromptId,
        update: CorrelationUpdate,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if let Some(record) = inner.records.get_mut(prompt_id) {
            record.correlation = update.state;
            record.correlation_attempts = update.attempts;
            if update.state == CorrelationState::Correlated {
                record.transcript_id = update.transcript_id;
                record.correlated_at = Some(OffsetDateTime::now_utc());
            }
        }
        Ok(())
    }
}
