//! OpenAccount: an accepted handoff opens the customer's account, or extends the one the
//! customer already has. It is sent through the handoff service's outbox, so it arrives at least
//! once and must apply exactly once:
//! - a repeat with the same `request_id` returns the first answer: the app's idempotency table
//!   (the handoff sends `open-account-{handoff}`, one per handoff);
//! - a request whose handoff is already recorded on the account returns it unchanged
//!   ([`Account::records_handoff`]), even past the idempotency table's retention;
//! - a customer (`customer.account_id`) with an account gets it extended, never a second one:
//!   its contracts, outcomes, obligations, contacts and needs are appended, its account manager
//!   and salesperson take the new values, and a CHURNED account is reopened (ACTIVE, "reopened
//!   by handoff").
//!
//! [`open_account`] decides which; the app loads the account that records the handoff or, when
//! none does, the customer's, and passes it.

use closeloop_kit::time::date_of_micros;
use closeloop_kit::{Principal, Problem, Violations};
use time::Date;

use super::account::{
    Account, AccountContact, ContractInput, ContractReference, Obligation, ObligationInput,
    Outcome, OutcomeInput, StatusChange, Tally, check_contacts, check_obligation_values,
    check_outcome_values,
};
use super::lifecycle::{OPENED_REASON, REOPENED_REASON, StatusMove};
use super::limits::{
    MAX_CONTACTS, MAX_CONTRACTS, MAX_DAYS, MAX_NEEDS, MAX_NOTES, MAX_OBLIGATIONS, MAX_OUTCOMES, cut,
};
use super::vocabulary::{AccountId, AccountStatus, Actor, Party};

/// The account OpenAccount asks for, as the API parsed it (texts, names, enums, emails checked;
/// the unspecified values read as their defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAccount {
    pub customer: Party,
    /// `handoffs/{handoff}`.
    pub handoff: String,
    pub account_manager: String,
    pub salesperson: String,
    /// `None`: the earliest contract start date.
    pub start_date: Option<Date>,
    /// At least one, each with an end date and a term.
    pub contracts: Vec<ContractInput>,
    pub outcomes: Vec<OutcomeInput>,
    pub obligations: Vec<ObligationInput>,
    pub contacts: Vec<AccountContact>,
    pub needs: Vec<String>,
    /// 0 is the configured default; 1 to 365.
    pub check_in_cadence_days: i32,
    pub notes: String,
}

/// What OpenAccount did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opening {
    /// The handoff was applied already: the account, unchanged (nothing to save).
    Unchanged(Account),
    /// The customer's existing account, extended (to save over the one loaded).
    Extended(Account),
    /// A new account (to insert).
    Opened(Account),
}

impl Opening {
    /// The account to answer with.
    pub fn account(&self) -> &Account {
        match self {
            Opening::Unchanged(a) | Opening::Extended(a) | Opening::Opened(a) => a,
        }
    }

    /// The account to answer with, owned.
    pub fn into_account(self) -> Account {
        match self {
            Opening::Unchanged(a) | Opening::Extended(a) | Opening::Opened(a) => a,
        }
    }
}

/// The parts of a request checked and resolved, ready to append.
struct Parts {
    contracts: Vec<ContractReference>,
    outcomes: Vec<OutcomeInput>,
    obligations: Vec<ObligationInput>,
}

