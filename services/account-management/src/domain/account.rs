//! An account: the customer relationship after the sale, the aggregate every AccountService
//! change of the account loads and saves whole — its contracts, outcomes, obligations both ways,
//! contacts, needs, check-in state, status and history — with the figures derived from it
//! (contract value, annual recurring revenue, next check-in, overdue obligations) and the checks
//! its parts share.
//!
//! How it is opened and extended is [`super::opening`]; its status moves [`super::lifecycle`];
//! its edits [`super::edit`]; check-ins [`super::check_ins`]; operations updates
//! [`super::operations`]; who may do what [`super::access`].

use closeloop_kit::error::GateViolation;
use closeloop_kit::time::{date_of_micros, whole_months};
use closeloop_kit::types::{CurrencyCode, Money};
use closeloop_kit::{Problem, Violations};
use time::Date;

use super::limits::{
    MAX_ACCOUNT_BYTES, MAX_AMOUNT_MINOR, MAX_CONTACTS, MAX_CONTRACTS, MAX_CRITERIA, MAX_NEEDS,
    MAX_OBLIGATIONS, MAX_OUTCOMES, MAX_TERM_MONTHS,
};
use super::policy::Policy;
use super::vocabulary::{
    AccountId, AccountStatus, Actor, ChurnReason, Contact, ContactRole, ObligationKind,
    ObligationParty, ObligationStatus, OutcomeStatus, Party, account_name,
};

/// Gate of a move made from a status that does not allow it; subject the current status.
pub const STATUS_GATE: &str = "status";
/// Gate of RecordCheckIn and IdentifyExpansion on a CHURNED account; subject "CHURNED".
pub const ACCOUNT_STATUS_GATE: &str = "account_status";
/// Gate of a RESOLUTION naming an ISSUE already resolved; subject the issue's name.
pub const ISSUE_OPEN_GATE: &str = "issue_open";
/// Gate of a change that would grow an account past one of its bounds
/// ([`super::limits`]); subject the list (e.g. "obligations") or "account" for its size.
pub const LIMIT_GATE: &str = "account_limit";
/// Gate of a status change past [`super::limits::MAX_STATUS_CHANGES`]; subject
/// "status_history".
pub const HISTORY_LIMIT_GATE: &str = "history_limit";

/// A contract the customer signed, as the account knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractReference {
    /// `contracts/{contract}`, unique within the account.
    pub contract: String,
    /// `opportunities/{opportunity}` it came from; may be empty.
    pub opportunity: String,
    /// `handoffs/{handoff}` that brought it; empty for one an account manager added.
    pub handoff: String,
    /// Total contract value, positive, in the account's currency.
    pub value: Money,
    /// First day of the term.
    pub start_date: Date,
    /// Last day of the term, inclusive; `None` is open-ended (in force until the account churns
    /// or an end date is set).
    pub end_date: Option<Date>,
    /// 1 to [`MAX_TERM_MONTHS`]: as given, derived from the dates, or 12 when open-ended
    /// ([`ContractInput`] resolves it).
    pub term_months: i32,
    /// In force after `end_date` until the account churns.
    pub auto_renew: bool,
    /// Expected gross margin in basis points, 1 to 10000; 0 is unknown.
    pub gross_margin_bps: i32,
    /// Short description; may be empty.
    pub title: String,
}

impl ContractReference {
    /// value x 12 / term months, the contract's yearly revenue, rounded to the nearest minor
    /// unit (half up; values are positive).
    pub fn annual_value(&self) -> Money {
        Money::new(
            self.value.currency,
            annual_minor(self.value.minor, self.term_months),
        )
    }

    /// Whether the term covers `day`: from the start date to the end date, and after it with
    /// `auto_renew` or without an end date. Whether the account has churned is the account's
    /// to add ([`Account::in_force`]).
    pub fn covers(&self, day: Date) -> bool {
        day >= self.start_date
            && match self.end_date {
                None => true,
                Some(end) => day <= end || self.auto_renew,
            }
    }

