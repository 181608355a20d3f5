//! What happens to an invoice after it is issued: payment attempts (RecordPaymentAttempt),
//! voiding (VoidInvoice) and writing off (MarkInvoiceUncollectible). Which status accepts which
//! change is one table ([`InvoiceChange::accepts`]); each change checks its arguments, then that
//! table (gate "invoice_status"), then its own gates, and only then changes the invoice, its
//! dunning ([`super::dunning`]) and its open follow-up ([`super::follow_up`]): a refused change
//! changes nothing.
//!
//! The invoice's status is never stored except once settled (PAID, VOID, UNCOLLECTIBLE), so the
//! status a change sees is [`Invoice::status`] on the day of `now`.

use closeloop_kit::time::date_of_micros;
use closeloop_kit::types::{CurrencyCode, Money};
use closeloop_kit::{Problem, Violations};

use super::dunning::Failure;
use super::follow_up::{AutoResolution, FollowUp};
use super::invoice::{Invoice, Settled};
use super::policy::Policy;
use super::vocabulary::{
    Actor, AttemptId, ContractId, DeclineType, FollowUpId, InvoiceId, InvoiceStatus, Party,
    PaymentResult,
};

/// One attempt to collect money for an invoice, as recorded. Immutable once recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentAttempt {
    pub id: AttemptId,
    pub invoice: InvoiceId,
    pub contract: ContractId,
    /// The deal's salesperson (the invoice's owner), for access checks.
    pub owner: String,
    pub account: Party,
    pub result: PaymentResult,
    /// The invoice's currency.
    pub currency: CurrencyCode,
    /// Minor units, positive: collected when SUCCEEDED, tried when FAILED.
    pub amount: i64,
    /// Set exactly when FAILED.
    pub decline_type: Option<DeclineType>,
    pub failure_code: String,
    pub failure_message: String,
    /// Who processed it, e.g. "stripe", "bank_transfer", "manual".
    pub processor: String,
    /// The processor's reference; may be empty.
    pub processor_reference: String,
    pub payment_method: String,
    /// When it happened at the processor.
    pub attempt_time: i64,
    /// 1 for the invoice's first attempt, then counting up.
    pub attempt_number: i32,
    /// Recorded while a dunning retry was pending.
    pub dunning_retry: bool,
    /// The follow-up this failed attempt opened or was added to.
    pub follow_up: Option<FollowUpId>,
    pub recorded_by: Actor,
    /// When it was recorded.
    pub create_time: i64,
}

impl PaymentAttempt {
    /// `contracts/{contract}/invoices/{invoice}/paymentAttempts/{id}`.
    pub fn name(&self) -> String {
        format!(
            "contracts/{}/invoices/{}/paymentAttempts/{}",
            self.contract, self.invoice, self.id
        )
    }
}

/// An attempt as the caller reports it, each field already checked for shape by the API
/// (lengths, a known result and decline type, a currency code). What depends on the invoice or
/// the time (the currency, the future, the amount remaining) is checked here.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttempt {
    pub result: PaymentResult,
    pub currency: CurrencyCode,
    /// Minor units; must be positive.
    pub amount: i64,
    /// Required when FAILED, absent when SUCCEEDED.
    pub decline_type: Option<DeclineType>,
    pub failure_code: String,
    pub failure_message: String,
    pub processor: String,
    pub processor_reference: String,
    pub payment_method: String,
    /// Defaults to now; not in the future.
    pub attempt_time: Option<i64>,
}

/// The ids a recording may use: the attempt's, and the follow-up's if the attempt opens one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptIds {
    pub attempt: AttemptId,
    /// Used only when a failed attempt opens a follow-up.
    pub follow_up: FollowUpId,
}

/// What the service brings to a change: the rules in force and its own subject, in whose name
/// it resolves follow-ups by itself.
#[derive(Debug, Clone, Copy)]
pub struct Service<'a> {
    pub policy: &'a Policy,
    pub subject: &'a str,
}

/// What a change did to the invoice's follow-up; the store saves the follow-up in each case.
#[derive(Debug, Clone, PartialEq)]
pub enum FollowUpChange {
    /// A failed attempt found no open follow-up and opened this one (to insert).
    Opened(FollowUp),
    /// A failed attempt was added to the open follow-up, or a partial payment lowered what it
    /// chases.
    Updated(FollowUp),
    /// The invoice became PAID, VOID or UNCOLLECTIBLE, and the service resolved it.
    Resolved(FollowUp),
}

