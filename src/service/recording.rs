//! Writing a delivery's record, and handing its correlation on once the record commits.

use std::time::Duration;

use tokio::time::Instant;

use crate::{
    config::Acknowledge,
    correlation::{CorrelationQueue, Reservation},
    domain::PromptId,
    store::{CorrelationClaim, CorrelationState, LedgerWrite, NewJob, PendingCommit, PromptRecord},
};

use super::{pending::PendingKind, PromptService};

/// How long past the request deadline a delivered prompt's answer waits for its record: time
/// for a commit that is merely slow. A ledger stalled for longer (a locked table, a database
/// that does not answer) must not hold the answer of a prompt already on the agent's screen;
/// the record is then written when the ledger recovers.
pub const RECORD_WAIT_MARGIN: Duration = Duration::from_secs(1);

impl PromptService {
    /// Writes the record and, for a delivered prompt, its correlation job in one transaction
    /// (shared with other prompts' writes), then queues the correlation. Waits until
    /// `deadline` plus [`RECORD_WAIT_MARGIN`] at most, and returns whether the record has
    /// committed by then; one that has not is left to commit in a task of its own, drained
    /// on shutdown. A delivered prompt must still get its answer when the ledger cannot be
    /// written, so a failure is logged, not returned. With [`Acknowledge::Queued`] only the
    /// queueing is awaited here.
    pub(super) async fn save(&self, record: PromptRecord, deadline: Instant) -> bool {
        let bound = deadline + RECORD_WAIT_MARGIN;
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
        let ledger = self.ledger.clone();
        let correlation = self.correlation.clone();
        let mut queued = Box::pin(async move { ledger.queue(write).await });
        let commit = match tokio::time::timeout_at(bound, &mut queued).await {
            Ok(Ok(commit)) => commit,
            Ok(Err(error)) => {
                tracing::error!(%error, %prompt_id, "could not record prompt");
                return false;
            }
            Err(_) => {
                // Still waiting for room in the queue: nothing of it is queued yet.
                let Some(slot) = self.pending_slot() else {
                    self.lose_pending("record");
                    return false;
                };
                tracing::warn!(%prompt_id, "answered before its record could be queued");
                let finish = async move {
                    match queued.await {
                        Ok(commit) => {
                            after_commit(commit, handoff, pending, prompt_id, correlation).await;
                        }
                        Err(error) => {
                            tracing::error!(%error, %prompt_id, "could not record prompt")
                        }
                    }
                };
                self.keep_pending(PendingKind::Record, slot, finish);
                return false;
            }
        };
        let mut finish = Box::pin(after_commit(
            commit,
            handoff,
            pending,
            prompt_id.clone(),
            correlation,
        ));
        if self.acknowledge == Acknowledge::Queued {
            self.tasks
                .spawn(tracing::Instrument::in_current_span(async move {
                    finish.await;
                }));
            return false;
        }
        if let Ok(committed) = tokio::time::timeout_at(bound, &mut finish).await {
            return committed;
        }
        match self.pending_slot() {
            Some(slot) => {
                tracing::warn!(%prompt_id, "answered before its record committed; it commits when the ledger can");
                self.keep_pending(PendingKind::Record, slot, async move {
                    finish.await;
                });
            }
            // The write is queued and commits without a waiter; only its correlation is not
            // handed over, and its job (written leased) is taken up once the lease lapses.
            None => tracing::warn!(
                %prompt_id,
                "too many records await their commit; this one's correlation waits for its lease"
            ),
        }
        false
    }
}

/// Once the record has committed, its correlation goes to the worker it was reserved for, or
/// the poller is woken for it. Whether it committed.
async fn after_commit(
    commit: PendingCommit,
    handoff: Option<(Reservation, CorrelationClaim)>,
    pending: bool,
    prompt_id: PromptId,
    correlation: CorrelationQueue,
) -> bool {
    if let Err(error) = commit.committed().await {
        tracing::error!(%error, %prompt_id, "could not record prompt");
        return false;
    }
    match handoff {
        Some((reservation, claim)) => reservation.hand_over(claim),
        None if pending => correlation.wake(),
        None => {}
    }
    true
}
