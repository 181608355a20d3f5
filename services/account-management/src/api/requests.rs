//! Requests into domain values: every field checked, every bad field named at once
//! (INVALID_ARGUMENT with one violation per field), before anything is read or written.

use closeloop_kit::convert::{date, money, optional_date};
use closeloop_kit::ids::is_id;
use closeloop_kit::types::{Email, identifier, optional_text, required_text};
use closeloop_kit::{Problem, Violations};
use closeloop_proto::accounts::v1 as pb;
use closeloop_proto::common::v1 as common;

use super::enums::{optional, required};
use crate::domain::account::{AccountContact, ContractInput, ObligationInput, OutcomeInput};
use crate::domain::check_ins::{CheckInInput, ProgressInput};
use crate::domain::edit::{AccountPatch, ObligationPatch, OutcomePatch};
use crate::domain::limits::{
    MAX_DESCRIPTION, MAX_GOAL, MAX_ID, MAX_NEED, MAX_NOTES, MAX_PHONE, MAX_RESOURCE_NAME,
    MAX_STATUS_NOTE, MAX_TITLE,
};
use crate::domain::opening::OpenAccount;
use crate::domain::operations::{Measurement, OperationsUpdateInput, UpdateFilter};
use crate::domain::opportunities::{ExpansionInput, ReferralInput};
use crate::domain::vocabulary::{
    AccountId, CheckInChannel, Contact, ContactRole, ExpansionKind, ObligationKind,
    ObligationParty, ObligationStatus, OperationsUpdateId, OperationsUpdateKind, OutcomeStatus,
    Party, Severity,
};

/// Longest reason of a status change.
pub const MAX_REASON: usize = 1000;

/// Domain resource names and their proto type names.
pub const RESOURCES: &[(&str, &str)] = &[
    ("account", "closeloop.accounts.v1.Account"),
    ("check_in", "closeloop.accounts.v1.CheckIn"),
    (
        "operations_update",
        "closeloop.accounts.v1.OperationsUpdate",
    ),
    ("expansion", "closeloop.accounts.v1.Expansion"),
    ("referral", "closeloop.accounts.v1.Referral"),
    ("outcome", "closeloop.accounts.v1.Outcome"),
    ("obligation", "closeloop.accounts.v1.Obligation"),
];

/// Domain field names and their API names (the domain names the request's own fields).
pub const FIELDS: &[(&str, &str)] = &[];

/// Parses `accounts/{account}`.
///
/// # Errors
/// INVALID_ARGUMENT on `field` when malformed.
pub fn account_id(field: &str, name: &str) -> Result<AccountId, Problem> {
    name.strip_prefix("accounts/")
        .and_then(|id| AccountId::parse(id).ok())
        .ok_or_else(|| Problem::invalid(field, "must be accounts/{account}"))
}

/// A resource name `{collection}/{id}`, required or optional.
fn resource(
    v: &mut Violations,
    field: &str,
    s: &str,
    collection: &str,
    needed: bool,
) -> Option<String> {
    if s.is_empty() && !needed {
        return Some(String::new());
    }
    let ok = s.len() <= MAX_RESOURCE_NAME
        && s.strip_prefix(collection)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(is_id);
    if ok {
        Some(s.to_owned())
    } else if s.is_empty() {
        v.add(field, "required");
        None
    } else {
        v.add(field, format!("must be {collection}/{{id}}"));
        None
    }
}

fn party(v: &mut Violations, field: &str, p: Option<&common::Party>) -> Option<Party> {
    let Some(p) = p else {
        v.add(field, "required");
        return None;
    };
    let account_id = v.check(
        format!("{field}.account_id"),
        identifier(&p.account_id, MAX_ID),
    );
    let display_name = v.check(
        format!("{field}.display_name"),
        required_text(&p.display_name, MAX_TITLE),
    );
    Some(Party {
        account_id: account_id?,
        display_name: display_name?,
    })
}

