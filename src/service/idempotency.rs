//! At most one delivery per idempotency key within the window: the first request with a key
//! claims it for the length of a request, and its answer is kept for the window.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{PromptAccepted, PromptService, RequestContext, SubmitError};
use crate::{domain::PromptRequest, store::IdempotencyBegin};

/// An in-progress key is held for the request deadline plus this: time to commit the record
/// and the key after the deadline. A claim older than that belongs to a request whose process
/// died, and a retry may take it over instead of getting 409 for the whole window.
const IN_PROGRESS_MARGIN: Duration = Duration::from_secs(15);

/// A caller's key, scoped to the caller (its API key's fingerprint, or `-` with auth off) so
/// two clients cannot collide.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
}

/// How a request that carries a key is answered.
pub enum Keyed {
    /// The key was this request's: the prompt was submitted. The caller answers with the
    /// result and then calls [`PromptService::settle_key`].
    Submitted(Result<PromptAccepted, SubmitError>),
    /// An earlier request with this key was answered so; answer the same.
    Replayed { status: u16, body: Value },
    /// A request with this key is still running.
    InProgress,
    /// The key came with another body before.
    KeyReused,
    /// The ledger could not be asked; nothing was sent.
    Unavailable,
}

impl PromptService {
    /// Submits `request` unless its key was used before (or is in use).
    pub async fn submit_keyed(
        &self,
        request: PromptRequest,
        context: &RequestContext,
        key: &IdempotencyKey,
    ) -> Keyed {
        let lease = self.request_timeout + IN_PROGRESS_MARGIN;
        let begun = self
            .store
            .begin_idempotent(&key.scope, &key.key, &request_hash(&request), lease)
            .await;
        match begun {
            Err(error) => {
                tracing::error!(%error, "idempotency check failed");
                Keyed::Unavailable
            }
            Ok(IdempotencyBegin::InProgress) => Keyed::InProgress,
            Ok(IdempotencyBegin::Mismatch) => Keyed::KeyReused,
            Ok(IdempotencyBegin::Completed { status, body }) => Keyed::Replayed { status, body },
            Ok(IdempotencyBegin::Started) => Keyed::Submitted(self.submit(request, context).await),
        }
    }

    /// Ends a [`Keyed::Submitted`] request's hold on its key: `kept` is the answer to replay
    /// for the window, or `None` to free the key so a retry can still deliver.
    pub async fn settle_key(&self, key: &IdempotencyKey, kept: Option<(u16, &Value)>) {
        let store = &self.store;
        let settled = match kept {
            Some((status, body)) => {
                let window = Duration::from_secs(self.idempotency_window_secs);
                store
                    .complete_idempotent(&key.scope, &key.key, status, body, window)
                    .await
            }
            None => store.abandon_idempotent(&key.scope, &key.key).await,
        };
        if let Err(error) = settled {
            tracing::error!(%error, "could not record the idempotent answer");
        }
    }
}

fn request_hash(request: &PromptRequest) -> String {
    let canonical = serde_json::to_vec(request).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}
