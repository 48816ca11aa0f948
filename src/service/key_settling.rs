//! Ending a claim on an idempotency key: the answer kept for replay, or the key freed. The
//! write is bounded like the record's; one the ledger cannot take in time goes on in the
//! background, and meanwhile this process answers retries of the key from memory, so no
//! retry delivers the prompt again while its key is unwritten.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;

use super::{
    idempotency::{Claim, IdempotencyKey, Keyed},
    pending::PendingKind,
    PromptService,
};
use crate::{metrics::Metrics, retry::Backoff, store::PromptStore};

/// How long an answer waits for its key's write. The ledger's own tables decide whether it
/// is quick: a locked `prompts` does not hold it on PostgreSQL; on SQLite one write lock
/// covers both.
const KEY_WRITE_WAIT: Duration = Duration::from_millis(500);

/// Waits between tries of a key write the ledger could not take.
const KEY_RETRY_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    max: Duration::from_secs(5),
};

/// A decided answer: the request body's hash, the status and the body.
type DecidedAnswer = (String, u16, Value);

/// Answers decided here whose keys are not yet written.
#[derive(Clone, Default)]
pub struct UnsettledKeys(Arc<Mutex<HashMap<IdempotencyKey, DecidedAnswer>>>);

impl UnsettledKeys {
    /// How a request with `key` and a body hashing to `request_hash` is answered, when the
    /// key's answer is decided here but not yet written.
    pub(super) fn answer(&self, key: &IdempotencyKey, request_hash: &str) -> Option<Keyed> {
        let answers = self.lock();
        let (hash, status, body) = answers.get(key)?;
        Some(if hash == request_hash {
            Keyed::Replayed {
                status: *status,
                body: body.clone(),
            }
        } else {
            Keyed::KeyReused
        })
    }

    fn insert(&self, claim: &Claim, status: u16, body: &Value) {
        let answer = (claim.request_hash.clone(), status, body.clone());
        self.lock().insert(claim.key.clone(), answer);
    }

    fn remove(&self, key: &IdempotencyKey) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IdempotencyKey, DecidedAnswer>> {
        // Each entry is written whole under the lock, so a poisoned map is still consistent.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl PromptService {
    /// Ends `claim`: `kept` is the answer to replay for the window, or `None` to free the key
    /// so a retry can still deliver. Waits [`KEY_WRITE_WAIT`] at most.
    pub async fn settle_key(&self, claim: Claim, kept: Option<(u16, &Value)>) {
        let kept = kept.map(|(status, body)| (status, body.clone()));
        if let Some((status, body)) = &kept {
            self.unsettled.insert(&claim, *status, body);
        }
        let key = claim.key.clone();
        let mut write = Box::pin(write_until_settled(
            self.store.clone(),
            claim,
            kept,
            Duration::from_secs(self.idempotency_window_secs),
            self.unsettled.clone(),
            self.metrics.clone(),
        ));
        if tokio::time::timeout(KEY_WRITE_WAIT, &mut write)
            .await
            .is_ok()
        {
            return;
        }
        match self.pending_slot() {
            Some(slot) => {
                tracing::warn!("the idempotency key is not written yet; it is retried");
                self.keep_pending(PendingKind::IdempotencyAnswer, slot, write);
            }
            None => {
                // Forgotten here too: the map must not outgrow the bound either.
                self.unsettled.remove(&key);
                self.lose_pending("idempotency answer");
            }
        }
    }
}

/// Writes the claim's end, trying again while the ledger is unavailable, then forgets the
/// answer kept in memory.
async fn write_until_settled(
    store: Arc<dyn PromptStore>,
    claim: Claim,
    kept: Option<(u16, Value)>,
    window: Duration,
    unsettled: UnsettledKeys,
    metrics: Arc<Metrics>,
) {
    let Claim { key, owner, .. } = &claim;
    let mut failures = 0;
    let outcome = loop {
        let written = match &kept {
            Some((status, body)) => {
                store
                    .complete_idempotent(&key.scope, &key.key, owner, *status, body, window)
                    .await
            }
            None => store.abandon_idempotent(&key.scope, &key.key, owner).await,
        };
        match written {
            Err(error) if error.is_transient() => {
                failures += 1;
                tracing::warn!(%error, failures, "could not write the idempotency key; retrying");
                tokio::time::sleep(KEY_RETRY_BACKOFF.delay_random(failures)).await;
            }
            other => break other,
        }
    };
    match outcome {
        Ok(true) => {}
        Ok(false) => {
            // The lease ran out and another request took the key: its claim stands.
            tracing::warn!(
                "the idempotency key passed to another request; this answer is not kept"
            );
            metrics.idempotency_claims_lost.inc();
        }
        Err(error) => tracing::error!(%error, "could not record the idempotent answer"),
    }
    unsettled.remove(key);
}
