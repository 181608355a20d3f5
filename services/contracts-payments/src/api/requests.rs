//! Requests into domain values: every field checked, every bad field named at once
//! (INVALID_ARGUMENT with one violation per field), before anything is read or written.

use closeloop_kit::convert::{date, date_range, money, optional_date};
use closeloop_kit::types::{CurrencyCode, Email, identifier, optional_text, required_text};
use closeloop_kit::{Problem, Violations};
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as pb;

use super::enums::required;
use crate::domain::contract::{
    Draft, DraftDeliverable, DraftInstallment, DraftObligation, DraftSigner, DraftTerms, Snapshot,
    SnapshotLineItem,
};
use crate::domain::vocabulary::{
    Contact, ContractId, DealKind, InvoiceId, ObligationKind, OrderId, Party, SignerSide,
};

/// Longest identifier (account ids, subjects, product ids).
pub const MAX_ID: usize = 128;
/// Longest title.
pub const MAX_TITLE: usize = 200;
/// Longest description of a part.
pub const MAX_DESCRIPTION: usize = 1000;
/// Longest reason or note.
pub const MAX_NOTE: usize = 2000;
/// Longest contract notes.
pub const MAX_NOTES: usize = 10_000;
/// Longest URI or external reference.
pub const MAX_REFERENCE: usize = 2000;
/// Most line items a snapshot carries.
pub const MAX_LINE_ITEMS: usize = 200;

/// Domain resource names and their proto type names.
pub const RESOURCES: &[(&str, &str)] = &[
    ("contract", "closeloop.contracts.v1.Contract"),
    ("order", "closeloop.contracts.v1.Order"),
    ("invoice", "closeloop.contracts.v1.Invoice"),
    ("payment_attempt", "closeloop.contracts.v1.PaymentAttempt"),
    ("follow_up", "closeloop.contracts.v1.FollowUp"),
];

fn bad_name(field: &str, pattern: &str) -> Problem {
    Problem::invalid(field, format!("must be {pattern}"))
}

/// Parses `contracts/{id}`.
///
/// # Errors
/// INVALID_ARGUMENT on `field` when malformed.
pub fn contract_id(field: &str, name: &str) -> Result<ContractId, Problem> {
    name.strip_prefix("contracts/")
        .and_then(|id| ContractId::parse(id).ok())
        .ok_or_else(|| bad_name(field, "contracts/{contract}"))
}

/// Parses `contracts/{contract}/orders/{order}`.
///
/// # Errors
/// INVALID_ARGUMENT on `field` when malformed.
pub fn order_name(field: &str, name: &str) -> Result<(ContractId, OrderId), Problem> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["contracts", c, "orders", o] => match (ContractId::parse(c), OrderId::parse(o)) {
            (Ok(c), Ok(o)) => Ok((c, o)),
            _ => Err(bad_name(field, "contracts/{contract}/orders/{order}")),
        },
        _ => Err(bad_name(field, "contracts/{contract}/orders/{order}")),
    }
}

/// Parses `contracts/{contract}/invoices/{invoice}`.
///
/// # Errors
/// INVALID_ARGUMENT on `field` when malformed.
pub fn invoice_name(field: &str, name: &str) -> Result<(ContractId, InvoiceId), Problem> {
    let parts: Vec<&str> = name.split('/').collect();
    match parts.as_slice() {
        ["contracts", c, "invoices", i] => match (ContractId::parse(c), InvoiceId::parse(i)) {
            (Ok(c), Ok(i)) => Ok((c, i)),
            _ => Err(bad_name(field, "contracts/{contract}/invoices/{invoice}")),
        },
        _ => Err(bad_name(field, "contracts/{contract}/invoices/{invoice}")),
    }
}

/// Parses a listing's parent, `contracts/{contract}` or `contracts/-` (all: `None`).
///
/// # Errors
/// INVALID_ARGUMENT on `parent` when malformed.
pub fn parent(name: &str) -> Result<Option<ContractId>, Problem> {
    if name == "contracts/-" {
        Ok(None)
    } else {
        contract_id("parent", name)
            .map(Some)
            .map_err(|_| bad_name("parent", "contracts/{contract} or contracts/-"))
    }
}

/// An amount in `currency`, positive.
fn amount(
    v: &mut Violations,
    field: &str,
    m: Option<&common::Money>,
    currency: Option<CurrencyCode>,
) -> Option<i64> {
    let m = v.check(field, money(m))?;
    if let Some(c) = currency
        && m.currency != c
    {
        v.add(
            field,
            format!(
                "must be in {c}, the contract's currency, not {}",
                m.currency
            ),
        );
        return None;
    }
    if m.minor <= 0 {
        v.add(field, "must be positive");
        return None;
    }
    Some(m.minor)
}

