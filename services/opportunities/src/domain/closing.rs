//! The end of a sale: won, lost or disqualified, with the reasons each outcome needs and a
//! close date that is neither in the future nor long before the deal was entered.

use closeloop_kit::Problem;
use closeloop_kit::error::Violations;
use time::Date;

use super::commands::Closing;
use super::opportunity::Opportunity;
use super::policy::Policy;
use super::vocabulary::{Actor, CloseRecord, DisqualificationReason, LossReason, Outcome};

/// How far before its creation an opportunity may be closed (a deal entered after the fact).
pub const MAX_BACKDATE_DAYS: i64 = 366;

impl Opportunity {
    /// Closes the opportunity.
    ///
    /// # Errors
    /// INVALID_ARGUMENT when a required reason is missing; FAILED_PRECONDITION naming each unmet
    /// gate, or when already closed.
    pub fn close(
        &mut self,
        closing: Closing,
        actor: Actor,
        policy: &Policy,
        today: Date,
        now: i64,
    ) -> Result<(), Problem> {
        self.ensure_open()?;
        let mut v = Violations::new();
        let competitor = closing.competitor.trim().to_owned();
        let notes = closing.notes.trim().to_owned();
        match closing.outcome {
            Outcome::Won => {
                if closing.loss_reason.is_some() {
                    v.add("loss_reason", "only for a LOST outcome");
                }
                if closing.disqualification_reason.is_some() {
                    v.add("disqualification_reason", "only for a DISQUALIFIED outcome");
                }
            }
            Outcome::Lost => {
                match closing.loss_reason {
                    None => v.add(
                        "loss_reason",
                        "required when lost: PRICE, COMPETITOR, NO_DECISION, TIMING, PRODUCT_FIT or OTHER",
                    ),
                    Some(LossReason::Competitor) if competitor.is_empty() => {
                        v.add("competitor", "required when the loss reason is COMPETITOR")
                    }
                    Some(LossReason::Other) if notes.is_empty() => {
                        v.add("notes", "required when the loss reason is OTHER")
                    }
                    Some(_) => {}
                }
                if closing.disqualification_reason.is_some() {
                    v.add("disqualification_reason", "only for a DISQUALIFIED outcome");
                }
            }
            Outcome::Disqualified => {
                match closing.disqualification_reason {
                    None => v.add("disqualification_reason", "required when disqualifying"),
                    Some(DisqualificationReason::Other) if notes.is_empty() => v.add(
                        "notes",
                        "required when the disqualification reason is OTHER",
                    ),
                    Some(_) => {}
                }
                if closing.loss_reason.is_some() {
                    v.add("loss_reason", "only for a LOST outcome");
                }
            }
        }
        if let Some(date) = closing.close_date {
            let created = closeloop_kit::time::date_of_micros(self.create_time);
            let earliest = created.saturating_sub(time::Duration::days(MAX_BACKDATE_DAYS));
            // A day of slack for callers whose local date is ahead of UTC.
            let latest = today.saturating_add(time::Duration::days(1));
            if date > latest {
                v.add("close_date", "must not be in the future");
            } else if date < earliest {
                v.add(
                    "close_date",
                    format!(
                        "must be at most {MAX_BACKDATE_DAYS} days before the opportunity was created ({created})"
                    ),
                );
            }
        }
        v.into_result()?;
        let to = closing.outcome.stage();
        self.check_transition(to, policy)?;
        self.close = Some(CloseRecord {
            outcome: closing.outcome,
            close_date: closing.close_date.unwrap_or(today),
            loss_reason: closing.loss_reason,
            disqualification_reason: closing.disqualification_reason,
            competitor,
            notes,
            closed_by: actor.clone(),
            time: now,
        });
        self.enter(to, actor, now);
        Ok(())
    }
}
