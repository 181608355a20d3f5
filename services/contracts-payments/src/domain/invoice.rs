//! An invoice: one installment billed, the payments applied to it, and its dunning. Its status
//! is derived from the date and the amounts whenever it is read, so no sweep has to run for an
//! invoice to become OPEN or PAST_DUE, and a listing by status agrees with reading one invoice
//! (the store filters with the same rule, [`Invoice::status`]).

use closeloop_kit::Problem;
use closeloop_kit::time::epoch_days;
use closeloop_kit::types::CurrencyCode;
use time::Date;

use super::vocabulary::{
    ContractId, DeclineType, DunningStatus, FollowUpId, InvoiceId, InvoiceStatus, Party,
};

/// How an invoice was settled, when it was: what no date changes any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Fully paid.
    Paid,
    /// Voided by finance: nothing owed.
    Void,
    /// Written off by finance; a late payment is still applied.
    Uncollectible,
}

/// The retry schedule after failed attempts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dunning {
    pub status: Option<DunningStatus>,
    pub retry_days: Vec<i32>,
    pub cycle_start_time: Option<i64>,
    pub retry_times: Vec<i64>,
    pub next_retry_time: Option<i64>,
    pub retries_remaining: i32,
    pub failed_attempt_count: i32,
    pub last_failure_time: Option<i64>,
    pub last_decline_type: Option<DeclineType>,
    pub last_failure_code: String,
}

/// A bill for one installment.
#[derive(Debug, Clone, PartialEq)]
pub struct Invoice {
    pub id: InvoiceId,
    pub contract: ContractId,
    /// Human-readable, unique across invoices.
    pub number: String,
    pub account: Party,
    /// The deal's salesperson: assignee of the follow-ups.
    pub owner: String,
    pub currency: CurrencyCode,
    pub installment_id: String,
    pub description: String,
    /// Minor units.
    pub amount_due: i64,
    pub amount_paid: i64,
    pub issue_date: Date,
    pub due_date: Date,
    pub service_period: Option<(Date, Date)>,
    pub settled: Option<Settled>,
    pub status_reason: String,
    /// When the payment that made it PAID happened (its `attempt_time`).
    pub paid_time: Option<i64>,
    /// When the last attempt was recorded.
    pub last_attempt_time: Option<i64>,
    /// When the latest succeeded attempt happened (its `attempt_time`), partial ones included:
    /// `AccountBalance.last_payment_time` is the latest of these over an account.
    pub last_payment_time: Option<i64>,
    pub dunning: Dunning,
    pub open_follow_up: Option<FollowUpId>,
    /// Attempts recorded so far (the next one's number is this plus one).
    pub attempt_count: i32,
    pub create_time: i64,
    pub update_time: i64,
    pub version: i64,
}

/// What PlaceOrder bills for one installment.
#[derive(Debug, Clone, PartialEq)]
pub struct NewInvoice {
    pub contract: ContractId,
    pub number: String,
    pub account: Party,
    pub owner: String,
    pub currency: CurrencyCode,
    pub installment_id: String,
    pub description: String,
    pub amount_due: i64,
    pub due_date: Date,
    pub service_period: Option<(Date, Date)>,
    pub payment_terms_days: i32,
}

impl Invoice {
    /// The invoice billing `new`, placed on `placed` (its issue date is the due date minus the
    /// payment terms, or the placement day when that is later).
    pub fn issue(id: InvoiceId, new: NewInvoice, placed: Date, now: i64) -> Invoice {
        let issue_date = new
            .due_date
            .checked_sub(time::Duration::days(i64::from(new.payment_terms_days)))
            .unwrap_or(Date::MIN)
            .max(placed);
        Invoice {
            id,
            contract: new.contract,
            number: new.number,
            account: new.account,
            owner: new.owner,
            currency: new.currency,
            installment_id: new.installment_id,
            description: new.description,
            amount_due: new.amount_due,
            amount_paid: 0,
            issue_date,
            due_date: new.due_date,
            service_period: new.service_period,
            settled: None,
            status_reason: String::new(),
            paid_time: None,
            last_attempt_time: None,
            last_payment_time: None,
            dunning: Dunning::default(),
            open_follow_up: None,
            attempt_count: 0,
            create_time: now,
            update_time: now,
            version: 1,
        }
    }

    /// `contracts/{contract}/invoices/{id}`.
    pub fn name(&self) -> String {
        format!("contracts/{}/invoices/{}", self.contract, self.id)
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
                "etag {etag} does not match the current {}: the invoice changed; read it again",
                self.etag()
            )))
        }
    }

    /// What is still owed.
    pub fn amount_remaining(&self) -> i64 {
        self.amount_due.saturating_sub(self.amount_paid).max(0)
    }

    /// The status on `today`: settled ones as settled; otherwise DRAFT before the issue date,
    /// PAST_DUE from the day after the due date while an amount remains, OPEN in between.
    pub fn status(&self, today: Date) -> InvoiceStatus {
        match self.settled {
            Some(Settled::Paid) => InvoiceStatus::Paid,
            Some(Settled::Void) => InvoiceStatus::Void,
            Some(Settled::Uncollectible) => InvoiceStatus::Uncollectible,
            None if today < self.issue_date => InvoiceStatus::Draft,
            None if today > self.due_date && self.amount_remaining() > 0 => InvoiceStatus::PastDue,
            None => InvoiceStatus::Open,
        }
    }

    /// Whole days since the due date while PAST_DUE; 0 otherwise.
    pub fn days_past_due(&self, today: Date) -> i64 {
        if self.status(today) == InvoiceStatus::PastDue {
            epoch_days(today) - epoch_days(self.due_date)
        } else {
            0
        }
    }
}