/// An amount in `currency`, zero or more (unit costs and list prices may be zero).
fn non_negative(
    v: &mut Violations,
    field: &str,
    m: Option<&common::Money>,
    currency: CurrencyCode,
) -> Option<i64> {
    let m = v.check(field, money(m))?;
    if m.currency != currency {
        v.add(field, format!("must be in {currency}, the deal's currency"));
        return None;
    }
    if m.minor < 0 {
        v.add(field, "must not be negative");
        return None;
    }
    Some(m.minor)
}

/// Parses the won deal's snapshot; its amount's currency is the contract's.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field under `contract.opportunity_snapshot`.
pub fn snapshot(s: Option<&pb::OpportunitySnapshot>) -> Result<(Snapshot, CurrencyCode), Problem> {
    const P: &str = "contract.opportunity_snapshot";
    let Some(s) = s else {
        return Err(Problem::invalid(P, "required"));
    };
    let mut v = Violations::new();
    let opportunity = match s.opportunity.strip_prefix("opportunities/") {
        Some(id) if closeloop_kit::ids::is_id(id) => Some(s.opportunity.clone()),
        _ => {
            v.add(
                format!("{P}.opportunity"),
                "must be opportunities/{opportunity}",
            );
            None
        }
    };
    let account = party(&mut v, &format!("{P}.account"), s.account.as_ref());
    let owner = v.check(format!("{P}.owner"), identifier(&s.owner, MAX_ID));
    let title = v.check(format!("{P}.title"), required_text(&s.title, MAX_TITLE));
    let kind = v.check(
        format!("{P}.kind"),
        required::<pb::DealKind, DealKind>(s.kind),
    );
    let total = v.check(format!("{P}.amount"), money(s.amount.as_ref()));
    let currency = total.map(|m| m.currency);
    if total.is_some_and(|m| m.minor <= 0) {
        v.add(format!("{P}.amount"), "must be positive");
    }
    let close_date = v.check(format!("{P}.close_date"), date(s.close_date.as_ref()));
    let prior = match (&s.prior_contract_value, kind) {
        (Some(m), _) => currency
            .and_then(|c| non_negative(&mut v, &format!("{P}.prior_contract_value"), Some(m), c)),
        (None, Some(DealKind::Renewal)) => {
            v.add(format!("{P}.prior_contract_value"), "required for RENEWAL");
            None
        }
        (None, _) => None,
    };
    let mut line_items = Vec::new();
    if s.line_items.is_empty() {
        v.add(format!("{P}.line_items"), "at least one");
    } else if s.line_items.len() > MAX_LINE_ITEMS {
        v.add(
            format!("{P}.line_items"),
            format!("at most {MAX_LINE_ITEMS}"),
        );
    } else if let Some(c) = currency {
        for (i, li) in s.line_items.iter().enumerate() {
            let f = format!("{P}.line_items[{i}]");
            let product_id = v.check(
                format!("{f}.product_id"),
                identifier(&li.product_id, MAX_ID),
            );
            let product_name = v.check(
                format!("{f}.product_name"),
                required_text(&li.product_name, MAX_TITLE),
            );
            if li.quantity < 1 {
                v.add(format!("{f}.quantity"), "at least 1");
            }
            let list = non_negative(
                &mut v,
                &format!("{f}.list_unit_price"),
                li.list_unit_price.as_ref(),
                c,
            );
            let sold = non_negative(
                &mut v,
                &format!("{f}.sold_unit_price"),
                li.sold_unit_price.as_ref(),
                c,
            );
            let cost = non_negative(&mut v, &format!("{f}.unit_cost"), li.unit_cost.as_ref(), c);
            if let (
                Some(product_id),
                Some(product_name),
                Some(list_unit),
                Some(sold_unit),
                Some(unit_cost),
            ) = (product_id, product_name, list, sold, cost)
            {
                line_items.push(SnapshotLineItem {
                    product_id,
                    product_name,
                    quantity: li.quantity,
                    list_unit,
                    sold_unit,
                    unit_cost,
                });
            }
        }
    }
    let (opportunity, account, owner, title, kind, total, close_date) =
        v.values((opportunity, account, owner, title, kind, total, close_date))?;
    Ok((
        Snapshot {
            opportunity,
            account,
            owner,
            title,
            kind,
            line_items,
            amount: total.minor,
            close_date,
            prior_contract_value: prior,
        },
        total.currency,
    ))
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

fn contact(v: &mut Violations, field: &str, c: Option<&common::Contact>) -> Option<Contact> {
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
        v.check(format!("{field}.email"), Email::parse(&c.email))
            .map(Some)
    };
    let phone = v.check(format!("{field}.phone"), optional_text(&c.phone, MAX_TITLE));
    let title = v.check(format!("{field}.title"), optional_text(&c.title, MAX_TITLE));
    Some(Contact {
        display_name: display_name?,
        email: email?,
        phone: phone?,
        title: title?,
    })
}

