//! The account's edits: UpdateAccount replacing the fields its `update_mask` names
//! ([`AccountField`], [`AccountPatch`]), and the outcomes and obligations, added and updated by
//! their own methods ([`OutcomePatch`], [`ObligationPatch`]). All are allowed in every status.
//!
//! The values' shapes (texts, required values, emails, enum values) are the API's to check; what
//! depends on the account is checked here. A refused edit changes nothing: each is applied to a
//! copy that replaces the account only once every check passed.

use closeloop_kit::types::Money;
use closeloop_kit::{Principal, Problem, Violations, codes};
use time::Date;

use super::access::{self, OBLIGATION, OUTCOME};
use super::account::{
    Account, AccountContact, ContractInput, ObligationInput, OutcomeInput, Tally, check_contacts,
    check_obligation_values, check_outcome_values,
};
use super::limits::{MAX_CONTRACTS, MAX_DAYS, MAX_NEEDS};
use super::vocabulary::{Actor, ObligationStatus, OutcomeStatus};

codes! {
    /// A path UpdateAccount's `update_mask` may name; the code is the path. Any other path
    /// (`from_code` gives `None`) is INVALID_ARGUMENT naming `update_mask`, the API's check;
    /// `*` stands for all of them ([`AccountField::ALL`]), so a `sales_manager` sending it is
    /// refused ([`access::check_update_fields`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum AccountField {
        CustomerDisplayName = "customer.display_name",
        AccountManager = "account_manager",
        Salesperson = "salesperson",
        StartDate = "start_date",
        Contracts = "contracts",
        Contacts = "contacts",
        Needs = "needs",
        CheckInCadenceDays = "check_in_cadence_days",
        Notes = "notes",
    }
}

/// The new values of the fields an UpdateAccount replaces: `Some` for each path of the mask,
/// `None` for the others. Lists are replaced whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountPatch {
    pub customer_display_name: Option<String>,
    /// A token subject; the API refuses an empty one: an account always has a manager.
    pub account_manager: Option<String>,
    /// A token subject; the API refuses an empty one.
    pub salesperson: Option<String>,
    /// `Some(None)`: back to the default, the earliest contract start date.
    pub start_date: Option<Option<Date>>,
    /// Entries are matched to the account's contracts by `contract`: a matched one keeps the
    /// handoff that brought it, a new one has none. At least one must remain.
    pub contracts: Option<Vec<ContractInput>>,
    pub contacts: Option<Vec<AccountContact>>,
    pub needs: Option<Vec<String>>,
    /// 0 is the configured default.
    pub check_in_cadence_days: Option<i32>,
    pub notes: Option<String>,
}

impl AccountPatch {
    /// The fields it replaces: the paths of the update mask.
    pub fn fields(&self) -> Vec<AccountField> {
        let p = self;
        [
            (
                p.customer_display_name.is_some(),
                AccountField::CustomerDisplayName,
            ),
            (p.account_manager.is_some(), AccountField::AccountManager),
            (p.salesperson.is_some(), AccountField::Salesperson),
            (p.start_date.is_some(), AccountField::StartDate),
            (p.contracts.is_some(), AccountField::Contracts),
            (p.contacts.is_some(), AccountField::Contacts),
            (p.needs.is_some(), AccountField::Needs),
            (
                p.check_in_cadence_days.is_some(),
                AccountField::CheckInCadenceDays,
            ),
            (p.notes.is_some(), AccountField::Notes),
        ]
        .into_iter()
        .filter_map(|(set, f)| set.then_some(f))
        .collect()
    }
}

codes! {
    /// A path UpdateOutcome's `update_mask` may name.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum OutcomeField {
        Goal = "goal",
        SuccessCriteria = "success_criteria",
        TargetDate = "target_date",
        Status = "status",
        ProgressPercent = "progress_percent",
    }
}

/// The new values of an outcome's fields named by UpdateOutcome's mask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomePatch {
    pub goal: Option<String>,
    pub success_criteria: Option<Vec<String>>,
    /// `Some(None)` clears it.
    pub target_date: Option<Option<Date>>,
    pub status: Option<OutcomeStatus>,
    pub progress_percent: Option<i32>,
}

