//! The follow-up of OpenAccount: the outbox relay learns only that account-management confirmed
//! the call, not which account it opened (or extended). Every `[handoff] account_follow_up_ms`,
//! for each ACCEPTED handoff whose call is DELIVERED and whose account is not recorded yet, the
//! service asks account-management (ListAccounts by the customer, one account per customer) for
//! the account that holds the handoff, outside any transaction; then, in one, records it on the
//! handoff (`account_opening.account`, and when it was opened: the delivery's time) if it is
//! still unrecorded. A call still PENDING or REFUSED is left to the relay and the operator.

use std::time::Duration;

use closeloop_kit::Problem;
use closeloop_kit::outbox::{self, OwedState};
use tokio::sync::watch;

use super::App;
use crate::domain::vocabulary::HandoffId;

/// Handoffs read per query of a round.
const BATCH: u32 = 100;

impl App {
    /// Runs follow-up rounds until `stop` turns true: the first at once, then one every
    /// `account_follow_up_ms`.
    pub async fn run_account_follow_ups(self, stop: watch::Receiver<bool>) {
        let every = Duration::from_millis(self.settings.account_follow_up_ms);
        super::repeat(every, stop, |stop| {
            let app = self.clone();
            async move {
                let recorded = app.account_round(&stop).await?;
                if recorded > 0 {
                    tracing::info!(recorded, "opened accounts recorded");
                }
                Ok(())
            }
        })
        .await;
    }

    /// One round; returns how many accounts it recorded. Nothing is read while account-management
    /// is not configured.
    ///
    /// # Errors
    /// Database errors (the round stops; the next one starts over).
    pub async fn account_round(&self, stop: &watch::Receiver<bool>) -> Result<usize, Problem> {
        let Some(accounts) = &self.accounts else {
            return Ok(0);
        };
        let mut recorded = 0;
        let mut after: Option<HandoffId> = None;
        loop {
            let batch = self.store.awaiting_accounts(after.as_ref(), BATCH).await?;
            let Some(last) = batch.last() else {
                return Ok(recorded);
            };
            after = Some(last.id.clone());
            let full = batch.len() == BATCH as usize;
            for awaiting in batch {
                if *stop.borrow() {
                    return Ok(recorded);
                }
                let command = format!("open-account-{}", awaiting.id);
                let call = outbox::owed_status(self.store.db(), &command).await?;
                if call.state != OwedState::Delivered {
                    continue;
                }
                let name = format!("handoffs/{}", awaiting.id);
                match accounts.opened_by(&awaiting.account_id, &name).await {
                    Ok(Some(account)) => {
                        let opened = if call.state_change_time > 0 {
                            call.state_change_time
                        } else {
                            self.clock.now_micros()
                        };
                        if self.record_account(&awaiting.id, account, opened).await? {
                            recorded += 1;
                        }
                    }
                    Ok(None) => {}
                    Err(failure) => {
                        tracing::debug!(%failure, "account follow-up: account-management did not answer");
                        return Ok(recorded);
                    }
                }
            }
            if !full {
                return Ok(recorded);
            }
        }
    }

    /// Records `account` as opened at `open_time` on the handoff `id`, in one transaction, if no
    /// account is recorded on it yet. Returns whether it changed it.
    ///
    /// # Errors
    /// Database errors; ABORTED on a concurrent change (the next round tries again).
    pub async fn record_account(
        &self,
        id: &HandoffId,
        account: String,
        open_time: i64,
    ) -> Result<bool, Problem> {
        let mut tx = self.store.db().transaction().await?;
        let Some(mut handoff) = self.store.load_handoff(&mut tx, id).await? else {
            return Ok(false);
        };
        if handoff.account_opening.open_time.is_some() {
            return Ok(false);
        }
        if !handoff.record_account_opened(account, open_time)? {
            return Ok(false);
        }
        handoff.version += 1;
        self.store.save_handoff(&mut tx, &handoff).await?;
        tx.commit().await?;
        Ok(true)
    }
}