impl FollowUpChange {
    /// The follow-up as changed.
    pub fn follow_up(&self) -> &FollowUp {
        match self {
            FollowUpChange::Opened(f)
            | FollowUpChange::Updated(f)
            | FollowUpChange::Resolved(f) => f,
        }
    }
}

/// What recording an attempt produced, besides the changed invoice.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub attempt: PaymentAttempt,
    /// The follow-up to save, if the attempt touched one.
    pub follow_up: Option<FollowUpChange>,
}

impl Recorded {
    /// The follow-up RecordPaymentAttemptResponse shows: for a failed attempt, the one it opened
    /// or was added to; `None` otherwise (a payment's resolution is saved but not shown there).
    pub fn answered_follow_up(&self) -> Option<&FollowUp> {
        match (&self.attempt.result, &self.follow_up) {
            (
                PaymentResult::Failed,
                Some(FollowUpChange::Opened(f) | FollowUpChange::Updated(f)),
            ) => Some(f),
            _ => None,
        }
    }
}

/// A change to an issued invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceChange {
    RecordAttempt,
    Void,
    MarkUncollectible,
}

impl InvoiceChange {
    /// Every change, for tests that walk the whole table.
    pub const ALL: [InvoiceChange; 3] = [
        InvoiceChange::RecordAttempt,
        InvoiceChange::Void,
        InvoiceChange::MarkUncollectible,
    ];

    /// The table: whether an invoice in `status` accepts the change. Attempts are taken until
    /// the invoice is PAID or VOID (a DRAFT invoice may be paid ahead, a written-off one late);
    /// voiding needs money not collected yet and not written off; writing off needs an issued
    /// invoice that is not settled.
    pub fn accepts(self, status: InvoiceStatus) -> bool {
        use InvoiceChange as C;
        use InvoiceStatus as S;
        matches!(
            (self, status),
            (
                C::RecordAttempt,
                S::Draft | S::Open | S::PastDue | S::Uncollectible
            ) | (C::Void, S::Draft | S::Open | S::PastDue)
                | (C::MarkUncollectible, S::Open | S::PastDue)
        )
    }

    fn accepted(self) -> &'static str {
        match self {
            InvoiceChange::RecordAttempt => "DRAFT, OPEN, PAST_DUE or UNCOLLECTIBLE",
            InvoiceChange::Void => "DRAFT, OPEN or PAST_DUE",
            InvoiceChange::MarkUncollectible => "OPEN or PAST_DUE",
        }
    }

    /// Refuses `status` unless the table accepts it.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "invoice_status", subject "status".
    pub fn check(self, status: InvoiceStatus) -> Result<(), Problem> {
        if self.accepts(status) {
            Ok(())
        } else {
            Err(Problem::gate(
                "invoice_status",
                "status",
                format!(
                    "the invoice is {}; this needs {}",
                    status.code(),
                    self.accepted()
                ),
            ))
        }
    }
}

