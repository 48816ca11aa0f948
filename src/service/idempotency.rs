//! At most one delivery per idempotency key within the window. A keyed request is checked in
//! this order: the key as read (no write), eligibility, an earlier delivery of a named
//! prompt, the rate limit; only a request admitted by all of them claims the key, so a
//! refusal costs the ledger nothing. The claim is held for the length of a request, and the
//! answer is kept for the window.

use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{PromptAccepted, PromptService, RequestContext, SubmitError};
use crate::{
    domain::PromptRequest,
    store::{IdempotencyBegin, StoreError},
};

/// An in-progress key is held for the request deadline plus this: time to commit the record
/// and the key after the deadline. A claim older than that belongs to a request whose process
/// died, and a retry may take it over instead of getting 409 for the whole window.
const IN_PROGRESS_MARGIN: Duration = Duration::from_secs(15);

/// A caller's key, scoped so that two clients cannot collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey {
    pub scope: String,
    pub key: String,
}

impl IdempotencyKey {
    /// An `Idempotency-Key` header's key, scoped to the caller's API key (its fingerprint,
    /// or `-` with auth off).
    pub fn from_header(caller: Option<&str>, key: String) -> Self {
        Self {
            scope: caller.unwrap_or("-").to_owned(),
            key,
        }
    }

    /// A caller-named prompt's key. Prompt ids are global, so its scope is too: the same
    /// prompt sent under two API keys is still one prompt.
    pub fn for_prompt(prompt_id: &str) -> Self {
        Self {
            scope: "-".to_owned(),
            key: format!("promptId:{prompt_id}"),
        }
    }
}

/// A key this request holds; [`PromptService::settle_key`] ends the hold.
pub struct Claim {
    pub(super) key: IdempotencyKey,
    /// A token of this request's own, so only it can complete or free the key.
    pub(super) owner: String,
    pub(super) request_hash: String,
}

/// How a request that carries a key is answered.
pub enum Keyed {
    /// The key was claimed and the prompt submitted. The caller answers with the result and
    /// then calls [`PromptService::settle_key`].
    Submitted {
        result: Result<PromptAccepted, SubmitError>,
        claim: Claim,
    },
    /// Answered without a claim: refused by the rate limit (nothing written), or a named
    /// prompt the ledger shows delivered (answered from its record).
    Answered(Result<PromptAccepted, SubmitError>),
    /// An earlier request with this key was answered so; answer the same.
    Replayed { status: u16, body: Value },
    /// A request with this key is still running.
    InProgress,
    /// The key came with another body before.
    KeyReused,
    /// The ledger could not be asked in time; nothing was sent.
    Unavailable,
}

impl From<IdempotencyBegin> for Keyed {
    fn from(found: IdempotencyBegin) -> Self {
        match found {
            IdempotencyBegin::InProgress => Keyed::InProgress,
            IdempotencyBegin::Mismatch => Keyed::KeyReused,
            IdempotencyBegin::Completed { status, body } => Keyed::Replayed { status, body },
            // Only a claim starts a key; a read never reports it.
            IdempotencyBegin::Started => Keyed::Unavailable,
        }
    }
}

