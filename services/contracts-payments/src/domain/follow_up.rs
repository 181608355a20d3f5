//! Payment follow-ups: the task a failed payment gives the deal's salesperson. One OPEN
//! follow-up per invoice collects the failed attempts while it is open; the salesperson resolves
//! it with a note, and the service resolves it by itself when its invoice leaves the states in
//! which money is collected (PAID, VOID, UNCOLLECTIBLE), since nothing is left to chase.
//!
//! Opening and updating happen as part of recording an attempt ([`super::payments`]), which
//! keeps the invoice's `open_follow_up` in step; [`resolve_follow_up`] does the same for a
//! resolution by a person.

use closeloop_kit::Problem;
use closeloop_kit::types::{CurrencyCode, Money};

use super::invoice::Invoice;
use super::payments::PaymentAttempt;
use super::vocabulary::{
    Actor, AttemptId, ContractId, DeclineType, FollowUpId, FollowUpStatus, InvoiceId, Party,
};

/// Why the service resolved a follow-up by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoResolution {
    /// The invoice became PAID.
    Paid,
    /// The invoice was voided.
    Voided,
    /// The invoice was written off.
    WrittenOff,
}

impl AutoResolution {
    /// The resolution note the proto fixes for it.
    pub fn note(self) -> &'static str {
        match self {
            AutoResolution::Paid => "paid",
            AutoResolution::Voided => "invoice voided",
            AutoResolution::WrittenOff => "written off as uncollectible",
        }
    }
}

/// Failed attempts a follow-up lists at most: the most recent ones.
pub const MAX_LISTED_ATTEMPTS: usize = 100;

/// A task for the deal's salesperson to follow up a failed payment with the client.
#[derive(Debug, Clone, PartialEq)]
pub struct FollowUp {
    pub id: FollowUpId,
    /// The salesperson who owns the deal (token subject).
    pub assignee: String,
    pub status: FollowUpStatus,
    pub invoice: InvoiceId,
    pub contract: ContractId,
    pub account: Party,
    /// The invoice's currency: that of `amount_remaining`.
    pub currency: CurrencyCode,
    /// One line on the last failure, e.g.
    /// "Payment of EUR 2500.00 failed: hard decline (card_expired)".
    pub summary: String,
    /// The failed attempts behind it, oldest first.
    pub payment_attempts: Vec<AttemptId>,
    pub last_decline_type: Option<DeclineType>,
    pub last_failure_code: String,
    /// Minor units: the invoice's amount remaining when the follow-up was last updated.
    pub amount_remaining: i64,
    /// The invoice's next planned retry, if any.
    pub next_retry_time: Option<i64>,
    /// Empty while OPEN.
    pub resolution_note: String,
    pub resolved_by: Option<Actor>,
    pub resolve_time: Option<i64>,
    pub create_time: i64,
    pub update_time: i64,
    /// Optimistic concurrency: bumped by every save.
    pub version: i64,
}

/// "Payment of EUR 2500.00 failed: hard decline (card_expired)"; without a failure code the
/// parenthesis is left out.
pub fn summary(currency: CurrencyCode, amount: i64, decline: DeclineType, code: &str) -> String {
    let kind = match decline {
        DeclineType::Soft => "soft",
        DeclineType::Hard => "hard",
    };
    let code = if code.is_empty() {
        String::new()
    } else {
        format!(" ({code})")
    };
    format!(
        "Payment of {} failed: {kind} decline{code}",
        Money::new(currency, amount)
    )
}

impl FollowUp {
    /// The follow-up a failed `attempt` opens on `invoice` (the invoice as the attempt left it,
    /// so the amount remaining and the next retry are current), assigned to the deal's
    /// salesperson.
    pub fn open(id: FollowUpId, invoice: &Invoice, attempt: &PaymentAttempt, now: i64) -> FollowUp {
        let mut f = FollowUp {
            id,
            assignee: invoice.owner.clone(),
            status: FollowUpStatus::Open,
            invoice: invoice.id.clone(),
            contract: invoice.contract.clone(),
            account: invoice.account.clone(),
            currency: invoice.currency,
            summary: String::new(),
            payment_attempts: Vec::new(),
            last_decline_type: None,
            last_failure_code: String::new(),
            amount_remaining: 0,
            next_retry_time: None,
            resolution_note: String::new(),
            resolved_by: None,
            resolve_time: None,
            create_time: now,
            update_time: now,
            version: 1,
        };
        f.add_failure(invoice, attempt, now);
        f
    }

    /// `followUps/{id}`.
    pub fn name(&self) -> String {
        format!("followUps/{}", self.id)
    }