/// Checks the request against itself and the account it would extend (`existing`), recording
/// every problem; `currency` is the account's (the first contract's for a new account).
fn check_request(
    request: &OpenAccount,
    existing: Option<&Account>,
    currency: closeloop_kit::types::CurrencyCode,
) -> Result<Parts, Problem> {
    const A: &str = "account";
    let mut v = Violations::new();
    if request.contracts.is_empty() {
        v.add(
            format!("{A}.contracts"),
            "at least one contract is required",
        );
    }
    for (field, len, max) in [
        ("contracts", request.contracts.len(), MAX_CONTRACTS),
        ("outcomes", request.outcomes.len(), MAX_OUTCOMES),
        ("obligations", request.obligations.len(), MAX_OBLIGATIONS),
        ("contacts", request.contacts.len(), MAX_CONTACTS),
        ("needs", request.needs.len(), MAX_NEEDS),
    ] {
        if len > max {
            v.add(format!("{A}.{field}"), format!("at most {max} entries"));
        }
    }
    v.into_result()?;

    let mut v = Violations::new();
    if !(0..=MAX_DAYS).contains(&request.check_in_cadence_days) {
        v.add(
            format!("{A}.check_in_cadence_days"),
            format!("must be 1 to {MAX_DAYS} (0: the configured default)"),
        );
    }
    let mut contracts = Vec::new();
    {
        let mut names: Vec<&str> = existing.map(Account::contract_names).unwrap_or_default();
        for (i, c) in request.contracts.iter().enumerate() {
            let field = format!("{A}.contracts[{i}]");
            let mut t = Tally::new(&mut v);
            if names.contains(&c.contract.as_str()) {
                t.add(
                    format!("{field}.contract"),
                    format!("{} is already a contract of the account", c.contract),
                );
            }
            names.push(&c.contract);
            let duplicate = t.failed;
            if let Some(r) = c
                .clone()
                .resolve(&mut v, &field, currency, &request.handoff, true)
                && !duplicate
            {
                contracts.push(r);
            }
        }
    }
    for (i, o) in request.outcomes.iter().enumerate() {
        check_outcome_values(
            &mut v,
            &format!("{A}.outcomes[{i}]"),
            &o.success_criteria,
            o.progress_percent,
        );
    }
    let mut names: Vec<&str> = existing.map(Account::contract_names).unwrap_or_default();
    names.extend(request.contracts.iter().map(|c| c.contract.as_str()));
    for (i, o) in request.obligations.iter().enumerate() {
        check_obligation_values(
            &mut v,
            &format!("{A}.obligations[{i}]"),
            o,
            currency,
            &names,
        );
    }
    check_contacts(&mut v, &format!("{A}.contacts"), &request.contacts);
    v.into_result()?;
    Ok(Parts {
        contracts,
        outcomes: request.outcomes.clone(),
        obligations: request.obligations.clone(),
    })
}

impl Account {
    /// Appends outcomes, giving each an id.
    pub(crate) fn append_outcomes(&mut self, outcomes: Vec<OutcomeInput>) -> Result<(), Problem> {
        for o in outcomes {
            let id = self.next_part_id("outcome")?;
            self.outcomes.push(Outcome {
                id,
                goal: o.goal,
                success_criteria: o.success_criteria,
                target_date: o.target_date,
                status: o.status,
                progress_percent: o.progress_percent,
                progress_note: String::new(),
                progress_update_time: None,
                last_check_in: String::new(),
            });
        }
        Ok(())
    }

    /// Appends obligations, giving each an id. Their status is the one they came with (from the
    /// contract, through the handoff): no change is recorded on the account yet.
    pub(crate) fn append_obligations(
        &mut self,
        obligations: Vec<ObligationInput>,
    ) -> Result<(), Problem> {
        for o in obligations {
            let id = self.next_part_id("obligation")?;
            self.obligations.push(Obligation {
                id,
                party: o.party,
                kind: o.kind,
                description: o.description,
                due_date: o.due_date,
                amount: o.amount,
                contract: o.contract,
                external_id: o.external_id,
                status: o.status,
                status_note: o.status_note,
                status_update_time: None,
                status_updated_by: None,
            });
        }
        Ok(())
    }
}

/// The earliest start date of `contracts`.
fn earliest_start(contracts: &[ContractReference]) -> Option<Date> {
    contracts.iter().map(|c| c.start_date).min()
}

/// OpenAccount. `found` is the account that records `request.handoff`, or else the customer's
/// account, or `None` when the customer has none; `id` the id a new account gets.
///
/// - `found` records the handoff: [`Opening::Unchanged`], whatever the request holds.
/// - `found` is the customer's: [`Opening::Extended`]. Contracts are appended with the
///   request's handoff; outcomes and obligations with new ids; contacts except the people
///   already on the account ([`super::vocabulary::Contact::same_person`]), and without their
///   primary flag when the account has a primary contact already, so it keeps at most one;
///   needs except those already there word for word. The account manager and salesperson take
///   the request's values; the start date is the earlier of the two; the account's cadence is
///   kept (the request's applies when the account has none); the request's notes are appended
///   to the account's on a new paragraph, cut at [`MAX_NOTES`] (the proto lists notes neither
///   as appended nor as replaced; the salesperson's notes on the new deal are kept rather than
///   dropped); the customer's display name is kept (only UpdateAccount changes it). A CHURNED
///   account is reopened: ACTIVE, "reopened by handoff", effective today.
/// - otherwise [`Opening::Opened`]: a new ACTIVE account whose currency is the first
///   contract's, start date the request's or the earliest contract start, first status change
///   "opened from handoff" effective today, version 1.
///
/// # Errors
/// Nothing is changed on any of them:
/// - INVALID_ARGUMENT naming `account.…` for no contract, a list longer than its bound, a
///   contract whose value, dates or term are wrong or that the account has already
///   ([`ContractInput::resolve`]), an outcome without criteria or with progress out of range,
///   an obligation whose kind, status, amount or contract is wrong, a contact without an email
///   or a second primary, a cadence outside 0 to 365;
/// - FAILED_PRECONDITION gate "account_limit" when the extended account would exceed a bound
///   ([`Account::check_growth`]), gate "history_limit" when reopening would exceed the status
///   history's;
/// - INTERNAL when `found` is another customer's account that does not record the handoff (the
///   app passed the wrong account).
pub fn open_account(
    found: Option<Account>,
    id: AccountId,
    request: OpenAccount,
    by: &Principal,
    now: i64,
) -> Result<Opening, Problem> {
    match found {
        Some(account) if account.records_handoff(&request.handoff) => {
            Ok(Opening::Unchanged(account))
        }
        Some(account) if account.customer.account_id != request.customer.account_id => {
            Err(Problem::internal(format!(
                "OpenAccount for customer {} was given the account of customer {}",
                request.customer.account_id, account.customer.account_id
            )))
        }
        Some(account) => extend(account, request, by, now).map(Opening::Extended),
        None => open(id, request, by, now).map(Opening::Opened),
    }
}