    /// The date a renewal of the contract is due on `today`: its end date; for an auto-renewing
    /// contract already past it, the end of the renewed term running today (the end date
    /// plus whole terms, until today or later), since that is when the customer next decides.
    /// `None` when open-ended, which has no renewal date.
    pub fn renewal_date(&self, today: Date) -> Option<Date> {
        let end = self.end_date?;
        if end >= today || !self.auto_renew {
            return Some(end);
        }
        // A stored term below 1 month would never move the date forward.
        let term = self.term_months.max(1);
        // Terms are at most 120 months and dates end in 9999: the loop is short, and ends at
        // the calendar's end at the latest.
        let mut terms: i32 = 1;
        loop {
            let months = term.checked_mul(terms)?;
            let next = closeloop_kit::time::add_months(end.next_day()?, months)
                .and_then(|d| d.previous_day())?;
            if next >= today {
                return Some(next);
            }
            terms = terms.checked_add(1)?;
        }
    }
}

/// value x 12 / months, rounded half up, in checked arithmetic; `months` below 1 reads as 1.
pub(crate) fn annual_minor(value: i64, months: i32) -> i64 {
    let months = i128::from(months.max(1));
    let twelve = i128::from(value).saturating_mul(12);
    let rounded = (twelve.saturating_mul(2).saturating_add(months)) / (2 * months);
    i64::try_from(rounded).unwrap_or(i64::MAX)
}

/// A contract as OpenAccount or UpdateAccount gives it; [`ContractInput::resolve`] checks it and
/// turns it into a [`ContractReference`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractInput {
    /// `contracts/{contract}`.
    pub contract: String,
    /// `opportunities/{opportunity}`; may be empty.
    pub opportunity: String,
    pub value: Money,
    pub start_date: Date,
    pub end_date: Option<Date>,
    /// 0 means derived from the dates (whole months, at least 1), or 12 when open-ended.
    pub term_months: i32,
    pub auto_renew: bool,
    /// 0 is unknown.
    pub gross_margin_bps: i32,
    pub title: String,
}

impl ContractInput {
    /// The contract as the account keeps it, with `handoff` (empty when an account manager adds
    /// it), or `None` after recording each problem against `field` (e.g.
    /// `account.contracts[0]`): the value not positive, above [`MAX_AMOUNT_MINOR`] or in
    /// another currency than `currency`; on OpenAccount (`from_handoff`) an end date or term
    /// missing; the end before the start; the term outside 0 to 120, or not the whole months
    /// from the start to the end (closeloop.common.v1 "Terms in months"), so that annual value
    /// and renewal date rest on one term; the margin outside 0 to 10000.
    pub fn resolve(
        self,
        v: &mut Violations,
        field: &str,
        currency: CurrencyCode,
        handoff: &str,
        from_handoff: bool,
    ) -> Option<ContractReference> {
        let mut v = Tally::new(v);
        if self.value.currency != currency {
            v.add(
                format!("{field}.value"),
                format!("must be in the account's currency {currency}"),
            );
        } else if self.value.minor <= 0 || self.value.minor > MAX_AMOUNT_MINOR {
            v.add(
                format!("{field}.value"),
                format!("must be positive and at most {MAX_AMOUNT_MINOR} minor units"),
            );
        }
        if from_handoff && self.end_date.is_none() {
            v.add(
                format!("{field}.end_date"),
                "required on OpenAccount: every contract closeloop signs has a term",
            );
        }
        if from_handoff && self.term_months == 0 {
            v.add(format!("{field}.term_months"), "required on OpenAccount");
        }
        if !(0..=MAX_TERM_MONTHS).contains(&self.term_months) {
            v.add(
                format!("{field}.term_months"),
                format!("must be 1 to {MAX_TERM_MONTHS} (0: derived from the dates)"),
            );
        }
        let mut term = self.term_months;
        match self.end_date {
            Some(end) if end < self.start_date => {
                v.add(format!("{field}.end_date"), "must not be before start_date");
            }
            Some(end) => {
                let months = whole_months(self.start_date, end);
                if self.term_months == 0 {
                    term = months.max(1);
                    if term > MAX_TERM_MONTHS {
                        v.add(
                            format!("{field}.end_date"),
                            format!("the term must not be longer than {MAX_TERM_MONTHS} months"),
                        );
                    }
                } else if months != self.term_months {
                    v.add(
                        format!("{field}.term_months"),
                        format!(
                            "must agree with the dates: {} to {} is {months} whole months",
                            self.start_date, end
                        ),
                    );
                }
            }
            None if self.term_months == 0 => term = 12,
            None => {}
        }
        if !(0..=10_000).contains(&self.gross_margin_bps) {
            v.add(
                format!("{field}.gross_margin_bps"),
                "must be 0 (unknown) to 10000",
            );
        }
        if v.failed {
            return None;
        }
        Some(ContractReference {
            contract: self.contract,
            opportunity: self.opportunity,
            handoff: handoff.to_owned(),
            value: self.value,
            start_date: self.start_date,
            end_date: self.end_date,
            term_months: term,
            auto_renew: self.auto_renew,
            gross_margin_bps: self.gross_margin_bps,
            title: self.title,
        })
    }
}