/// A contact; `email_required` for an account's contacts.
pub fn contact(v: &mut Violations, field: &str, c: Option<&common::Contact>) -> Option<Contact> {
    let Some(c) = c else {
        v.add(field, "required");
        return None;
    };
    let display_name = v.check(
        format!("{field}.display_name"),
        required_text(&c.display_name, MAX_TITLE),
    );
    let email = if c.email.is_empty() {
        Some(None)
    } else {
        v.check(format!("{field}.email"), Email::parse(&c.email).map(Some))
    };
    let phone = v.check(format!("{field}.phone"), optional_text(&c.phone, MAX_PHONE));
    let title = v.check(format!("{field}.title"), optional_text(&c.title, MAX_TITLE));
    Some(Contact {
        display_name: display_name?,
        email: email?,
        phone: phone?,
        title: title?,
    })
}

fn contract(v: &mut Violations, field: &str, c: &pb::ContractReference) -> Option<ContractInput> {
    let name = resource(
        v,
        &format!("{field}.contract"),
        &c.contract,
        "contracts",
        true,
    );
    let opportunity = resource(
        v,
        &format!("{field}.opportunity"),
        &c.opportunity,
        "opportunities",
        false,
    );
    let value = v.check(format!("{field}.value"), money(c.value.as_ref()));
    let start = v.check(format!("{field}.start_date"), date(c.start_date.as_ref()));
    let end = v.check(
        format!("{field}.end_date"),
        optional_date(c.end_date.as_ref()),
    );
    let title = v.check(format!("{field}.title"), optional_text(&c.title, MAX_TITLE));
    Some(ContractInput {
        contract: name?,
        opportunity: opportunity?,
        value: value?,
        start_date: start?,
        end_date: end?,
        term_months: c.term_months,
        auto_renew: c.auto_renew,
        gross_margin_bps: c.gross_margin_bps,
        title: title?,
    })
}

/// An outcome as AddOutcome or OpenAccount gives it.
pub fn outcome(v: &mut Violations, field: &str, o: &pb::Outcome) -> Option<OutcomeInput> {
    let goal = v.check(format!("{field}.goal"), required_text(&o.goal, MAX_GOAL));
    let mut criteria = Some(Vec::with_capacity(o.success_criteria.len()));
    for (i, c) in o.success_criteria.iter().enumerate() {
        match required_text(c, MAX_DESCRIPTION) {
            Ok(c) => {
                if let Some(list) = criteria.as_mut() {
                    list.push(c);
                }
            }
            Err(e) => {
                v.add(format!("{field}.success_criteria[{i}]"), e);
                criteria = None;
            }
        }
    }
    let target = v.check(
        format!("{field}.target_date"),
        optional_date(o.target_date.as_ref()),
    );
    let status = v.check(
        format!("{field}.status"),
        optional::<pb::OutcomeStatus, OutcomeStatus>(o.status),
    );
    Some(OutcomeInput {
        goal: goal?,
        success_criteria: criteria?,
        target_date: target?,
        status: status?.unwrap_or(OutcomeStatus::NotStarted),
        progress_percent: o.progress_percent,
    })
}