fn part_id(v: &mut Violations, field: &str, id: &str, keep: bool) -> Option<Option<String>> {
    if !keep || id.is_empty() {
        return Some(None);
    }
    v.check(field, identifier(id, 64)).map(Some)
}

/// What an update may name: the proto's updatable paths.
pub const UPDATABLE: &[&str] = &[
    "title",
    "deliverables",
    "payment_schedule",
    "client_obligations",
    "terms",
    "terms.payment_terms_days",
    "terms.start_date",
    "terms.term_months",
    "terms.auto_renew",
    "terms.renewal_notice_days",
    "signers",
    "notes",
    "document_uri",
];

/// Parses a draft's content from `c`: every field (`paths` = `None`, CreateContract, where
/// unset fields keep their defaults) or the masked ones (UpdateContract, where part ids keep
/// existing parts). Amounts must be in `currency`.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field under `contract.`.
pub fn draft(
    c: &pb::Contract,
    paths: Option<&[&str]>,
    currency: CurrencyCode,
) -> Result<Draft, Problem> {
    let creating = paths.is_none();
    let wants = |path: &str| paths.is_none_or(|p| p.contains(&path));
    let mut v = Violations::new();
    let mut d = Draft::default();

    if wants("title") && (!creating || !c.title.is_empty()) {
        d.title = v.check("contract.title", required_text(&c.title, MAX_TITLE));
    }
    if wants("deliverables") && (!creating || !c.deliverables.is_empty()) {
        let mut list = Vec::new();
        for (i, x) in c.deliverables.iter().enumerate() {
            let f = format!("contract.deliverables[{i}]");
            let id = part_id(
                &mut v,
                &format!("{f}.deliverable_id"),
                &x.deliverable_id,
                !creating,
            );
            let description = v.check(
                format!("{f}.description"),
                required_text(&x.description, MAX_DESCRIPTION),
            );
            let due_date = v.check(format!("{f}.due_date"), optional_date(x.due_date.as_ref()));
            let product_id = v.check(
                format!("{f}.product_id"),
                optional_text(&x.product_id, MAX_ID),
            );
            if let (Some(id), Some(description), Some(due_date), Some(product_id)) =
                (id, description, due_date, product_id)
            {
                list.push(DraftDeliverable {
                    id,
                    description,
                    due_date,
                    product_id,
                });
            }
        }
        d.deliverables = Some(list);
    }
    if wants("payment_schedule") && (!creating || !c.payment_schedule.is_empty()) {
        let mut list = Vec::new();
        for (i, x) in c.payment_schedule.iter().enumerate() {
            let f = format!("contract.payment_schedule[{i}]");
            let id = part_id(
                &mut v,
                &format!("{f}.installment_id"),
                &x.installment_id,
                !creating,
            );
            let description = v.check(
                format!("{f}.description"),
                optional_text(&x.description, MAX_DESCRIPTION),
            );
            let amount = amount(
                &mut v,
                &format!("{f}.amount"),
                x.amount.as_ref(),
                Some(currency),
            );
            let due_date = v.check(format!("{f}.due_date"), date(x.due_date.as_ref()));
            let period = match &x.service_period {
                None => Some(None),
                Some(p) => v
                    .check(format!("{f}.service_period"), date_range(Some(p)))
                    .map(Some),
            };
            if let (
                Some(id),
                Some(description),
                Some(amount),
                Some(due_date),
                Some(service_period),
            ) = (id, description, amount, due_date, period)
            {
                list.push(DraftInstallment {
                    id,
                    description,
                    amount,
                    due_date,
                    service_period,
                });
            }
        }
        d.schedule = Some(list);
    }
    if wants("client_obligations") && (!creating || !c.client_obligations.is_empty()) {
        let mut list = Vec::new();
        for (i, x) in c.client_obligations.iter().enumerate() {
            let f = format!("contract.client_obligations[{i}]");
            let id = part_id(
                &mut v,
                &format!("{f}.obligation_id"),
                &x.obligation_id,
                !creating,
            );
            let kind = v.check(
                format!("{f}.kind"),
                required::<common::ObligationKind, ObligationKind>(x.kind).map_err(|e| {
                    if e.starts_with("value") {
                        "a client obligation is ACCESS, COMMUNICATION, DATA, RESOURCES, \
                         APPROVAL or OTHER: payments are the payment schedule, and what the \
                         company owes are deliverables"
                            .to_owned()
                    } else {
                        e
                    }
                }),
            );
            let description = v.check(
                format!("{f}.description"),
                required_text(&x.description, MAX_DESCRIPTION),
            );
            let due_date = v.check(format!("{f}.due_date"), optional_date(x.due_date.as_ref()));
            if let (Some(id), Some(kind), Some(description), Some(due_date)) =
                (id, kind, description, due_date)
            {
                list.push(DraftObligation {
                    id,
                    kind,
                    description,
                    due_date,
                });
            }
        }
        d.obligations = Some(list);
    }
    let whole_terms = wants("terms");
    let term_field = |name: &str| whole_terms || wants(&format!("terms.{name}"));
    if (creating && c.terms.is_some()) || (!creating && UPDATABLE[4..10].iter().any(|p| wants(p))) {
        let t = c.terms.unwrap_or_default();
        let mut terms = DraftTerms::default();
        if term_field("payment_terms_days") {
            if (0..=365).contains(&t.payment_terms_days) {
                terms.payment_terms_days = Some(t.payment_terms_days);
            } else {
                v.add("contract.terms.payment_terms_days", "0 to 365");
            }
        }
        if term_field("start_date") {
            terms.start_date = v.check(
                "contract.terms.start_date",
                optional_date(t.start_date.as_ref()),
            );
        }
        if term_field("term_months") {
            terms.term_months = match t.term_months {
                0 => Some(None),
                m if (1..=120).contains(&m) => Some(Some(m)),
                _ => {
                    v.add("contract.terms.term_months", "1 to 120 months");
                    None
                }
            };
        }
        if term_field("auto_renew") {
            terms.auto_renew = Some(t.auto_renew);
        }
        if term_field("renewal_notice_days") {
            if (0..=365).contains(&t.renewal_notice_days) {
                terms.renewal_notice_days = Some(t.renewal_notice_days);
            } else {
                v.add("contract.terms.renewal_notice_days", "0 to 365");
            }
        }
        d.terms = Some(terms);
    }
    if wants("signers") && (!creating || !c.signers.is_empty()) {
        let mut list = Vec::new();
        for (i, x) in c.signers.iter().enumerate() {
            let f = format!("contract.signers[{i}]");
            let id = part_id(&mut v, &format!("{f}.signer_id"), &x.signer_id, !creating);
            let side = v.check(
                format!("{f}.side"),
                required::<pb::SignerSide, SignerSide>(x.side),
            );
            let contact = contact(&mut v, &format!("{f}.contact"), x.contact.as_ref());
            let subject = v.check(format!("{f}.subject"), optional_text(&x.subject, MAX_ID));
            if let (Some(id), Some(side), Some(contact), Some(subject)) =
                (id, side, contact, subject)
            {
                list.push(DraftSigner {
                    id,
                    side,
                    contact,
                    subject,
                });
            }
        }
        d.signers = Some(list);
    }
    if wants("notes") {
        d.notes = v.check("contract.notes", optional_text(&c.notes, MAX_NOTES));
    }
    if wants("document_uri") {
        d.document_uri = v.check(
            "contract.document_uri",
            optional_text(&c.document_uri, MAX_REFERENCE),
        );
    }
    v.finish(|| d)
}