/// Violations recorded by one check, remembering whether it recorded any.
pub(crate) struct Tally<'a> {
    v: &'a mut Violations,
    /// Whether anything was recorded through it.
    pub failed: bool,
}

impl<'a> Tally<'a> {
    pub(crate) fn new(v: &'a mut Violations) -> Tally<'a> {
        Tally { v, failed: false }
    }

    pub(crate) fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.v.add(field, description);
        self.failed = true;
    }
}

/// A customer goal pursued through the relationship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `outcome-N`, unique within the account.
    pub id: String,
    /// 1 to 500 bytes.
    pub goal: String,
    /// 1 to [`MAX_CRITERIA`] criteria.
    pub success_criteria: Vec<String>,
    pub target_date: Option<Date>,
    pub status: OutcomeStatus,
    /// 0 to 100.
    pub progress_percent: i32,
    /// The note of the latest progress report; empty when set by UpdateOutcome or at opening.
    pub progress_note: String,
    /// When progress was last reported (a check-in's time, or the time of an UpdateOutcome that
    /// changed it).
    pub progress_update_time: Option<i64>,
    /// `accounts/{account}/checkIns/{check_in}` that last reported progress; empty when set by
    /// UpdateOutcome or at opening.
    pub last_check_in: String,
}

/// An outcome as OpenAccount or AddOutcome gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeInput {
    pub goal: String,
    pub success_criteria: Vec<String>,
    pub target_date: Option<Date>,
    /// NOT_STARTED when the request leaves it unspecified.
    pub status: OutcomeStatus,
    /// 0 to 100.
    pub progress_percent: i32,
}

/// Records the problems of an outcome's criteria and progress against `field`
/// (`outcome`, `account.outcomes[2]`): no criterion, more than [`MAX_CRITERIA`], an empty one,
/// progress outside 0 to 100.
pub fn check_outcome_values(v: &mut Violations, field: &str, criteria: &[String], progress: i32) {
    if criteria.is_empty() || criteria.len() > MAX_CRITERIA {
        v.add(
            format!("{field}.success_criteria"),
            format!("1 to {MAX_CRITERIA} success criteria are required"),
        );
    } else if let Some(i) = criteria.iter().position(|c| c.trim().is_empty()) {
        v.add(format!("{field}.success_criteria[{i}]"), "required");
    }
    if !(0..=100).contains(&progress) {
        v.add(format!("{field}.progress_percent"), "must be 0 to 100");
    }
}