/// An obligation as AddObligation or OpenAccount gives it.
pub fn obligation(v: &mut Violations, field: &str, o: &pb::Obligation) -> Option<ObligationInput> {
    let party = v.check(
        format!("{field}.party"),
        required::<pb::ObligationParty, ObligationParty>(o.party),
    );
    let kind = v.check(
        format!("{field}.kind"),
        required::<common::ObligationKind, ObligationKind>(o.kind),
    );
    let description = v.check(
        format!("{field}.description"),
        required_text(&o.description, MAX_DESCRIPTION),
    );
    let due = v.check(
        format!("{field}.due_date"),
        optional_date(o.due_date.as_ref()),
    );
    let amount = match o.amount.as_ref() {
        None => Some(None),
        Some(m) => v.check(format!("{field}.amount"), money(Some(m)).map(Some)),
    };
    let contract = resource(
        v,
        &format!("{field}.contract"),
        &o.contract,
        "contracts",
        false,
    );
    let external_id = v.check(
        format!("{field}.external_id"),
        optional_text(&o.external_id, MAX_ID),
    );
    let status = v.check(
        format!("{field}.status"),
        optional::<common::ObligationStatus, ObligationStatus>(o.status),
    );
    let status_note = v.check(
        format!("{field}.status_note"),
        optional_text(&o.status_note, MAX_STATUS_NOTE),
    );
    Some(ObligationInput {
        party: party?,
        kind: kind?,
        description: description?,
        due_date: due?,
        amount: amount?,
        contract: contract?,
        external_id: external_id?,
        status: status?.unwrap_or(ObligationStatus::Pending),
        status_note: status_note?,
    })
}

fn account_contact(
    v: &mut Violations,
    field: &str,
    c: &pb::AccountContact,
) -> Option<AccountContact> {
    let contact = contact(v, &format!("{field}.contact"), c.contact.as_ref());
    let role = v.check(
        format!("{field}.role"),
        required::<pb::ContactRole, ContactRole>(c.role),
    );
    Some(AccountContact {
        contact: contact?,
        role: role?,
        primary: c.primary,
    })
}

/// Parses every entry of a list, keeping them all only when each parsed.
fn each<T, U>(
    v: &mut Violations,
    field: &str,
    items: &[T],
    parse: impl Fn(&mut Violations, &str, &T) -> Option<U>,
) -> Option<Vec<U>> {
    let mut out = Some(Vec::with_capacity(items.len()));
    for (i, item) in items.iter().enumerate() {
        match parse(v, &format!("{field}[{i}]"), item) {
            Some(u) => {
                if let Some(list) = out.as_mut() {
                    list.push(u);
                }
            }
            None => out = None,
        }
    }
    out
}

/// The contacts of an account.
pub fn contacts(
    v: &mut Violations,
    field: &str,
    items: &[pb::AccountContact],
) -> Option<Vec<AccountContact>> {
    each(v, field, items, account_contact)
}

/// The needs of an account.
pub fn needs(v: &mut Violations, field: &str, items: &[String]) -> Option<Vec<String>> {
    each(v, field, items, |v, f, s: &String| {
        v.check(f.to_owned(), required_text(s, MAX_NEED))
    })
}

/// Bounded lists are checked by the domain; this bounds what is parsed first.
const MAX_PARSED: usize = 5000;

/// OpenAccount's request.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field (`account.…`).
pub fn open_account(r: &pb::OpenAccountRequest) -> Result<OpenAccount, Problem> {
    let Some(a) = r.account.as_ref() else {
        return Err(Problem::invalid("account", "required"));
    };
    let mut v = Violations::new();
    for (field, len) in [
        ("account.contracts", a.contracts.len()),
        ("account.outcomes", a.outcomes.len()),
        ("account.obligations", a.obligations.len()),
        ("account.contacts", a.contacts.len()),
        ("account.needs", a.needs.len()),
    ] {
        if len > MAX_PARSED {
            v.add(field, format!("at most {MAX_PARSED} entries"));
        }
    }
    v.into_result()?;
    let mut v = Violations::new();
    let customer = party(&mut v, "account.customer", a.customer.as_ref());
    let handoff = resource(&mut v, "account.handoff", &a.handoff, "handoffs", true);
    let manager = v.check(
        "account.account_manager",
        identifier(&a.account_manager, MAX_ID),
    );
    let salesperson = v.check("account.salesperson", identifier(&a.salesperson, MAX_ID));
    let start = v.check("account.start_date", optional_date(a.start_date.as_ref()));
    let contracts = each(&mut v, "account.contracts", &a.contracts, contract);
    let outcomes = each(&mut v, "account.outcomes", &a.outcomes, outcome);
    let obligations = each(&mut v, "account.obligations", &a.obligations, obligation);
    let contacts = contacts(&mut v, "account.contacts", &a.contacts);
    let needs = needs(&mut v, "account.needs", &a.needs);
    let notes = v.check("account.notes", optional_text(&a.notes, MAX_NOTES));
    let (
        customer,
        handoff,
        manager,
        salesperson,
        start,
        contracts,
        outcomes,
        obligations,
        contacts,
        needs,
        notes,
    ) = v.values((
        customer,
        handoff,
        manager,
        salesperson,
        start,
        contracts,
        outcomes,
        obligations,
        contacts,
        needs,
        notes,
    ))?;
    Ok(OpenAccount {
        customer,
        handoff,
        account_manager: manager,
        salesperson,
        start_date: start,
        contracts,
        outcomes,
        obligations,
        contacts,
        needs,
        check_in_cadence_days: a.check_in_cadence_days,
        notes,
    })
}

