//! One transcript look-up for a leased job, and what becomes of its result.

use time::OffsetDateTime;
use tokio::sync::OwnedSemaphorePermit;

use super::Context;
use crate::{
    domain::PromptId,
    metrics::{CorrelationLabels, Metrics},
    store::{BatchWriter, CorrelationClaim, CorrelationState, CorrelationUpdate, LedgerWrite},
    tenant::{CorrelationLookup, CorrelationTarget},
};

/// Queues a finished look-up's result, frees its worker, then waits for the commit. A commit
/// under load takes milliseconds, and a worker waiting for it would look nothing up meanwhile.
pub(super) async fn record(
    ledger: &BatchWriter,
    prompt_id: PromptId,
    update: CorrelationUpdate,
    worker: OwnedSemaphorePermit,
) {
    let write = LedgerWrite::Correlation {
        prompt_id: prompt_id.clone(),
        update,
    };
    let committed = match ledger.queue(write).await {
        Ok(commit) => {
            drop(worker);
            commit.committed().await
        }
        Err(error) => Err(error),
    };
    if let Err(error) = committed {
        tracing::error!(%error, %prompt_id, "could not record correlation");
    }
}

/// One transcript look-up for a leased job; the result to record when the job is finished.
pub(super) async fn look_up(
    context: &Context,
    claim: CorrelationClaim,
) -> Option<(PromptId, CorrelationUpdate)> {
    let attempts = claim.attempts + 1;
    let target = CorrelationTarget {
        interaction_id: &claim.interaction_id,
        agent_id: &claim.agent_id,
        request_id: claim.request_id.as_deref(),
    };
    let lookup = tokio::select! {
        lookup = context.tenant.correlate(&target, context.attempt_timeout) => lookup,
        // The lease lapses and the job is taken up again later.
        () = context.abort.cancelled() => return None,
    };
    let finished = match lookup {
        CorrelationLookup::Found {
            transcript_id,
            detail,
        } => {
            tracing::info!(
                target: "correlation",
                prompt_id = %claim.prompt_id,
                transcript_id,
                detail,
                interaction_id = %claim.interaction_id,
                agent_id = %claim.agent_id,
                attempts,
                "correlation"
            );
            CorrelationUpdate {
                state: CorrelationState::Correlated,
                transcript_id,
                attempts,
                detail,
            }
        }
        CorrelationLookup::Failed { status, reason } => {
            tracing::warn!(prompt_id = %claim.prompt_id, status, reason, "correlation failed");
            CorrelationUpdate {
                state: CorrelationState::Failed,
                transcript_id: None,
                attempts,
                detail: reason,
            }
        }
        CorrelationLookup::NotYet | CorrelationLookup::Transient => {
            let next = OffsetDateTime::now_utc() + context.backoff.delay_random(attempts);
            if next <= claim.give_up_at {
                reschedule(context, &claim, attempts, next).await;
                return None;
            }
            tracing::warn!(prompt_id = %claim.prompt_id, attempts, "no match in time; correlation failed");
            CorrelationUpdate {
                state: CorrelationState::Failed,
                transcript_id: None,
                attempts,
                detail: Some("no match before giving up".into()),
            }
        }
    };
    count(&context.metrics, finished.state);
    Some((claim.prompt_id, finished))
}

async fn reschedule(
    context: &Context,
    claim: &CorrelationClaim,
    attempts: u32,
    next: OffsetDateTime,
) {
    match context
        .store
        .reschedule_correlation(&claim.prompt_id, &context.owner, attempts, next)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(prompt_id = %claim.prompt_id, "correlation lease lost to another worker")
        }
        Err(error) => {
            tracing::error!(%error, prompt_id = %claim.prompt_id, "could not reschedule correlation")
        }
    }
}

fn count(metrics: &Metrics, state: CorrelationState) {
    metrics
        .correlations
        .get_or_create(&CorrelationLabels {
            outcome: state.as_str(),
        })
        .inc();
}
