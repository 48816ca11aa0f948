//! Writing a delivery's record, and handing its correlation on once the record commits.

use crate::{
    config::Acknowledge,
    correlation::{CorrelationQueue, Reservation},
    domain::PromptId,
    store::{CorrelationClaim, CorrelationState, LedgerWrite, NewJob, PendingCommit, PromptRecord},
};

use super::PromptService;

impl PromptService {
    /// Writes the record and, for a delivered prompt, its correlation job in one transaction
    /// (shared with other prompts' writes), then queues the correlation. A delivered prompt
    /// must still get its answer when the ledger cannot be written, so a failure is logged,
    /// not returned. With [`Acknowledge::Queued`] only the queueing is awaited here; the
    /// commit and the hand-over after it finish in a task of their own, drained on shutdown
    /// with the deliveries.
    pub(super) async fn save(&self, record: PromptRecord) {
        let pending = record.correlation == CorrelationState::Pending;
        // With room at the worker the job is written leased to it and handed over; without,
        // it is written free for the poller.
        let handoff = pending
            .then(|| self.correlation.reserve())
            .flatten()
            .map(|reservation| {
                let claim = CorrelationClaim::of_new_job(&record, self.correlation_give_up);
                (reservation, claim)
            });
        let prompt_id = record.prompt_id.clone();
        let write = LedgerWrite::Record {
            record: Box::new(record),
            job: pending.then(|| NewJob {
                give_up_after: self.correlation_give_up,
                lease: handoff.as_ref().map(|(r, _)| r.lease.clone()),
            }),
        };
        let commit = match self.ledger.queue(write).await {
            Ok(commit) => commit,
            Err(error) => {
                tracing::error!(%error, %prompt_id, "could not record prompt");
                return;
            }
        };
        match self.acknowledge {
            Acknowledge::Committed => {
                after_commit(commit, handoff, pending, prompt_id, &self.correlation).await;
            }
            Acknowledge::Queued => {
                let correlation = self.correlation.clone();
                let finish = async move {
                    after_commit(commit, handoff, pending, prompt_id, &correlation).await;
                };
                self.tasks
                    .spawn(tracing::Instrument::in_current_span(finish));
            }
        }
    }
}

/// Once the record has committed, its correlation goes to the worker it was reserved for, or
/// the poller is woken for it.
async fn after_commit(
    commit: PendingCommit,
    handoff: Option<(Reservation, CorrelationClaim)>,
    pending: bool,
    prompt_id: PromptId,
    correlation: &CorrelationQueue,
) {
    if let Err(error) = commit.committed().await {
        tracing::error!(%error, %prompt_id, "could not record prompt");
        return;
    }
    match handoff {
        Some((reservation, claim)) => reservation.hand_over(claim),
        None if pending => correlation.wake(),
        None => {}
    }
}