/// A reason of a status change, 1 to 1000 characters.
///
/// # Errors
/// INVALID_ARGUMENT on `field`.
pub fn reason(field: &str, s: &str) -> Result<String, Problem> {
    required_text(s, MAX_REASON).map_err(|e| Problem::invalid(field, e))
}

/// An optional filter value: empty means none.
///
/// # Errors
/// INVALID_ARGUMENT on `field`.
pub fn filter_value(field: &str, s: &str) -> Result<Option<String>, Problem> {
    if s.is_empty() {
        return Ok(None);
    }
    identifier(s, MAX_ID)
        .map(Some)
        .map_err(|e| Problem::invalid(field, e))
}

/// Paths UpdateAccount's `update_mask` may name.
pub const ACCOUNT_UPDATABLE: &[&str] = &[
    "customer.display_name",
    "account_manager",
    "salesperson",
    "start_date",
    "contracts",
    "contacts",
    "needs",
    "check_in_cadence_days",
    "notes",
];

/// Paths UpdateOutcome's `update_mask` may name.
pub const OUTCOME_UPDATABLE: &[&str] = &[
    "goal",
    "success_criteria",
    "target_date",
    "status",
    "progress_percent",
];

/// Paths UpdateObligation's `update_mask` may name (not `party` nor `kind`).
pub const OBLIGATION_UPDATABLE: &[&str] = &[
    "description",
    "due_date",
    "amount",
    "contract",
    "external_id",
    "status",
    "status_note",
];

/// UpdateAccount's new values of the fields `paths` names.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field (`account.…`).
pub fn account_patch(a: &pb::Account, paths: &[&str]) -> Result<AccountPatch, Problem> {
    let wants = |p: &str| paths.contains(&p);
    let mut v = Violations::new();
    for (path, field, len) in [
        ("contracts", "account.contracts", a.contracts.len()),
        ("contacts", "account.contacts", a.contacts.len()),
        ("needs", "account.needs", a.needs.len()),
    ] {
        if wants(path) && len > MAX_PARSED {
            v.add(field, format!("at most {MAX_PARSED} entries"));
        }
    }
    v.into_result()?;
    let mut v = Violations::new();
    let mut patch = AccountPatch::default();
    if wants("customer.display_name") {
        let name = a.customer.as_ref().map_or("", |c| c.display_name.as_str());
        patch.customer_display_name = v.check(
            "account.customer.display_name",
            required_text(name, MAX_TITLE),
        );
    }
    if wants("account_manager") {
        patch.account_manager = v.check(
            "account.account_manager",
            identifier(&a.account_manager, MAX_ID),
        );
    }
    if wants("salesperson") {
        patch.salesperson = v.check("account.salesperson", identifier(&a.salesperson, MAX_ID));
    }
    if wants("start_date") {
        patch.start_date = v.check("account.start_date", optional_date(a.start_date.as_ref()));
    }
    if wants("contracts") {
        patch.contracts = each(&mut v, "account.contracts", &a.contracts, contract);
    }
    if wants("contacts") {
        patch.contacts = contacts(&mut v, "account.contacts", &a.contacts);
    }
    if wants("needs") {
        patch.needs = needs(&mut v, "account.needs", &a.needs);
    }
    if wants("check_in_cadence_days") {
        patch.check_in_cadence_days = Some(a.check_in_cadence_days);
    }
    if wants("notes") {
        patch.notes = v.check("account.notes", optional_text(&a.notes, MAX_NOTES));
    }
    v.into_result()?;
    Ok(patch)
}