codes! {
    /// A path UpdateObligation's `update_mask` may name. `party` and `kind` are not among them:
    /// an obligation of another party or kind is another obligation (the API refuses them on
    /// `update_mask`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ObligationField {
        Description = "description",
        DueDate = "due_date",
        Amount = "amount",
        Contract = "contract",
        ExternalId = "external_id",
        Status = "status",
        StatusNote = "status_note",
    }
}

/// The new values of an obligation's fields named by UpdateObligation's mask.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObligationPatch {
    pub description: Option<String>,
    /// `Some(None)` clears it.
    pub due_date: Option<Option<Date>>,
    /// `Some(None)` clears it (refused for a PAYMENT).
    pub amount: Option<Option<Money>>,
    /// `Some("")`: made outside any contract.
    pub contract: Option<String>,
    pub external_id: Option<String>,
    pub status: Option<ObligationStatus>,
    pub status_note: Option<String>,
}

impl Account {
    /// UpdateAccount: replaces the fields `patch` gives, for the caller `by`. Returns whether
    /// anything was named (an empty patch changes nothing).
    ///
    /// # Errors
    /// Nothing is changed on any of them:
    /// - PERMISSION_DENIED for a field the caller may not replace
    ///   ([`access::check_update_fields`]: a `sales_manager` names anything but
    ///   `account_manager`);
    /// - INVALID_ARGUMENT naming `account.…`: no contract left, more than [`MAX_CONTRACTS`], a
    ///   contract named twice or wrong in itself ([`ContractInput::resolve`]), a contract
    ///   removed while an obligation names it (`account.contracts`); a contact without an email
    ///   or a second primary; more than [`MAX_NEEDS`] needs or an empty one; a cadence outside 0
    ///   to 365;
    /// - FAILED_PRECONDITION gate "account_limit" when the account would exceed its size.
    pub fn update(
        &mut self,
        by: &Principal,
        patch: AccountPatch,
        now: i64,
    ) -> Result<bool, Problem> {
        let fields = patch.fields();
        if fields.is_empty() {
            return Ok(false);
        }
        access::check_update_fields(by, self, &fields)?;
        const A: &str = "account";
        let mut v = Violations::new();
        let mut next = self.clone();
        if let Some(name) = patch.customer_display_name {
            next.customer.display_name = name;
        }
        if let Some(m) = patch.account_manager {
            next.account_manager = m;
        }
        if let Some(s) = patch.salesperson {
            next.salesperson = s;
        }
        if let Some(contracts) = patch.contracts {
            next.contracts = self.replaced_contracts(&mut v, contracts);
        }
        if let Some(contacts) = patch.contacts {
            check_contacts(&mut v, &format!("{A}.contacts"), &contacts);
            next.contacts = contacts;
        }
        if let Some(needs) = patch.needs {
            if needs.len() > MAX_NEEDS {
                v.add(format!("{A}.needs"), format!("at most {MAX_NEEDS} needs"));
            } else if let Some(i) = needs.iter().position(|n| n.trim().is_empty()) {
                v.add(format!("{A}.needs[{i}]"), "required");
            }
            next.needs = needs;
        }
        if let Some(days) = patch.check_in_cadence_days {
            if (0..=MAX_DAYS).contains(&days) {
                next.check_in_cadence_days = (days > 0).then_some(days);
            } else {
                v.add(
                    format!("{A}.check_in_cadence_days"),
                    format!("must be 1 to {MAX_DAYS} (0: the configured default)"),
                );
            }
        }
        if let Some(notes) = patch.notes {
            next.notes = notes;
        }
        if let Some(start) = patch.start_date {
            let earliest = next.contracts.iter().map(|c| c.start_date).min();
            next.start_date = start.or(earliest).unwrap_or(self.start_date);
        }
        v.into_result()?;
        next.update_time = now;
        next.check_growth(Some(self))?;
        *self = next;
        Ok(true)
    }