impl Invoice {
    /// Records one payment attempt at `now` (RecordPaymentAttempt). `open_follow_up` is the
    /// invoice's open follow-up as stored (`None` when `self.open_follow_up` is `None`).
    ///
    /// - Every attempt gets the next `attempt_number`, and `dunning_retry` when a retry was
    ///   pending as it was recorded.
    /// - SUCCEEDED: the amount is added to `amount_paid`. Paying what remained makes the invoice
    ///   PAID (`paid_time` the attempt's time), ends dunning (ENDED after failures, otherwise
    ///   still NONE) and resolves the open follow-up ("paid"). A partial payment keeps the
    ///   dunning schedule and brings the open follow-up's amount remaining up to date.
    /// - FAILED: runs dunning ([`super::dunning`]; a soft decline after EXHAUSTED or
    ///   HARD_DECLINED starts a new cycle) and is added to the open follow-up, or opens one
    ///   (id `ids.follow_up`) assigned to the invoice's owner. On an UNCOLLECTIBLE invoice it is
    ///   only counted: no retry, no follow-up, dunning ENDED.
    ///
    /// # Errors
    /// INVALID_ARGUMENT `amount` (another currency than the invoice's, not positive, or a sum
    /// past what can be counted), `decline_type` (missing on a failure, present on a success),
    /// `attempt_time` (in the future); FAILED_PRECONDITION gate "invoice_status" when PAID or
    /// VOID, gate "amount_remaining" when a success exceeds the amount remaining; INTERNAL
    /// when `open_follow_up` is not the invoice's open follow-up.
    pub fn record_attempt(
        &mut self,
        new: NewAttempt,
        ids: AttemptIds,
        open_follow_up: Option<FollowUp>,
        recorded_by: Actor,
        service: Service<'_>,
        now: i64,
    ) -> Result<Recorded, Problem> {
        let open_follow_up = self.check_follow_up(open_follow_up)?;
        let attempt_time = new.attempt_time.unwrap_or(now);
        let mut v = Violations::new();
        if new.currency != self.currency {
            v.add(
                "amount",
                format!(
                    "must be in {}, the invoice's currency, not {}",
                    self.currency, new.currency
                ),
            );
        }
        if new.amount <= 0 {
            v.add("amount", "must be positive");
        }
        match (new.result, new.decline_type) {
            (PaymentResult::Failed, None) => {
                v.add("decline_type", "required for a failed attempt");
            }
            (PaymentResult::Succeeded, Some(_)) => {
                v.add("decline_type", "must be unset for a succeeded attempt");
            }
            _ => {}
        }
        if attempt_time > now {
            v.add("attempt_time", "must not be in the future");
        }
        v.into_result()?;

        let status = self.status(date_of_micros(now));
        InvoiceChange::RecordAttempt.check(status)?;
        let paid_total = match new.result {
            PaymentResult::Succeeded => Some(self.paid_total(new.amount)?),
            PaymentResult::Failed => None,
        };

        // Every check is behind us: from here on the invoice changes and nothing fails.
        let mut attempt = PaymentAttempt {
            id: ids.attempt,
            invoice: self.id.clone(),
            contract: self.contract.clone(),
            owner: self.owner.clone(),
            account: self.account.clone(),
            result: new.result,
            currency: self.currency,
            amount: new.amount,
            decline_type: new.decline_type,
            failure_code: new.failure_code,
            failure_message: new.failure_message,
            processor: new.processor,
            processor_reference: new.processor_reference,
            payment_method: new.payment_method,
            attempt_time,
            attempt_number: self.attempt_count.saturating_add(1),
            dunning_retry: self.dunning.retry_pending(),
            follow_up: None,
            recorded_by,
            create_time: now,
        };
        self.attempt_count = self.attempt_count.saturating_add(1);
        self.last_attempt_time = Some(now);
        self.update_time = now;

        let follow_up = match (paid_total, attempt.decline_type) {
            (Some(total), _) => {
                self.apply_payment(total, attempt_time, open_follow_up, service, now)
            }
            (None, Some(decline)) => {
                let failure = Failure {
                    decline,
                    code: &attempt.failure_code,
                    at: attempt_time,
                };
                if status == InvoiceStatus::Uncollectible {
                    // Written off: finance handles the debt, nobody chases it.
                    self.dunning.fail_written_off(failure);
                    None
                } else {
                    self.dunning
                        .fail(failure, &service.policy.dunning_retry_days);
                    let change = match open_follow_up {
                        Some(mut f) => {
                            f.add_failure(self, &attempt, now);
                            FollowUpChange::Updated(f)
                        }
                        None => {
                            let f = FollowUp::open(ids.follow_up, self, &attempt, now);
                            self.open_follow_up = Some(f.id.clone());
                            FollowUpChange::Opened(f)
                        }
                    };
                    attempt.follow_up = Some(change.follow_up().id.clone());
                    Some(change)
                }
            }
            // A failure without a decline type was refused above.
            (None, None) => None,
        };
        Ok(Recorded { attempt, follow_up })
    }

    /// `amount_paid` after a payment of `amount`.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "amount_remaining" when `amount` is more than remains;
    /// INVALID_ARGUMENT `amount` when the sum cannot be counted.
    fn paid_total(&self, amount: i64) -> Result<i64, Problem> {
        let remaining = self.amount_remaining();
        if amount > remaining {
            return Err(Problem::gate(
                "amount_remaining",
                "amount_remaining",
                format!(
                    "{} is more than the {} remaining on the invoice",
                    Money::new(self.currency, amount),
                    Money::new(self.currency, remaining)
                ),
            ));
        }
        self.amount_paid
            .checked_add(amount)
            .ok_or_else(|| Problem::invalid("amount", "the invoice's total paid would overflow"))
    }