/// A required reason or note, 1 to 2000 characters.
///
/// # Errors
/// INVALID_ARGUMENT on `field`.
pub fn reason(field: &str, s: &str) -> Result<String, Problem> {
    required_text(s, MAX_NOTE).map_err(|e| Problem::invalid(field, e))
}

/// An optional note, up to 2000 characters.
///
/// # Errors
/// INVALID_ARGUMENT on `field`.
pub fn note(field: &str, s: &str) -> Result<String, Problem> {
    optional_text(s, MAX_NOTE).map_err(|e| Problem::invalid(field, e))
}

/// An optional external reference (envelope ids, signature references).
///
/// # Errors
/// INVALID_ARGUMENT on `field`.
pub fn reference(field: &str, s: &str) -> Result<String, Problem> {
    optional_text(s, MAX_REFERENCE).map_err(|e| Problem::invalid(field, e))
}

/// An optional instant, in microseconds.
///
/// # Errors
/// INVALID_ARGUMENT on `field` when out of range.
pub fn instant(field: &str, t: Option<&prost_types::Timestamp>) -> Result<Option<i64>, Problem> {
    let Some(t) = t else { return Ok(None) };
    if !(0..1_000_000_000).contains(&t.nanos) || !(0..=253_402_300_799).contains(&t.seconds) {
        return Err(Problem::invalid(field, "not a valid timestamp"));
    }
    Ok(Some(t.seconds * 1_000_000 + i64::from(t.nanos / 1000)))
}