/// Something one side owes the other under the contract(s) or by commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obligation {
    /// `obligation-N`, unique within the account.
    pub id: String,
    pub party: ObligationParty,
    /// Allowed for the party ([`ObligationKind::allowed_for`]); never changes.
    pub kind: ObligationKind,
    pub description: String,
    pub due_date: Option<Date>,
    /// Set for PAYMENT, optional otherwise; positive, in the account's currency.
    pub amount: Option<Money>,
    /// One of the account's contracts, or empty for a commitment made outside a contract.
    pub contract: String,
    /// The item's id in the system it came from; may be empty.
    pub external_id: String,
    /// Allowed for the party ([`ObligationStatus::allowed_for`]).
    pub status: ObligationStatus,
    pub status_note: String,
    /// When the status last changed on the account; `None` while it is the status the
    /// obligation came with.
    pub status_update_time: Option<i64>,
    pub status_updated_by: Option<Actor>,
}

impl Obligation {
    /// Whether it is overdue on `today`: due before today and still open (PENDING,
    /// IN_PROGRESS, AT_RISK).
    pub fn overdue(&self, today: Date) -> bool {
        self.status.is_open() && self.due_date.is_some_and(|d| d < today)
    }
}

/// An obligation as OpenAccount or AddObligation gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObligationInput {
    pub party: ObligationParty,
    pub kind: ObligationKind,
    pub description: String,
    pub due_date: Option<Date>,
    pub amount: Option<Money>,
    pub contract: String,
    pub external_id: String,
    /// PENDING when the request leaves it unspecified.
    pub status: ObligationStatus,
    pub status_note: String,
}

/// Records the problems of an obligation's values against `field` (`obligation`,
/// `account.obligations[3]`): a kind the party may not owe (`.kind`), a status it may not have
/// (`.status`), a PAYMENT without an amount, an amount not positive or in another currency
/// (`.amount`), a contract that is not one of `contracts` (`.contract`).
pub fn check_obligation_values(
    v: &mut Violations,
    field: &str,
    o: &ObligationInput,
    currency: CurrencyCode,
    contracts: &[&str],
) {
    if !o.kind.allowed_for(o.party) {
        v.add(
            format!("{field}.kind"),
            format!(
                "{} is not something the {} owes",
                o.kind.code(),
                o.party.code()
            ),
        );
    }
    if !o.status.allowed_for(o.party) {
        v.add(
            format!("{field}.status"),
            format!(
                "{} is only for COMPANY obligations",
                ObligationStatus::Delivered.code()
            ),
        );
    }
    match o.amount {
        None if o.kind.needs_amount() => {
            v.add(format!("{field}.amount"), "required for a PAYMENT");
        }
        None => {}
        Some(m) if m.currency != currency => v.add(
            format!("{field}.amount"),
            format!("must be in the account's currency {currency}"),
        ),
        Some(m) if m.minor <= 0 || m.minor > MAX_AMOUNT_MINOR => v.add(
            format!("{field}.amount"),
            format!("must be positive and at most {MAX_AMOUNT_MINOR} minor units"),
        ),
        Some(_) => {}
    }
    if !o.contract.is_empty() && !contracts.contains(&o.contract.as_str()) {
        v.add(
            format!("{field}.contract"),
            format!("{} is not one of the account's contracts", o.contract),
        );
    }
}

/// A person at the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountContact {
    /// Its `email` is required ([`check_contacts`]).
    pub contact: Contact,
    pub role: ContactRole,
    /// At most one contact of an account is primary.
    pub primary: bool,
}

/// Records the problems of a list of contacts against `field` (`account.contacts`): more than
/// [`MAX_CONTACTS`], a contact without an email, a second primary.
pub fn check_contacts(v: &mut Violations, field: &str, contacts: &[AccountContact]) {
    if contacts.len() > MAX_CONTACTS {
        v.add(field, format!("at most {MAX_CONTACTS} contacts"));
        return;
    }
    let mut primary = false;
    for (i, c) in contacts.iter().enumerate() {
        if c.contact.email.is_none() {
            v.add(format!("{field}[{i}].contact.email"), "required");
        }
        if c.primary && primary {
            v.add(
                format!("{field}[{i}].primary"),
                "another contact is already primary: at most one may be",
            );
        }
        primary |= c.primary;
    }
}

/// When and why a customer left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChurnRecord {
    /// Recurring revenue stops counting from this day.
    pub churn_date: Date,
    pub reason: ChurnReason,
    /// Present with OTHER.
    pub notes: String,
}