    fn apply_payment(
        &mut self,
        total: i64,
        attempt_time: i64,
        open_follow_up: Option<FollowUp>,
        service: Service<'_>,
        now: i64,
    ) -> Option<FollowUpChange> {
        self.amount_paid = total;
        self.last_payment_time = Some(
            self.last_payment_time
                .map_or(attempt_time, |t| t.max(attempt_time)),
        );
        if self.amount_remaining() > 0 {
            return open_follow_up.map(|mut f| {
                f.refresh(self, now);
                FollowUpChange::Updated(f)
            });
        }
        self.paid_time = Some(attempt_time);
        self.settle(
            Settled::Paid,
            open_follow_up,
            AutoResolution::Paid,
            service.subject,
            now,
        )
        .map(FollowUpChange::Resolved)
    }

    /// DRAFT, OPEN or PAST_DUE -> VOID (VoidInvoice), with `reason`: ends dunning and resolves
    /// the open follow-up ("invoice voided"). Returns that follow-up, resolved, to save.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "invoice_status" in another status; gate "payments_recorded"
    /// (subject "amount_paid") once a payment was applied, since voiding would make money
    /// received owed by nobody (write it off instead); INTERNAL when `open_follow_up` is not the
    /// invoice's open follow-up.
    pub fn void(
        &mut self,
        reason: &str,
        open_follow_up: Option<FollowUp>,
        service_subject: &str,
        now: i64,
    ) -> Result<Option<FollowUp>, Problem> {
        let open_follow_up = self.check_follow_up(open_follow_up)?;
        InvoiceChange::Void.check(self.status(date_of_micros(now)))?;
        if self.amount_paid > 0 {
            return Err(Problem::gate(
                "payments_recorded",
                "amount_paid",
                format!(
                    "{} was paid on the invoice: voiding would leave money received owed by \
                     nobody; mark it uncollectible instead",
                    Money::new(self.currency, self.amount_paid)
                ),
            ));
        }
        reason.clone_into(&mut self.status_reason);
        Ok(self.settle(
            Settled::Void,
            open_follow_up,
            AutoResolution::Voided,
            service_subject,
            now,
        ))
    }

    /// OPEN or PAST_DUE -> UNCOLLECTIBLE (MarkInvoiceUncollectible), with `reason`: ends dunning
    /// and resolves the open follow-up ("written off as uncollectible"). A payment recorded
    /// later is still applied and can make the invoice PAID. Returns the follow-up, resolved,
    /// to save.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "invoice_status" in another status; INTERNAL when
    /// `open_follow_up` is not the invoice's open follow-up.
    pub fn mark_uncollectible(
        &mut self,
        reason: &str,
        open_follow_up: Option<FollowUp>,
        service_subject: &str,
        now: i64,
    ) -> Result<Option<FollowUp>, Problem> {
        let open_follow_up = self.check_follow_up(open_follow_up)?;
        InvoiceChange::MarkUncollectible.check(self.status(date_of_micros(now)))?;
        reason.clone_into(&mut self.status_reason);
        Ok(self.settle(
            Settled::Uncollectible,
            open_follow_up,
            AutoResolution::WrittenOff,
            service_subject,
            now,
        ))
    }

    /// Leaves the states in which money is collected: dunning ends and so does the
    /// salesperson's task, as the package comment says.
    fn settle(
        &mut self,
        how: Settled,
        open_follow_up: Option<FollowUp>,
        why: AutoResolution,
        service_subject: &str,
        now: i64,
    ) -> Option<FollowUp> {
        self.settled = Some(how);
        self.dunning.end();
        self.open_follow_up = None;
        self.update_time = now;
        open_follow_up.map(|mut f| {
            f.auto_resolve(self, why, service_subject, now);
            f
        })
    }

    /// The follow-up the store loaded, if it is the invoice's open one.
    ///
    /// # Errors
    /// INTERNAL when it is missing, another one, or not OPEN: the store and the invoice
    /// disagree, and changing either would make it worse.
    fn check_follow_up(&self, loaded: Option<FollowUp>) -> Result<Option<FollowUp>, Problem> {
        match (&self.open_follow_up, loaded) {
            (None, None) => Ok(None),
            (Some(id), Some(f)) if f.id == *id && f.invoice == self.id && f.is_open() => {
                Ok(Some(f))
            }
            (expected, loaded) => Err(Problem::internal(format!(
                "invoice {} has open follow-up {:?}, but {:?} was loaded",
                self.id,
                expected.as_ref().map(FollowUpId::as_str),
                loaded.map(|f| (f.id, f.invoice, f.status)),
            ))),
        }
    }
}
