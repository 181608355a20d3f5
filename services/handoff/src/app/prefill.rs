//! The background prefill: every `[handoff] prefill_retry_ms`, the opportunities of the handoffs
//! whose prefill is PENDING are read again. Each read is made outside any transaction; then, in
//! one, the handoff is loaded again (locked) and filled only if its prefill is still PENDING, so
//! a handoff is never filled twice, whatever ran in between (a StartHandoff still answering,
//! another replica's round, a submit that gave the prefill up). An opportunity that does not
//! exist makes the prefill FAILED; any other failure leaves the handoff untouched until the next
//! round (its etag does not change every few seconds).

use std::time::Duration;

use closeloop_kit::Problem;
use tokio::sync::watch;

use super::App;
use crate::domain::lifecycle::OpportunityFacts;
use crate::domain::vocabulary::HandoffId;
use crate::peers::OpportunityRead;

/// Handoffs read per query of a round.
const BATCH: u32 = 100;

/// What a round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Handoffs filled.
    pub filled: usize,
    /// Handoffs whose opportunity does not exist (FAILED).
    pub failed: usize,
    /// Handoffs whose opportunity could not be read (the round stops at the first: the
    /// opportunities service is down or refusing).
    pub pending: usize,
}

impl App {
    /// Runs prefill rounds until `stop` turns true: the first at once (the service may have
    /// stopped with prefills pending), then one every `prefill_retry_ms`.
    pub async fn run_prefills(self, stop: watch::Receiver<bool>) {
        let every = Duration::from_millis(self.settings.prefill_retry_ms);
        super::repeat(every, stop, |stop| {
            let app = self.clone();
            async move {
                let r = app.prefill_round(&stop).await?;
                if r.filled + r.failed > 0 {
                    tracing::info!(
                        filled = r.filled,
                        failed = r.failed,
                        pending = r.pending,
                        "prefill round"
                    );
                }
                Ok(())
            }
        })
        .await;
    }

    /// One round: every PENDING prefill read again, oldest first. Nothing is read while the
    /// opportunities service is not configured.
    ///
    /// # Errors
    /// Database errors (the round stops; the next one starts over).
    pub async fn prefill_round(&self, stop: &watch::Receiver<bool>) -> Result<Round, Problem> {
        let mut round = Round::default();
        if self.opportunities.is_none() {
            return Ok(round);
        }
        let mut after: Option<HandoffId> = None;
        loop {
            let batch = self.store.pending_prefills(after.as_ref(), BATCH).await?;
            let Some(last) = batch.last() else {
                return Ok(round);
            };
            after = Some(last.id.clone());
            let full = batch.len() == BATCH as usize;
            for pending in batch {
                if *stop.borrow() {
                    return Ok(round);
                }
                match self.read_opportunity(&pending.opportunity).await {
                    OpportunityRead::Found(facts) => {
                        if self.apply_prefill(&pending.id, Ok(facts)).await? {
                            round.filled += 1;
                        }
                    }
                    OpportunityRead::Missing(reason) => {
                        if self.apply_prefill(&pending.id, Err(reason)).await? {
                            round.failed += 1;
                        }
                    }
                    OpportunityRead::Failed(failure) => {
                        // The service is down, slow or refusing us: every other read of this
                        // round would fail the same way. The next round starts over.
                        tracing::debug!(%failure, "prefill: the opportunities service did not answer");
                        round.pending += 1;
                        return Ok(round);
                    }
                }
            }
            if !full {
                return Ok(round);
            }
        }
    }

    /// Fills the handoff `id` from `facts`, or makes its prefill FAILED for the reason, in one
    /// transaction, only if its prefill is still PENDING. Returns whether it changed it.
    ///
    /// # Errors
    /// Database errors; ABORTED on a concurrent change (the next round tries again).
    pub async fn apply_prefill(
        &self,
        id: &HandoffId,
        facts: Result<OpportunityFacts, String>,
    ) -> Result<bool, Problem> {
        let mut tx = self.store.db().transaction().await?;
        let Some(mut handoff) = self.store.load_handoff(&mut tx, id).await? else {
            return Ok(false);
        };
        if !handoff.prefill.is_pending() {
            return Ok(false);
        }
        let now = self.clock.now_micros();
        match facts {
            Ok(facts) => {
                if let Err(refused) = handoff.prefill(facts, now) {
                    // Only a DRAFT handoff has a PENDING prefill (submitting gives it up); were
                    // it otherwise, it is given up rather than retried forever.
                    handoff.prefill_failed(format!("not filled: {refused}"), now);
                }
            }
            Err(reason) => handoff.prefill_failed(reason, now),
        }
        handoff.version += 1;
        self.store.save_handoff(&mut tx, &handoff).await?;
        tx.commit().await?;
        Ok(true)
    }
}