    /// The entity tag clients send back.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version)
    }

    /// Refuses when `etag` is set and does not match.
    ///
    /// # Errors
    /// ABORTED on mismatch.
    pub fn check_etag(&self, etag: &str) -> Result<(), Problem> {
        if etag.is_empty() || etag == self.etag() {
            Ok(())
        } else {
            Err(Problem::Aborted(format!(
                "etag {etag} does not match the current {}: the follow-up changed; read it again",
                self.etag()
            )))
        }
    }

    /// Whether it still needs the assignee.
    pub fn is_open(&self) -> bool {
        self.status == FollowUpStatus::Open
    }

    /// Adds a failed `attempt` to the open follow-up: the summary, the last decline and the
    /// invoice's figures describe the latest failure. `invoice` is as the attempt left it.
    pub fn add_failure(&mut self, invoice: &Invoice, attempt: &PaymentAttempt, now: i64) {
        // Only failures are chased; anything else just brings the figures up to date.
        let Some(decline) = attempt.decline_type else {
            self.refresh(invoice, now);
            return;
        };
        self.summary = summary(
            invoice.currency,
            attempt.amount,
            decline,
            &attempt.failure_code,
        );
        if !self.payment_attempts.contains(&attempt.id) {
            self.payment_attempts.push(attempt.id.clone());
            // A processor may report failures without end while the follow-up stays open: it
            // keeps the most recent ones (ListPaymentAttempts has them all), so it stays small.
            if self.payment_attempts.len() > MAX_LISTED_ATTEMPTS {
                let excess = self.payment_attempts.len() - MAX_LISTED_ATTEMPTS;
                self.payment_attempts.drain(..excess);
            }
        }
        self.last_decline_type = attempt.decline_type;
        attempt.failure_code.clone_into(&mut self.last_failure_code);
        self.refresh(invoice, now);
    }

    /// Brings the invoice's figures up to date (a partial payment lowered what remains), so the
    /// salesperson does not chase money already collected.
    pub fn refresh(&mut self, invoice: &Invoice, now: i64) {
        self.amount_remaining = invoice.amount_remaining();
        self.next_retry_time = invoice.dunning.next_retry_time;
        self.update_time = now;
    }

    /// OPEN -> RESOLVED by a person, with what was done.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless OPEN.
    pub fn resolve(&mut self, note: &str, by: Actor, now: i64) -> Result<(), Problem> {
        if !self.is_open() {
            return Err(Problem::gate(
                "status",
                "status",
                format!(
                    "the follow-up is {} already ({:?})",
                    self.status.code(),
                    self.resolution_note
                ),
            ));
        }
        self.close(note, by, now);
        Ok(())
    }

    /// Resolves an OPEN follow-up on the service's behalf (`service_subject`) because its
    /// `invoice` (as the change left it) was paid, voided or written off; the figures are
    /// brought up to date first, so a paid one shows nothing remaining and no retry. Returns
    /// whether it was open: a resolved one is left as its resolver left it.
    pub fn auto_resolve(
        &mut self,
        invoice: &Invoice,
        why: AutoResolution,
        service_subject: &str,
        now: i64,
    ) -> bool {
        if !self.is_open() {
            return false;
        }
        self.refresh(invoice, now);
        self.close(why.note(), Actor::service(service_subject), now);
        true
    }

    fn close(&mut self, note: &str, by: Actor, now: i64) {
        self.status = FollowUpStatus::Resolved;
        note.clone_into(&mut self.resolution_note);
        self.resolved_by = Some(by);
        self.resolve_time = Some(now);
        self.update_time = now;
    }
}

/// ResolveFollowUp: resolves `follow_up` and, when it is `invoice`'s open follow-up, clears
/// the invoice's `open_follow_up`, so the next failed attempt opens a new one. `invoice` is the
/// follow-up's invoice. Both change, or neither.
///
/// # Errors
/// FAILED_PRECONDITION gate "status" unless OPEN; INTERNAL when `invoice` is not the
/// follow-up's.
pub fn resolve_follow_up(
    follow_up: &mut FollowUp,
    invoice: &mut Invoice,
    note: &str,
    by: Actor,
    now: i64,
) -> Result<(), Problem> {
    if invoice.id != follow_up.invoice {
        return Err(Problem::internal(format!(
            "follow-up {} belongs to invoice {}, not {}",
            follow_up.id, follow_up.invoice, invoice.id
        )));
    }
    follow_up.resolve(note, by, now)?;
    if invoice.open_follow_up.as_ref() == Some(&follow_up.id) {
        invoice.open_follow_up = None;
        invoice.update_time = now;
    }
    Ok(())
}