/// UpdateOutcome's new values of the fields `paths` names.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field (`outcome.…`).
pub fn outcome_patch(o: &pb::Outcome, paths: &[&str]) -> Result<OutcomePatch, Problem> {
    let wants = |p: &str| paths.contains(&p);
    let mut v = Violations::new();
    let mut patch = OutcomePatch::default();
    if wants("goal") {
        patch.goal = v.check("outcome.goal", required_text(&o.goal, MAX_GOAL));
    }
    if wants("success_criteria") {
        if o.success_criteria.len() > MAX_PARSED {
            v.add(
                "outcome.success_criteria",
                format!("at most {MAX_PARSED} entries"),
            );
        } else {
            patch.success_criteria = each(
                &mut v,
                "outcome.success_criteria",
                &o.success_criteria,
                |v, f, s: &String| v.check(f.to_owned(), required_text(s, MAX_DESCRIPTION)),
            );
        }
    }
    if wants("target_date") {
        patch.target_date = v.check("outcome.target_date", optional_date(o.target_date.as_ref()));
    }
    if wants("status") {
        patch.status = v.check(
            "outcome.status",
            required::<pb::OutcomeStatus, OutcomeStatus>(o.status),
        );
    }
    if wants("progress_percent") {
        patch.progress_percent = Some(o.progress_percent);
    }
    v.into_result()?;
    Ok(patch)
}

/// UpdateObligation's new values of the fields `paths` names.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field (`obligation.…`).
pub fn obligation_patch(o: &pb::Obligation, paths: &[&str]) -> Result<ObligationPatch, Problem> {
    let wants = |p: &str| paths.contains(&p);
    let mut v = Violations::new();
    let mut patch = ObligationPatch::default();
    if wants("description") {
        patch.description = v.check(
            "obligation.description",
            required_text(&o.description, MAX_DESCRIPTION),
        );
    }
    if wants("due_date") {
        patch.due_date = v.check("obligation.due_date", optional_date(o.due_date.as_ref()));
    }
    if wants("amount") {
        patch.amount = match o.amount.as_ref() {
            None => Some(None),
            Some(m) => v.check("obligation.amount", money(Some(m)).map(Some)),
        };
    }
    if wants("contract") {
        patch.contract = resource(
            &mut v,
            "obligation.contract",
            &o.contract,
            "contracts",
            false,
        );
    }
    if wants("external_id") {
        patch.external_id = v.check(
            "obligation.external_id",
            optional_text(&o.external_id, MAX_ID),
        );
    }
    if wants("status") {
        patch.status = v.check(
            "obligation.status",
            required::<common::ObligationStatus, ObligationStatus>(o.status),
        );
    }
    if wants("status_note") {
        patch.status_note = v.check(
            "obligation.status_note",
            optional_text(&o.status_note, MAX_STATUS_NOTE),
        );
    }
    v.into_result()?;
    Ok(patch)
}

/// The id of an outcome or obligation of the account.
///
/// # Errors
/// INVALID_ARGUMENT on `field` when empty or malformed.
pub fn part_id(field: &str, id: &str) -> Result<String, Problem> {
    if id.is_empty() {
        return Err(Problem::invalid(field, "required"));
    }
    identifier(id, MAX_ID).map_err(|e| Problem::invalid(field, e))
}