    /// The contracts UpdateAccount leaves, matched by name to the current ones (which keep their
    /// handoff), recording every problem.
    fn replaced_contracts(
        &self,
        v: &mut Violations,
        contracts: Vec<ContractInput>,
    ) -> Vec<super::account::ContractReference> {
        const F: &str = "account.contracts";
        if contracts.is_empty() {
            v.add(F, "at least one contract must remain");
            return Vec::new();
        }
        if contracts.len() > MAX_CONTRACTS {
            v.add(F, format!("at most {MAX_CONTRACTS} contracts"));
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        for (i, c) in contracts.into_iter().enumerate() {
            let field = format!("{F}[{i}]");
            let mut t = Tally::new(v);
            if seen.contains(&c.contract) {
                t.add(
                    format!("{field}.contract"),
                    format!("{} is named by an earlier entry", c.contract),
                );
            }
            let repeated = t.failed;
            seen.push(c.contract.clone());
            let handoff = self
                .contracts
                .iter()
                .find(|k| k.contract == c.contract)
                .map_or("", |k| k.handoff.as_str());
            if let Some(r) = c.resolve(v, &field, self.currency, handoff, false)
                && !repeated
            {
                out.push(r);
            }
        }
        for o in &self.obligations {
            if !o.contract.is_empty() && !seen.contains(&o.contract) {
                v.add(
                    F,
                    format!(
                        "{} is named by obligation {}: change the obligation first",
                        o.contract, o.id
                    ),
                );
            }
        }
        out
    }

    /// AddOutcome: adds an outcome and returns its id.
    ///
    /// # Errors
    /// INVALID_ARGUMENT `outcome.success_criteria` (none, too many, an empty one),
    /// `outcome.progress_percent` (outside 0 to 100); FAILED_PRECONDITION gate "account_limit"
    /// past the account's bounds.
    pub fn add_outcome(&mut self, outcome: OutcomeInput, now: i64) -> Result<String, Problem> {
        let mut v = Violations::new();
        check_outcome_values(
            &mut v,
            "outcome",
            &outcome.success_criteria,
            outcome.progress_percent,
        );
        v.into_result()?;
        let mut next = self.clone();
        next.append_outcomes(vec![outcome])?;
        next.update_time = now;
        next.check_growth(Some(self))?;
        let id = next
            .outcomes
            .last()
            .map(|o| o.id.clone())
            .ok_or_else(|| Problem::internal("the added outcome is missing"))?;
        *self = next;
        Ok(id)
    }

    /// UpdateOutcome: replaces the fields `patch` gives on the outcome `outcome_id`. A change
    /// of status or progress is a progress report without a note: it sets the report time to
    /// now and clears the note and the check-in of the previous report (the proto: "empty when
    /// set by UpdateOutcome").
    ///
    /// # Errors
    /// NOT_FOUND (resource "outcome", the id) for no such outcome; INVALID_ARGUMENT as
    /// [`Account::add_outcome`].
    pub fn update_outcome(
        &mut self,
        outcome_id: &str,
        patch: OutcomePatch,
        now: i64,
    ) -> Result<(), Problem> {
        let Some(index) = self.outcomes.iter().position(|o| o.id == outcome_id) else {
            return Err(Problem::NotFound {
                resource: OUTCOME,
                name: outcome_id.to_owned(),
            });
        };
        let mut o = self.outcomes[index].clone();
        if let Some(goal) = patch.goal {
            o.goal = goal;
        }
        if let Some(criteria) = patch.success_criteria {
            o.success_criteria = criteria;
        }
        if let Some(date) = patch.target_date {
            o.target_date = date;
        }
        let reported = patch.status.is_some_and(|s| s != o.status)
            || patch
                .progress_percent
                .is_some_and(|p| p != o.progress_percent);
        if let Some(status) = patch.status {
            o.status = status;
        }
        if let Some(progress) = patch.progress_percent {
            o.progress_percent = progress;
        }
        let mut v = Violations::new();
        check_outcome_values(&mut v, "outcome", &o.success_criteria, o.progress_percent);
        v.into_result()?;
        if reported {
            o.progress_note.clear();
            o.last_check_in.clear();
            o.progress_update_time = Some(now);
        }
        let mut next = self.clone();
        next.outcomes[index] = o;
        next.update_time = now;
        next.check_growth(Some(self))?;
        *self = next;
        Ok(())
    }

    /// AddObligation: adds an obligation and returns its id. Its status (PENDING unless given)
    /// is recorded as set now by `by`.
    ///
    /// # Errors
    /// INVALID_ARGUMENT naming `obligation.kind`, `.status`, `.amount` or `.contract`
    /// ([`super::account::ObligationInput`]'s checks); FAILED_PRECONDITION gate "account_limit"
    /// past the account's bounds.
    pub fn add_obligation(
        &mut self,
        by: &Principal,
        obligation: ObligationInput,
        now: i64,
    ) -> Result<String, Problem> {
        let mut v = Violations::new();
        check_obligation_values(
            &mut v,
            "obligation",
            &obligation,
            self.currency,
            &self.contract_names(),
        );
        v.into_result()?;
        let mut next = self.clone();
        next.append_obligations(vec![obligation])?;
        let added = next
            .obligations
            .last_mut()
            .ok_or_else(|| Problem::internal("the added obligation is missing"))?;
        added.status_update_time = Some(now);
        added.status_updated_by = Some(Actor::of(by));
        let id = added.id.clone();
        next.update_time = now;
        next.check_growth(Some(self))?;
        *self = next;
        Ok(id)
    }

    /// UpdateObligation: replaces the fields `patch` gives on the obligation `obligation_id`.
    /// Any status allowed for the party may follow any other
    /// ([`ObligationStatus::allowed_for`]). A change of status records who made it and when;
    /// when the patch does not also give a status note, the previous note is cleared, since it
    /// was about the previous status.
    ///
    /// # Errors
    /// NOT_FOUND (resource "obligation", the id) for no such obligation; INVALID_ARGUMENT
    /// naming `obligation.status` (DELIVERED on a CLIENT obligation), `obligation.amount`
    /// (cleared on a PAYMENT, not positive, another currency), `obligation.contract` (not one
    /// of the account's).
    pub fn update_obligation(
        &mut self,
        by: &Principal,
        obligation_id: &str,
        patch: ObligationPatch,
        now: i64,
    ) -> Result<(), Problem> {
        let Some(index) = self.obligations.iter().position(|o| o.id == obligation_id) else {
            return Err(Problem::NotFound {
                resource: OBLIGATION,
                name: obligation_id.to_owned(),
            });
        };
        let mut o = self.obligations[index].clone();
        if let Some(d) = patch.description {
            o.description = d;
        }
        if let Some(d) = patch.due_date {
            o.due_date = d;
        }
        if let Some(a) = patch.amount {
            o.amount = a;
        }
        if let Some(c) = patch.contract {
            o.contract = c;
        }
        if let Some(e) = patch.external_id {
            o.external_id = e;
        }
        let status_changed = patch.status.is_some_and(|s| s != o.status);
        if let Some(s) = patch.status {
            o.status = s;
        }
        match patch.status_note {
            Some(note) => o.status_note = note,
            None if status_changed => o.status_note.clear(),
            None => {}
        }
        let mut v = Violations::new();
        check_obligation_values(
            &mut v,
            "obligation",
            &ObligationInput {
                party: o.party,
                kind: o.kind,
                description: o.description.clone(),
                due_date: o.due_date,
                amount: o.amount,
                contract: o.contract.clone(),
                external_id: o.external_id.clone(),
                status: o.status,
                status_note: o.status_note.clone(),
            },
            self.currency,
            &self.contract_names(),
        );
        v.into_result()?;
        if status_changed {
            o.status_update_time = Some(now);
            o.status_updated_by = Some(Actor::of(by));
        }
        let mut next = self.clone();
        next.obligations[index] = o;
        next.update_time = now;
        next.check_growth(Some(self))?;
        *self = next;
        Ok(())
    }
}