/// One status change; `from` is `None` on the opening entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub from: Option<AccountStatus>,
    pub to: AccountStatus,
    /// As given by the caller ("opened from handoff" / "reopened by handoff" for OpenAccount).
    pub reason: String,
    /// Set when entering CHURNED.
    pub churn_reason: Option<ChurnReason>,
    /// The business date it takes effect: the churn date for CHURNED, otherwise the day of the
    /// change. Never before the previous entry's (see [`super::lifecycle`]), so the history is
    /// in date order and retention reads the status on any day from it.
    pub effective_date: Date,
    pub actor: Actor,
    /// When it was made (µs).
    pub time: i64,
}

/// The most recent check-in by `check_in_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastCheckIn {
    /// When it took place (µs).
    pub time: i64,
    /// 1 to 10.
    pub satisfaction: i32,
}

/// A customer account, the aggregate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    /// `account_id` is the key (one account per customer); only `display_name` changes.
    pub customer: Party,
    /// `handoffs/{handoff}` that opened the account.
    pub handoff: String,
    /// Every later handoff that extended it, oldest first. With `handoff` and the contracts'
    /// own, what recognises a redelivered OpenAccount even after the contract it brought was
    /// removed ([`Account::records_handoff`]).
    pub later_handoffs: Vec<String>,
    /// A token subject: who manages the relationship.
    pub account_manager: String,
    /// A token subject: who sold to the customer.
    pub salesperson: String,
    pub status: AccountStatus,
    /// Of every amount on the account: the first contract's value's, fixed at opening.
    pub currency: CurrencyCode,
    /// The day the relationship started.
    pub start_date: Date,
    /// At least one; oldest first.
    pub contracts: Vec<ContractReference>,
    pub outcomes: Vec<Outcome>,
    pub obligations: Vec<Obligation>,
    pub contacts: Vec<AccountContact>,
    pub needs: Vec<String>,
    /// 1 to 365; `None` uses the configured default ([`Policy::cadence_days`]).
    pub check_in_cadence_days: Option<i32>,
    /// `None` before the first check-in.
    pub last_check_in: Option<LastCheckIn>,
    /// ISSUE operations updates still open on the account.
    pub open_issue_count: i32,
    /// The reason given for the most recent status change.
    pub status_reason: String,
    /// Set while CHURNED.
    pub churn: Option<ChurnRecord>,
    /// Oldest first, starting with the opening.
    pub status_history: Vec<StatusChange>,
    pub notes: String,
    pub create_time: i64,
    pub update_time: i64,
    /// Optimistic concurrency: bumped by every save (the store's job). 1 when opened.
    pub version: i64,
    /// The number of the last id given to an outcome or obligation.
    pub next_part: u64,
}

impl Account {
    /// `accounts/{id}`.
    pub fn name(&self) -> String {
        account_name(&self.id)
    }