impl PromptService {
    /// Submits `request` unless its key was used before (or is in use). Every ledger call
    /// waits until `deadline` at most.
    pub async fn submit_keyed(
        &self,
        request: PromptRequest,
        context: &RequestContext,
        key: &IdempotencyKey,
        deadline: Instant,
    ) -> Keyed {
        let request_hash = request_hash(&request);
        // An answer this process decided but has not written yet: the ledger would say "in
        // progress", or, with the lease run out, nothing at all.
        if let Some(known) = self.unsettled.answer(key, &request_hash) {
            return known;
        }
        let peeked = self
            .store
            .peek_idempotent(&key.scope, &key.key, &request_hash);
        match within(deadline, peeked).await {
            Err(()) => return Keyed::Unavailable,
            Ok(Some(found)) => return found.into(),
            Ok(None) => {}
        }
        if let Err(refused) = self.check_eligible(&request) {
            // Kept for replay: a retry of an ineligible request is answered the same.
            return match self.claim(key, request_hash, deadline).await {
                Ok(claim) => Keyed::Submitted {
                    result: Err(refused),
                    claim,
                },
                Err(Keyed::Unavailable) => Keyed::Answered(Err(refused)),
                Err(other) => other,
            };
        }
        match self.already_delivered(&request, deadline).await {
            Err(()) => return Keyed::Unavailable,
            Ok(Some(accepted)) => return Keyed::Answered(Ok(accepted)),
            Ok(None) => {}
        }
        let admitted = match self.take_token(deadline).await {
            Ok(admitted) => admitted,
            Err(refused) => return Keyed::Answered(Err(refused)),
        };
        match self.claim(key, request_hash, deadline).await {
            Ok(claim) => Keyed::Submitted {
                result: self.send(request, context, admitted).await,
                claim,
            },
            // Another request claimed it since the read: answer as its claim says.
            Err(keyed) => keyed,
        }
    }

    /// Claims `key` for this request, or says how the request is answered instead.
    async fn claim(
        &self,
        key: &IdempotencyKey,
        request_hash: String,
        deadline: Instant,
    ) -> Result<Claim, Keyed> {
        let owner = ulid::Ulid::new().to_string();
        let lease = self.request_timeout + IN_PROGRESS_MARGIN;
        let begun = self
            .store
            .begin_idempotent(&key.scope, &key.key, &request_hash, lease, &owner);
        match within(deadline, begun).await {
            Ok(IdempotencyBegin::Started) => Ok(Claim {
                key: key.clone(),
                owner,
                request_hash,
            }),
            Ok(found) => Err(found.into()),
            Err(()) => Err(Keyed::Unavailable),
        }
    }

    /// A prompt the caller named and the ledger shows delivered is answered from its record,
    /// not sent again: its idempotency key may have expired. (A failed record is no
    /// obstacle: the retry's record replaces it.) `Err` when the ledger gave no answer by
    /// `deadline`.
    async fn already_delivered(
        &self,
        request: &PromptRequest,
        deadline: Instant,
    ) -> Result<Option<PromptAccepted>, ()> {
        let Some(prompt_id) = request.prompt_id.as_deref() else {
            return Ok(None);
        };
        let record = match tokio::time::timeout_at(deadline, self.store.get(prompt_id)).await {
            Err(_) => {
                tracing::error!(
                    prompt_id,
                    "no answer from the ledger by the request deadline"
                );
                return Err(());
            }
            Ok(Ok(Some(record))) if record.status == crate::store::DeliveryStatus::Delivered => {
                record
            }
            Ok(Ok(_)) => return Ok(None),
            Ok(Err(error)) => {
                // The claim still guards the key, and the record's own write says whether
                // it clashes.
                tracing::warn!(%error, prompt_id, "could not look for an earlier delivery");
                return Ok(None);
            }
        };
        Ok(Some(PromptAccepted {
            prompt_id: record.prompt_id,
            attempt: record.attempt.unwrap_or(1),
            fallback: record.fallback,
            correlation: record.correlation,
            replayed: true,
            recorded: true,
        }))
    }
}

/// `operation`'s result, or `Err` (logged) when it failed or gave no answer by `deadline`.
async fn within<T>(
    deadline: Instant,
    operation: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, ()> {
    match tokio::time::timeout_at(deadline, operation).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::error!(%error, "idempotency check failed");
            Err(())
        }
        Err(_) => {
            tracing::error!("idempotency check: no answer from the ledger by the request deadline");
            Err(())
        }
    }
}

fn request_hash(request: &PromptRequest) -> String {
    let canonical = serde_json::to_vec(request).unwrap_or_default();
    hex::encode(Sha256::digest(canonical))
}