/// Parses `accounts/{account}/{collection}/{id}` into the account id and the child's id text.
///
/// # Errors
/// INVALID_ARGUMENT on `field` when malformed.
pub fn child_name<T>(
    field: &str,
    name: &str,
    collection: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<(AccountId, T), Problem> {
    let bad = || {
        Problem::invalid(
            field,
            format!("must be accounts/{{account}}/{collection}/{{id}}"),
        )
    };
    let rest = name.strip_prefix("accounts/").ok_or_else(bad)?;
    let (account, rest) = rest.split_once('/').ok_or_else(bad)?;
    let id = rest
        .strip_prefix(collection)
        .and_then(|r| r.strip_prefix('/'))
        .ok_or_else(bad)?;
    let account = AccountId::parse(account).map_err(|_| bad())?;
    let id = parse(id).map_err(|_| bad())?;
    Ok((account, id))
}

/// RecordCheckIn's check-in.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field (`check_in.…`).
pub fn check_in(c: Option<&pb::CheckIn>) -> Result<CheckInInput, Problem> {
    let Some(c) = c else {
        return Err(Problem::invalid("check_in", "required"));
    };
    let mut v = Violations::new();
    for (field, len) in [
        ("check_in.outcome_progress", c.outcome_progress.len()),
        ("check_in.attendees", c.attendees.len()),
    ] {
        if len > MAX_PARSED {
            v.add(field, format!("at most {MAX_PARSED} entries"));
        }
    }
    v.into_result()?;
    let mut v = Violations::new();
    let time = v.check("check_in.check_in_time", instant(c.check_in_time.as_ref()));
    let progress = each(
        &mut v,
        "check_in.outcome_progress",
        &c.outcome_progress,
        |v, f, p: &pb::OutcomeProgress| {
            let id = v.check(format!("{f}.outcome_id"), identifier(&p.outcome_id, MAX_ID));
            let status = v.check(
                format!("{f}.status"),
                optional::<pb::OutcomeStatus, OutcomeStatus>(p.status),
            );
            let note = v.check(format!("{f}.note"), optional_text(&p.note, MAX_STATUS_NOTE));
            Some(ProgressInput {
                outcome_id: id?,
                progress_percent: p.progress_percent,
                status: status?,
                note: note?,
            })
        },
    );
    let notes = v.check("check_in.notes", optional_text(&c.notes, MAX_NOTES));
    let channel = v.check(
        "check_in.channel",
        optional::<pb::CheckInChannel, CheckInChannel>(c.channel),
    );
    let attendees = each(&mut v, "check_in.attendees", &c.attendees, |v, f, a| {
        contact(v, f, Some(a))
    });
    let (time, progress, notes, channel, attendees) =
        v.values((time, progress, notes, channel, attendees))?;
    Ok(CheckInInput {
        check_in_time: time,
        satisfaction: c.satisfaction,
        outcome_progress: progress,
        notes,
        channel,
        attendees,
    })
}

/// An optional instant, in microseconds.
///
/// # Errors
/// "not a valid timestamp" when out of range.
pub fn instant(t: Option<&prost_types::Timestamp>) -> Result<Option<i64>, String> {
    let Some(t) = t else { return Ok(None) };
    if !(0..1_000_000_000).contains(&t.nanos) || !(0..=253_402_300_799).contains(&t.seconds) {
        return Err("not a valid timestamp".to_owned());
    }
    Ok(Some(t.seconds * 1_000_000 + i64::from(t.nanos / 1000)))
}

/// PostOperationsUpdate's update, posted on `account`.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field (`operations_update.…`).
pub fn operations_update(
    account: &AccountId,
    u: Option<&pb::OperationsUpdate>,
) -> Result<OperationsUpdateInput, Problem> {
    const U: &str = "operations_update";
    let Some(u) = u else {
        return Err(Problem::invalid(U, "required"));
    };
    if u.measurements.len() > MAX_PARSED {
        return Err(Problem::invalid(
            format!("{U}.measurements"),
            format!("at most {MAX_PARSED} entries"),
        ));
    }
    let mut v = Violations::new();
    let kind = v.check(
        format!("{U}.kind"),
        required::<pb::OperationsUpdateKind, OperationsUpdateKind>(u.kind),
    );
    let severity = v.check(
        format!("{U}.severity"),
        optional::<pb::Severity, Severity>(u.severity),
    );
    let title = v.check(format!("{U}.title"), required_text(&u.title, MAX_TITLE));
    let body = v.check(format!("{U}.body"), optional_text(&u.body, MAX_NOTES));
    let occur = v.check(format!("{U}.occur_time"), instant(u.occur_time.as_ref()));
    let measurements = each(
        &mut v,
        &format!("{U}.measurements"),
        &u.measurements,
        |v, f, m: &pb::Measurement| {
            let metric = v.check(format!("{f}.metric"), required_text(&m.metric, MAX_TITLE));
            let unit = v.check(format!("{f}.unit"), optional_text(&m.unit, MAX_ID));
            Some(Measurement {
                metric: metric?,
                value: m.value,
                unit: unit?,
                target: m.target,
                target_met: m.target_met,
            })
        },
    );
    let resolves = if u.resolves.is_empty() {
        Some(None)
    } else {
        match child_name(
            &format!("{U}.resolves"),
            &u.resolves,
            "operationsUpdates",
            OperationsUpdateId::parse,
        ) {
            Ok((a, id)) if &a == account => Some(Some(id)),
            Ok(_) => {
                v.add(
                    format!("{U}.resolves"),
                    "must name an operations update of the same account",
                );
                None
            }
            Err(_) => {
                v.add(
                    format!("{U}.resolves"),
                    "must be accounts/{account}/operationsUpdates/{operations_update}",
                );
                None
            }
        }
    };
    let obligation = v.check(
        format!("{U}.obligation_id"),
        optional_text(&u.obligation_id, MAX_ID),
    );
    let external = v.check(
        format!("{U}.external_ref"),
        optional_text(&u.external_ref, MAX_RESOURCE_NAME),
    );
    let (kind, severity, title, body, occur, measurements, resolves, obligation, external) = v
        .values((
            kind,
            severity,
            title,
            body,
            occur,
            measurements,
            resolves,
            obligation,
            external,
        ))?;
    Ok(OperationsUpdateInput {
        kind,
        severity,
        title,
        body,
        occur_time: occur,
        measurements,
        resolves,
        obligation_id: obligation,
        external_ref: external,
    })
}

/// The filters of ListOperationsUpdates and ListSalespersonFeed, added to `v`.
pub fn update_filter(
    v: &mut Violations,
    kinds: &[i32],
    minimum_severity: i32,
    open_issues_only: bool,
    since_time: Option<&prost_types::Timestamp>,
) -> Option<UpdateFilter> {
    let mut parsed = Some(Vec::new());
    for (i, k) in kinds.iter().enumerate() {
        match required::<pb::OperationsUpdateKind, OperationsUpdateKind>(*k) {
            Ok(k) => {
                if let Some(list) = parsed.as_mut()
                    && !list.contains(&k)
                {
                    list.push(k);
                }
            }
            Err(e) => {
                v.add(format!("kinds[{i}]"), e);
                parsed = None;
            }
        }
    }
    let min = v.check(
        "minimum_severity",
        optional::<pb::Severity, Severity>(minimum_severity),
    );
    let since = v.check("since_time", instant(since_time));
    Some(UpdateFilter {
        kinds: parsed?,
        minimum_severity: min?,
        open_issues_only,
        since_time: since?,
    })
}

/// A stable description of `f`, for page-token fingerprints.
pub fn update_filter_fingerprint(scope: &str, f: &UpdateFilter) -> u64 {
    let kinds: Vec<&str> = f.kinds.iter().map(|k| k.code()).collect();
    closeloop_kit::paging::fingerprint(&[
        scope,
        &kinds.join(","),
        f.minimum_severity.map_or("", Severity::code),
        if f.open_issues_only { "open" } else { "" },
        &f.since_time.map(|t| t.to_string()).unwrap_or_default(),
    ])
}

/// IdentifyExpansion's expansion.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field (`expansion.…`).
pub fn expansion(e: Option<&pb::Expansion>) -> Result<ExpansionInput, Problem> {
    const E: &str = "expansion";
    let Some(e) = e else {
        return Err(Problem::invalid(E, "required"));
    };
    let mut v = Violations::new();
    let kind = v.check(
        format!("{E}.kind"),
        required::<pb::ExpansionKind, ExpansionKind>(e.kind),
    );
    let estimated = match e.estimated_value.as_ref() {
        None => Some(None),
        Some(m) => v.check(format!("{E}.estimated_value"), money(Some(m)).map(Some)),
    };
    let close = v.check(
        format!("{E}.expected_close_date"),
        optional_date(e.expected_close_date.as_ref()),
    );
    let renews = if e.renews_contract.is_empty() {
        Some(None)
    } else {
        resource(
            &mut v,
            &format!("{E}.renews_contract"),
            &e.renews_contract,
            "contracts",
            true,
        )
        .map(Some)
    };
    let prior = match e.prior_contract_value.as_ref() {
        None => Some(None),
        Some(m) => v.check(
            format!("{E}.prior_contract_value"),
            money(Some(m)).map(Some),
        ),
    };
    let (kind, estimated, close, renews, prior) =
        v.values((kind, estimated, close, renews, prior))?;
    Ok(ExpansionInput {
        kind,
        title: e.title.clone(),
        description: e.description.clone(),
        estimated_value: estimated,
        expected_close_date: close,
        renews_contract: renews,
        prior_contract_value: prior,
        owner: (!e.owner.is_empty()).then(|| e.owner.clone()),
    })
}

/// RecordReferral's referral.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field (`referral.…`).
pub fn referral(r: Option<&pb::Referral>) -> Result<ReferralInput, Problem> {
    const F: &str = "referral";
    let Some(r) = r else {
        return Err(Problem::invalid(F, "required"));
    };
    let mut v = Violations::new();
    let company = match r.referred_company.as_ref() {
        None => {
            v.add(format!("{F}.referred_company"), "required");
            None
        }
        Some(p) => Some(Party {
            account_id: p.account_id.clone(),
            display_name: p.display_name.clone(),
        }),
    };
    let contact = match r.contact.as_ref() {
        None => {
            v.add(format!("{F}.contact"), "required");
            None
        }
        Some(c) => {
            let email = if c.email.is_empty() {
                Some(None)
            } else {
                v.check(
                    format!("{F}.contact.email"),
                    Email::parse(&c.email).map(Some),
                )
            };
            email.map(|email| Contact {
                display_name: c.display_name.clone(),
                email,
                phone: c.phone.clone(),
                title: c.title.clone(),
            })
        }
    };
    let role = match closeloop_proto::opportunities::v1::StakeholderRole::try_from(r.contact_role) {
        Ok(role) => match crate::owes::stakeholder_role_of(role) {
            Some(role) => Some(role),
            None => {
                v.add(
                    format!("{F}.contact_role"),
                    "required: the opportunity's primary stakeholder needs a role",
                );
                None
            }
        },
        Err(_) => {
            v.add(
                format!("{F}.contact_role"),
                format!("unknown value {}", r.contact_role),
            );
            None
        }
    };
    let close = v.check(
        format!("{F}.expected_close_date"),
        optional_date(r.expected_close_date.as_ref()),
    );
    let (company, contact, role, close) = v.values((company, contact, role, close))?;
    Ok(ReferralInput {
        referred_company: company,
        contact,
        contact_role: role,
        title: r.title.clone(),
        notes: r.notes.clone(),
        owner: (!r.owner.is_empty()).then(|| r.owner.clone()),
        expected_close_date: close,
    })
}