    /// The entity tag clients send back: the stored version and the status.
    pub fn etag(&self) -> String {
        format!("\"{}-{}\"", self.version, self.status.code())
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
                "etag {etag} does not match the current {}: the account changed; read it again",
                self.etag()
            )))
        }
    }

    /// Whether the handoff `handoff` (`handoffs/{handoff}`) is already applied to the account:
    /// it opened it, extended it, or brought one of its contracts. OpenAccount answers such a
    /// request with the account unchanged.
    pub fn records_handoff(&self, handoff: &str) -> bool {
        self.handoff == handoff
            || self.later_handoffs.iter().any(|h| h == handoff)
            || self.contracts.iter().any(|c| c.handoff == handoff)
    }

    /// Whether `contract` is in force on `day`: its term covers the day
    /// ([`ContractReference::covers`]) and the account is not CHURNED. For today this is
    /// `ContractReference.in_force`.
    pub fn in_force(&self, contract: &ContractReference, day: Date) -> bool {
        self.status != AccountStatus::Churned && contract.covers(day)
    }

    /// Sum of the values of the contracts in force on `today` (`Account.contract_value`); zero
    /// once CHURNED. Saturates rather than fails: it is a figure shown, not stored.
    pub fn contract_value(&self, today: Date) -> Money {
        let minor = self
            .contracts
            .iter()
            .filter(|c| self.in_force(c, today))
            .fold(0i64, |sum, c| sum.saturating_add(c.value.minor));
        Money::new(self.currency, minor)
    }

    /// Sum of the annual values of the contracts in force on `today`: the annual recurring
    /// revenue (`Account.annual_contract_value`); zero once CHURNED.
    pub fn annual_contract_value(&self, today: Date) -> Money {
        let minor = self
            .contracts
            .iter()
            .filter(|c| self.in_force(c, today))
            .fold(0i64, |sum, c| sum.saturating_add(c.annual_value().minor));
        Money::new(self.currency, minor)
    }

    /// The account's cadence in days (its own, or the configured default).
    pub fn cadence_days(&self, policy: &Policy) -> i32 {
        policy.cadence_days(self.check_in_cadence_days)
    }

    /// When the next check-in falls due, whatever the status: the date (UTC) of the last
    /// check-in, or the start date before the first, plus the cadence. `None` only past the
    /// calendar's end.
    pub fn check_in_due_date(&self, policy: &Policy) -> Option<Date> {
        let from = self
            .last_check_in
            .map_or(self.start_date, |c| date_of_micros(c.time));
        from.checked_add(time::Duration::days(i64::from(self.cadence_days(policy))))
    }

    /// `Account.next_check_in_date`: [`Account::check_in_due_date`], unset while CHURNED.
    pub fn next_check_in_date(&self, policy: &Policy) -> Option<Date> {
        if self.status == AccountStatus::Churned {
            None
        } else {
            self.check_in_due_date(policy)
        }
    }

    /// `Account.check_in_overdue`: the next check-in date is before `today`.
    pub fn check_in_overdue(&self, policy: &Policy, today: Date) -> bool {
        self.next_check_in_date(policy).is_some_and(|d| d < today)
    }

    /// The status on `day` by the effective dates of the history: that of the last change
    /// effective on or before it; before the opening's effective date (a start date earlier
    /// than the opening), the status the account opened in.
    pub fn status_on(&self, day: Date) -> AccountStatus {
        self.status_history
            .iter()
            .rev()
            .find(|c| c.effective_date <= day)
            .or(self.status_history.first())
            .map_or(self.status, |c| c.to)
    }

    /// The names of the account's contracts.
    pub fn contract_names(&self) -> Vec<&str> {
        self.contracts.iter().map(|c| c.contract.as_str()).collect()
    }

    /// The outcome with this id.
    pub fn outcome(&self, id: &str) -> Option<&Outcome> {
        self.outcomes.iter().find(|o| o.id == id)
    }

    /// The obligation with this id.
    pub fn obligation(&self, id: &str) -> Option<&Obligation> {
        self.obligations.iter().find(|o| o.id == id)
    }

    /// The next id for an outcome or obligation: `{prefix}-{n}`, never given twice.
    ///
    /// # Errors
    /// INTERNAL once 2^64 ids were given (unreachable; refused rather than reused).
    pub(crate) fn next_part_id(&mut self, prefix: &str) -> Result<String, Problem> {
        self.next_part = self
            .next_part
            .checked_add(1)
            .ok_or_else(|| Problem::internal("the account ran out of part ids"))?;
        Ok(format!("{prefix}-{}", self.next_part))
    }

    /// A rough size in bytes: every text plus a fixed allowance per entry for its numbers,
    /// dates and framing. What [`MAX_ACCOUNT_BYTES`] bounds.
    pub fn approximate_bytes(&self) -> usize {
        const ENTRY: usize = 64;
        let contact = |c: &Contact| {
            ENTRY
                + c.display_name.len()
                + c.email.as_ref().map_or(0, |e| e.as_str().len())
                + c.phone.len()
                + c.title.len()
        };
        let contracts: usize = self
            .contracts
            .iter()
            .map(|c| {
                ENTRY + c.contract.len() + c.opportunity.len() + c.handoff.len() + c.title.len()
            })
            .sum();
        let outcomes: usize = self
            .outcomes
            .iter()
            .map(|o| {
                ENTRY
                    + o.id.len()
                    + o.goal.len()
                    + o.success_criteria
                        .iter()
                        .map(|c| c.len() + 8)
                        .sum::<usize>()
                    + o.progress_note.len()
                    + o.last_check_in.len()
            })
            .sum();
        let obligations: usize = self
            .obligations
            .iter()
            .map(|o| {
                ENTRY
                    + o.id.len()
                    + o.description.len()
                    + o.contract.len()
                    + o.external_id.len()
                    + o.status_note.len()
                    + o.status_updated_by
                        .as_ref()
                        .map_or(0, |a| a.subject.len() + a.role.len())
            })
            .sum();
        let history: usize = self
            .status_history
            .iter()
            .map(|c| ENTRY + c.reason.len() + c.actor.subject.len() + c.actor.role.len())
            .sum();
        ENTRY
            + self.customer.account_id.len()
            + self.customer.display_name.len()
            + self.handoff.len()
            + self
                .later_handoffs
                .iter()
                .map(|h| h.len() + 8)
                .sum::<usize>()
            + self.account_manager.len()
            + self.salesperson.len()
            + contracts
            + outcomes
            + obligations
            + self
                .contacts
                .iter()
                .map(|c| contact(&c.contact))
                .sum::<usize>()
            + self.needs.iter().map(|n| n.len() + 8).sum::<usize>()
            + self.status_reason.len()
            + self.churn.as_ref().map_or(0, |c| ENTRY + c.notes.len())
            + history
            + self.notes.len()
    }

    /// Refuses an account grown past one of its bounds: the list bounds of [`super::limits`]
    /// and [`MAX_ACCOUNT_BYTES`]. Every change that may add to an account checks its result
    /// against the account it started from (`before`; `None` for a new account) before it is
    /// kept, so a refused change changes nothing. Only growth is refused: a list or a size
    /// already past its bound (the bounds were lowered, or texts outgrew the size) that a change
    /// does not grow passes, so that the edit that shrinks the account is never blocked.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "account_limit", one violation per bound exceeded (subject the
    /// list, or "account" for the size).
    pub fn check_growth(&self, before: Option<&Account>) -> Result<(), Problem> {
        let lens = |a: &Account| {
            [
                ("contracts", a.contracts.len(), MAX_CONTRACTS),
                (
                    "handoffs",
                    a.later_handoffs.len().saturating_add(1),
                    super::limits::MAX_HANDOFFS,
                ),
                ("outcomes", a.outcomes.len(), MAX_OUTCOMES),
                ("obligations", a.obligations.len(), MAX_OBLIGATIONS),
                ("contacts", a.contacts.len(), MAX_CONTACTS),
                ("needs", a.needs.len(), MAX_NEEDS),
            ]
        };
        let previous = before.map(lens);
        let mut over = Vec::new();
        for (i, (subject, len, max)) in lens(self).into_iter().enumerate() {
            let was = previous
                .as_ref()
                .and_then(|p| p.get(i))
                .map_or(0, |(_, len, _)| *len);
            if len > max && len > was {
                over.push(GateViolation {
                    gate: LIMIT_GATE.to_owned(),
                    subject: subject.to_owned(),
                    description: format!(
                        "an account holds at most {max} {subject}; this change would make {len}"
                    ),
                });
            }
        }
        let bytes = self.approximate_bytes();
        let was = before.map_or(0, Account::approximate_bytes);
        if bytes > MAX_ACCOUNT_BYTES && bytes > was {
            over.push(GateViolation {
                gate: LIMIT_GATE.to_owned(),
                subject: "account".to_owned(),
                description: format!(
                    "an account holds at most {MAX_ACCOUNT_BYTES} bytes; this change would make \
                     about {bytes}"
                ),
            });
        }
        if over.is_empty() {
            Ok(())
        } else {
            Err(Problem::FailedPrecondition(over))
        }
    }
}
