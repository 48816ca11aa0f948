//! Withdrawing a delivered prompt from the agent's screen (`DELETE /prompts/{promptId}`).

use time::OffsetDateTime;

use super::PromptService;
use crate::{
    error::ApiError,
    store::{DeliveryStatus, PromptRecord},
    tenant::Retraction,
};

impl PromptService {
    /// Withdraws the prompt where the dialect can, records when, and returns the record. A
    /// prompt already withdrawn is returned as it is, with nothing sent; withdrawals are one
    /// at a time in this process, so two racing requests send one DELETE.
    pub async fn retract(&self, prompt_id: &str) -> Result<PromptRecord, ApiError> {
        let _turn = self.retractions.lock().await;
        let record = self.bounded_find(prompt_id).await?;
        if record.retracted_at.is_some() {
            return Ok(record);
        }
        let not_retractable = |reason: &str| ApiError::NotRetractable {
            reason: reason.to_owned(),
        };
        if record.status != DeliveryStatus::Delivered {
            return Err(not_retractable("the prompt was not delivered"));
        }
        let Some(receipt) = record.tenant_message_id.as_deref() else {
            return Err(not_retractable(
                "the tenant gave no message id for this prompt: the tutorial dialect and \
                 custom events cannot be withdrawn",
            ));
        };
        let tenant = &self.deliverer.tenant;
        match tenant
            .retract(receipt, self.deliverer.policy.attempt_timeout)
            .await
        {
            Retraction::Withdrawn => {}
            Retraction::NotSupported => {
                return Err(not_retractable("this delivery mode has no withdrawal"))
            }
            Retraction::Failed { status } => {
                tracing::warn!(prompt_id, status, "the tenant did not withdraw the prompt");
                return Err(ApiError::UpstreamFailed {
                    prompt_id: record.prompt_id.to_string(),
                });
            }
        }
        let stored = tokio::time::timeout(
            self.request_timeout,
            self.store
                .mark_retracted(prompt_id, OffsetDateTime::now_utc()),
        )
        .await;
        if !matches!(stored, Ok(Ok(()))) {
            // Withdrawn all the same: the caller is told, and a retry finds it gone (404 from
            // the tenant counts as withdrawn) and records it then.
            tracing::error!(prompt_id, "could not record the withdrawal");
            return Err(ApiError::Internal);
        }
        self.bounded_find(prompt_id).await
    }

    /// The record, within the request timeout; 404 when there is none.
    async fn bounded_find(&self, prompt_id: &str) -> Result<PromptRecord, ApiError> {
        let found = tokio::time::timeout(self.request_timeout, self.store.get(prompt_id)).await;
        match found {
            Ok(Ok(Some(record))) => Ok(record),
            Ok(Ok(None)) => Err(ApiError::NotFound(format!("no prompt with id {prompt_id}"))),
            Ok(Err(error)) => {
                tracing::error!(%error, "record look-up failed");
                Err(ApiError::Internal)
            }
            Err(_) => {
                tracing::error!(
                    prompt_id,
                    "record look-up took longer than the request timeout"
                );
                Err(ApiError::Internal)
            }
        }
    }
}