fn open(id: AccountId, request: OpenAccount, by: &Principal, now: i64) -> Result<Account, Problem> {
    let Some(first) = request.contracts.first() else {
        return Err(Problem::invalid(
            "account.contracts",
            "at least one contract is required",
        ));
    };
    let currency = first.value.currency;
    let parts = check_request(&request, None, currency)?;
    let today = date_of_micros(now);
    let start_date = request
        .start_date
        .or_else(|| earliest_start(&parts.contracts))
        .unwrap_or(today);
    let mut account = Account {
        id,
        customer: request.customer,
        handoff: request.handoff,
        later_handoffs: Vec::new(),
        account_manager: request.account_manager,
        salesperson: request.salesperson,
        status: AccountStatus::Active,
        currency,
        start_date,
        contracts: parts.contracts,
        outcomes: Vec::new(),
        obligations: Vec::new(),
        contacts: request.contacts,
        needs: request.needs,
        check_in_cadence_days: (request.check_in_cadence_days > 0)
            .then_some(request.check_in_cadence_days),
        last_check_in: None,
        open_issue_count: 0,
        status_reason: OPENED_REASON.to_owned(),
        churn: None,
        status_history: vec![StatusChange {
            from: None,
            to: AccountStatus::Active,
            reason: OPENED_REASON.to_owned(),
            churn_reason: None,
            effective_date: today,
            actor: Actor::of(by),
            time: now,
        }],
        notes: request.notes,
        create_time: now,
        update_time: now,
        version: 1,
        next_part: 0,
    };
    account.append_outcomes(parts.outcomes)?;
    account.append_obligations(parts.obligations)?;
    account.check_growth(None)?;
    Ok(account)
}

fn extend(
    existing: Account,
    request: OpenAccount,
    by: &Principal,
    now: i64,
) -> Result<Account, Problem> {
    let parts = check_request(&request, Some(&existing), existing.currency)?;
    let mut a = existing.clone();
    let request_start = request
        .start_date
        .or_else(|| earliest_start(&parts.contracts));
    if let Some(start) = request_start {
        a.start_date = a.start_date.min(start);
    }
    a.contracts.extend(parts.contracts);
    a.append_outcomes(parts.outcomes)?;
    a.append_obligations(parts.obligations)?;
    let mut has_primary = a.contacts.iter().any(|c| c.primary);
    for c in request.contacts {
        if a.contacts.iter().any(|x| x.contact.same_person(&c.contact)) {
            continue;
        }
        let primary = c.primary && !has_primary;
        has_primary |= primary;
        a.contacts.push(AccountContact { primary, ..c });
    }
    for need in request.needs {
        if !a.needs.iter().any(|n| n.trim() == need.trim()) {
            a.needs.push(need);
        }
    }
    if a.check_in_cadence_days.is_none() && request.check_in_cadence_days > 0 {
        a.check_in_cadence_days = Some(request.check_in_cadence_days);
    }
    if !request.notes.trim().is_empty() {
        let joined = if a.notes.trim().is_empty() {
            request.notes
        } else {
            format!("{}\n\n{}", a.notes, request.notes)
        };
        a.notes = cut(&joined, MAX_NOTES).to_owned();
    }
    a.later_handoffs.push(request.handoff);
    a.account_manager = request.account_manager;
    a.salesperson = request.salesperson;
    if a.status == AccountStatus::Churned {
        a.enter(
            StatusMove::Reopen,
            REOPENED_REASON.to_owned(),
            None,
            date_of_micros(now),
            Actor::of(by),
            now,
        )?;
    }
    a.update_time = now;
    a.check_growth(Some(&existing))?;
    Ok(a)
}
