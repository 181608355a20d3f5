//! Requests into domain values: every field checked, every bad field named at once
//! (INVALID_ARGUMENT with one violation per field), before anything is written. Texts are
//! bounded by the handoff's limits ([`crate::domain::limits`]).

use closeloop_kit::convert::{date, money, optional_date};
use closeloop_kit::types::{Email, identifier, optional_text, required_text};
use closeloop_kit::{Problem, Violations};
use closeloop_proto::common::v1 as common;
use closeloop_proto::handoff::v1 as pb;

use super::enums::{optional, required};
use crate::domain::edit::{Field, GoalInput, MilestoneInput, Patch, StepInput};
use crate::domain::handoff::{
    Attendee, CustomerNeed, Stakeholder, SuccessCriterion, SupportContact, VerbalCommitment,
};
use crate::domain::lifecycle::{IntroductionDone, IntroductionPlan, check_attendees};
use crate::domain::limits::{
    MAX_COMMITMENT, MAX_DESCRIPTION, MAX_GOAL, MAX_ID, MAX_NOTE, MAX_NOTES, MAX_PHONE, MAX_REASONS,
    MAX_TITLE,
};
use crate::domain::snapshot::{
    ClientObligation, ContractDeliverable, ContractLineItem, ContractSigner, ContractSnapshot,
    PaymentInstallment,
};
use crate::domain::vocabulary::{
    ClientObligationKind, Contact, HandoffId, IntroductionKind, ObligationStatus,
    OnboardingStepStatus, Party, PartySide, StakeholderRole, SupportContactKind,
};

/// Domain field names and their names in the requests. The domain already names the request's
/// paths (`contract_snapshot.term_months`, `handoff.goals[1]`, `reasons`, `note`, ...), so
/// nothing is renamed today; a field the domain names differently goes here.
pub const FIELDS: &[(&str, &str)] = &[];

/// Domain resource names and their proto type names.
pub const RESOURCES: &[(&str, &str)] = &[
    ("handoff", "closeloop.handoff.v1.Handoff"),
    ("onboarding_step", "closeloop.handoff.v1.OnboardingStep"),
];

/// The paths UpdateHandoff's `update_mask` may name (`*` stands for all of them).
pub const UPDATABLE: &[&str] = &[
    "customer_needs",
    "goals",
    "verbal_commitments",
    "no_verbal_commitments",
    "stakeholders",
    "delivery_timeline",
    "support_contacts",
    "onboarding_plan",
    "notes",
    "account_manager",
    "salesperson",
    "account_manager_notes",
];

const ID_TEXT: &str = "1 to 128 characters, no control characters";

fn bad_name(field: &str, pattern: &str) -> Problem {
    Problem::invalid(field, format!("must be {pattern}"))
}

/// Parses `handoffs/{handoff}`.
///
/// # Errors
/// INVALID_ARGUMENT on `field` when malformed.
pub fn handoff_id(field: &str, name: &str) -> Result<HandoffId, Problem> {
    name.strip_prefix("handoffs/")
        .and_then(|id| HandoffId::parse(id).ok())
        .ok_or_else(|| bad_name(field, "handoffs/{handoff}"))
}

/// Whether `name` is `{collection}/{id}` followed by `{sub}/{id}` pairs as `parts` says.
fn resource_name(name: &str, parts: &[&str]) -> bool {
    let segments: Vec<&str> = name.split('/').collect();
    segments.len() == parts.len() * 2
        && parts
            .iter()
            .enumerate()
            .all(|(i, p)| segments[2 * i] == *p && closeloop_kit::ids::is_id(segments[2 * i + 1]))
}

/// `contracts/{contract}`.
pub fn is_contract(name: &str) -> bool {
    resource_name(name, &["contracts"])
}

/// `contracts/{contract}/orders/{order}`.
pub fn is_order(name: &str) -> bool {
    resource_name(name, &["contracts", "orders"])
}

/// `opportunities/{opportunity}`.
pub fn is_opportunity(name: &str) -> bool {
    resource_name(name, &["opportunities"])
}

/// An optional filter value: empty means none.
///
/// # Errors
/// The description of a malformed value.
pub fn filter_value(s: &str) -> Result<Option<String>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    identifier(s, MAX_ID).map(Some).map_err(|_| ID_TEXT.into())
}

/// An optional resource-name filter: empty means none.
///
/// # Errors
/// "must be {pattern}" when malformed.
pub fn filter_name(
    s: &str,
    valid: fn(&str) -> bool,
    pattern: &str,
) -> Result<Option<String>, String> {
    if s.is_empty() {
        Ok(None)
    } else if valid(s) {
        Ok(Some(s.to_owned()))
    } else {
        Err(format!("must be {pattern}"))
    }
}

/// An optional instant, in microseconds.
///
/// # Errors
/// "not a valid timestamp" when out of range.
pub fn instant(t: Option<&prost_types::Timestamp>) -> Result<Option<i64>, String> {
    let Some(t) = t else { return Ok(None) };
    if !(0..1_000_000_000).contains(&t.nanos) || !(0..=253_402_300_799).contains(&t.seconds) {
        return Err("not a valid timestamp".into());
    }
    Ok(Some(t.seconds * 1_000_000 + i64::from(t.nanos / 1000)))
}

fn required_instant(t: Option<&prost_types::Timestamp>) -> Result<i64, String> {
    instant(t)?.ok_or_else(|| "required".to_owned())
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

/// A person; `email_required` where the using message says "`email` required".
fn contact(
    v: &mut Violations,
    field: &str,
    c: Option<&common::Contact>,
    email_required: bool,
) -> Option<Contact> {
    let Some(c) = c else {
        v.add(field, "required");
        return None;
    };
    let display_name = v.check(
        format!("{field}.display_name"),
        required_text(&c.display_name, MAX_TITLE),
    );
    let email = if c.email.is_empty() && !email_required {
        Some(None)
    } else if c.email.is_empty() {
        v.add(format!("{field}.email"), "required");
        None
    } else {
        v.check(format!("{field}.email"), Email::parse(&c.email))
            .map(Some)
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

/// An optional id naming an existing part (goal, milestone, step): empty means a new part.
fn part_id(v: &mut Violations, field: &str, id: &str) -> Option<Option<String>> {
    if id.is_empty() {
        return Some(None);
    }
    v.check(field, identifier(id, MAX_ID)).map(Some)
}

/// A required amount (its currency and sign are the snapshot's rules: [`ContractSnapshot::validate`]).
fn amount(
    v: &mut Violations,
    field: String,
    m: Option<&common::Money>,
) -> Option<closeloop_kit::types::Money> {
    v.check(field, money(m))
}

/// Parses the contract snapshot of StartHandoff. What only the whole snapshot can tell (the
/// currencies, the sums, the term against the dates, ids unique) is
/// [`ContractSnapshot::validate`]'s.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field under `contract_snapshot`.
pub fn snapshot(s: Option<&pb::ContractSnapshot>) -> Result<ContractSnapshot, Problem> {
    const P: &str = "contract_snapshot";
    let Some(s) = s else {
        return Err(Problem::invalid(P, "required"));
    };
    let mut v = Violations::new();
    let name = |v: &mut Violations, field: &str, value: &str, ok: bool, pattern: &str| {
        if ok {
            Some(value.to_owned())
        } else {
            v.add(format!("{P}.{field}"), format!("must be {pattern}"));
            None
        }
    };
    let contract = name(
        &mut v,
        "contract",
        &s.contract,
        is_contract(&s.contract),
        "contracts/{contract}",
    );
    let order = name(
        &mut v,
        "order",
        &s.order,
        is_order(&s.order),
        "contracts/{contract}/orders/{order}",
    );
    let opportunity = name(
        &mut v,
        "opportunity",
        &s.opportunity,
        is_opportunity(&s.opportunity),
        "opportunities/{opportunity}",
    );
    let account = party(&mut v, &format!("{P}.account"), s.account.as_ref());
    let salesperson = v.check(
        format!("{P}.salesperson"),
        identifier(&s.salesperson, MAX_ID),
    );
    let title = v.check(format!("{P}.title"), optional_text(&s.title, MAX_TITLE));
    let contract_value = amount(
        &mut v,
        format!("{P}.contract_value"),
        s.contract_value.as_ref(),
    );
    let start_date = v.check(format!("{P}.start_date"), date(s.start_date.as_ref()));
    let end_date = v.check(format!("{P}.end_date"), date(s.end_date.as_ref()));
    let order_time = v.check(
        format!("{P}.order_time"),
        required_instant(s.order_time.as_ref()),
    );

    let mut deliverables = Vec::new();
    for (i, d) in s.deliverables.iter().enumerate() {
        let f = format!("{P}.deliverables[{i}]");
        let id = v.check(
            format!("{f}.deliverable_id"),
            identifier(&d.deliverable_id, MAX_ID),
        );
        let description = v.check(
            format!("{f}.description"),
            required_text(&d.description, MAX_DESCRIPTION),
        );
        let due_date = v.check(format!("{f}.due_date"), date(d.due_date.as_ref()));
        let status = v.check(
            format!("{f}.status"),
            optional::<common::ObligationStatus, ObligationStatus>(d.status),
        );
        if let (Some(id), Some(description), Some(due_date), Some(status)) =
            (id, description, due_date, status)
        {
            deliverables.push(ContractDeliverable {
                id,
                description,
                due_date,
                status: status.unwrap_or(ObligationStatus::Pending),
            });
        }
    }
    let mut client_obligations = Vec::new();
    for (i, o) in s.client_obligations.iter().enumerate() {
        let f = format!("{P}.client_obligations[{i}]");
        let id = v.check(
            format!("{f}.obligation_id"),
            identifier(&o.obligation_id, MAX_ID),
        );
        let kind = v.check(
            format!("{f}.kind"),
            required::<common::ObligationKind, ClientObligationKind>(o.kind).map_err(|e| {
                if e.starts_with("value") {
                    "a client obligation is ACCESS, COMMUNICATION, DATA, RESOURCES, APPROVAL or \
                     OTHER, as on the contract"
                        .to_owned()
                } else {
                    e
                }
            }),
        );
        let description = v.check(
            format!("{f}.description"),
            required_text(&o.description, MAX_DESCRIPTION),
        );
        let due_date = v.check(format!("{f}.due_date"), optional_date(o.due_date.as_ref()));
        let status = v.check(
            format!("{f}.status"),
            optional::<common::ObligationStatus, ObligationStatus>(o.status),
        );
        if let (Some(id), Some(kind), Some(description), Some(due_date), Some(status)) =
            (id, kind, description, due_date, status)
        {
            client_obligations.push(ClientObligation {
                id,
                kind,
                description,
                due_date,
                status: status.unwrap_or(ObligationStatus::Pending),
            });
        }
    }
    let mut payment_schedule = Vec::new();
    for (i, x) in s.payment_schedule.iter().enumerate() {
        let f = format!("{P}.payment_schedule[{i}]");
        let id = v.check(
            format!("{f}.installment_id"),
            identifier(&x.installment_id, MAX_ID),
        );
        let amount = amount(&mut v, format!("{f}.amount"), x.amount.as_ref());
        let due_date = v.check(format!("{f}.due_date"), date(x.due_date.as_ref()));
        let invoice =
            if x.invoice.is_empty() || resource_name(&x.invoice, &["contracts", "invoices"]) {
                Some(x.invoice.clone())
            } else {
                v.add(
                    format!("{f}.invoice"),
                    "must be contracts/{contract}/invoices/{invoice}",
                );
                None
            };
        let description = v.check(
            format!("{f}.description"),
            optional_text(&x.description, MAX_DESCRIPTION),
        );
        if let (Some(id), Some(amount), Some(due_date), Some(invoice), Some(description)) =
            (id, amount, due_date, invoice, description)
        {
            payment_schedule.push(PaymentInstallment {
                id,
                amount,
                due_date,
                invoice,
                description,
            });
        }
    }
    let mut line_items = Vec::new();
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
        let unit_price = amount(&mut v, format!("{f}.unit_price"), li.unit_price.as_ref());
        let unit_cost = match &li.unit_cost {
            None => Some(None),
            Some(m) => amount(&mut v, format!("{f}.unit_cost"), Some(m)).map(Some),
        };
        let line_amount = amount(&mut v, format!("{f}.amount"), li.amount.as_ref());
        if let (Some(product_id), Some(product_name), Some(unit_price), Some(unit_cost), Some(a)) =
            (product_id, product_name, unit_price, unit_cost, line_amount)
        {
            line_items.push(ContractLineItem {
                product_id,
                product_name,
                quantity: li.quantity,
                unit_price,
                unit_cost,
                amount: a,
            });
        }
    }
    let mut signers = Vec::new();
    for (i, x) in s.signers.iter().enumerate() {
        let f = format!("{P}.signers[{i}]");
        let contact = contact(&mut v, &format!("{f}.contact"), x.contact.as_ref(), true);
        let side = v.check(
            format!("{f}.side"),
            required::<pb::PartySide, PartySide>(x.side),
        );
        let sign_time = v.check(format!("{f}.sign_time"), instant(x.sign_time.as_ref()));
        if let (Some(contact), Some(side), Some(sign_time)) = (contact, side, sign_time) {
            signers.push(ContractSigner {
                contact,
                side,
                sign_time,
            });
        }
    }
    let (
        contract,
        order,
        opportunity,
        account,
        salesperson,
        title,
        contract_value,
        start_date,
        end_date,
        order_time,
    ) = v.values((
        contract,
        order,
        opportunity,
        account,
        salesperson,
        title,
        contract_value,
        start_date,
        end_date,
        order_time,
    ))?;
    Ok(ContractSnapshot {
        contract,
        order,
        opportunity,
        account,
        salesperson,
        title,
        contract_value,
        start_date,
        end_date,
        term_months: s.term_months,
        auto_renew: s.auto_renew,
        payment_terms_days: s.payment_terms_days,
        deliverables,
        client_obligations,
        payment_schedule,
        line_items,
        signers,
        order_time,
    })
}

/// The fields an UpdateHandoff names: its mask's paths, `*` for all of them.
///
/// # Errors
/// INVALID_ARGUMENT on `update_mask` for a missing mask or a path that cannot be updated.
pub fn fields(mask: Option<&prost_types::FieldMask>) -> Result<Vec<Field>, Problem> {
    let paths = closeloop_kit::convert::update_mask(mask, UPDATABLE)?;
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        let field = Field::from_code(p)
            .ok_or_else(|| Problem::internal(format!("updatable path {p} has no field")))?;
        if !out.contains(&field) {
            out.push(field);
        }
    }
    Ok(out)
}

/// The new values of `fields`, from the request's `handoff`.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad value under `handoff.`.
pub fn patch(h: &pb::Handoff, fields: &[Field]) -> Result<Patch, Problem> {
    const H: &str = "handoff";
    let mut v = Violations::new();
    let mut p = Patch::default();
    for field in fields {
        match field {
            Field::CustomerNeeds => {
                let mut list = Vec::new();
                for (i, n) in h.customer_needs.iter().enumerate() {
                    let f = format!("{H}.customer_needs[{i}]");
                    let description = v.check(
                        format!("{f}.description"),
                        required_text(&n.description, MAX_DESCRIPTION),
                    );
                    let details =
                        v.check(format!("{f}.details"), optional_text(&n.details, MAX_NOTE));
                    if let (Some(description), Some(details)) = (description, details) {
                        list.push(CustomerNeed {
                            description,
                            details,
                        });
                    }
                }
                p.customer_needs = Some(list);
            }
            Field::Goals => {
                let mut list = Vec::new();
                for (i, g) in h.goals.iter().enumerate() {
                    let f = format!("{H}.goals[{i}]");
                    let id = part_id(&mut v, &format!("{f}.goal_id"), &g.goal_id);
                    let description = v.check(
                        format!("{f}.description"),
                        required_text(&g.description, MAX_GOAL),
                    );
                    let mut criteria = Vec::new();
                    for (j, c) in g.success_criteria.iter().enumerate() {
                        let cf = format!("{f}.success_criteria[{j}]");
                        let description = v.check(
                            format!("{cf}.description"),
                            required_text(&c.description, MAX_DESCRIPTION),
                        );
                        let target_date = v.check(
                            format!("{cf}.target_date"),
                            optional_date(c.target_date.as_ref()),
                        );
                        if let (Some(description), Some(target_date)) = (description, target_date) {
                            criteria.push(SuccessCriterion {
                                description,
                                target_date,
                            });
                        }
                    }
                    let target_date = v.check(
                        format!("{f}.target_date"),
                        optional_date(g.target_date.as_ref()),
                    );
                    if let (Some(id), Some(description), Some(target_date)) =
                        (id, description, target_date)
                    {
                        list.push(GoalInput {
                            id,
                            description,
                            success_criteria: criteria,
                            target_date,
                        });
                    }
                }
                p.goals = Some(list);
            }
            Field::VerbalCommitments => {
                let mut list = Vec::new();
                for (i, c) in h.verbal_commitments.iter().enumerate() {
                    let f = format!("{H}.verbal_commitments[{i}]");
                    let description = v.check(
                        format!("{f}.description"),
                        required_text(&c.description, MAX_COMMITMENT),
                    );
                    let by = contact(
                        &mut v,
                        &format!("{f}.promised_by"),
                        c.promised_by.as_ref(),
                        false,
                    );
                    let to = contact(
                        &mut v,
                        &format!("{f}.promised_to"),
                        c.promised_to.as_ref(),
                        false,
                    );
                    let promise_date = v.check(
                        format!("{f}.promise_date"),
                        optional_date(c.promise_date.as_ref()),
                    );
                    let due_date =
                        v.check(format!("{f}.due_date"), optional_date(c.due_date.as_ref()));
                    let notes = v.check(format!("{f}.notes"), optional_text(&c.notes, MAX_NOTE));
                    if let (
                        Some(description),
                        Some(promised_by),
                        Some(promised_to),
                        Some(promise_date),
                        Some(due_date),
                        Some(notes),
                    ) = (description, by, to, promise_date, due_date, notes)
                    {
                        list.push(VerbalCommitment {
                            description,
                            promised_by,
                            promised_to,
                            promise_date,
                            due_date,
                            notes,
                        });
                    }
                }
                p.verbal_commitments = Some(list);
            }
            Field::NoVerbalCommitments => p.no_verbal_commitments = Some(h.no_verbal_commitments),
            Field::Stakeholders => {
                let mut list = Vec::new();
                for (i, s) in h.stakeholders.iter().enumerate() {
                    let f = format!("{H}.stakeholders[{i}]");
                    let person = contact(&mut v, &format!("{f}.contact"), s.contact.as_ref(), true);
                    let role = v.check(
                        format!("{f}.role"),
                        required::<pb::StakeholderRole, StakeholderRole>(s.role),
                    );
                    if let (Some(contact), Some(role)) = (person, role) {
                        list.push(Stakeholder {
                            contact,
                            role,
                            primary: s.primary,
                        });
                    }
                }
                p.stakeholders = Some(list);
            }
            Field::DeliveryTimeline => {
                let mut list = Vec::new();
                for (i, m) in h.delivery_timeline.iter().enumerate() {
                    let f = format!("{H}.delivery_timeline[{i}]");
                    let id = part_id(&mut v, &format!("{f}.milestone_id"), &m.milestone_id);
                    let title = v.check(format!("{f}.title"), required_text(&m.title, MAX_TITLE));
                    let due_date = v.check(format!("{f}.due_date"), date(m.due_date.as_ref()));
                    let description = v.check(
                        format!("{f}.description"),
                        optional_text(&m.description, MAX_NOTE),
                    );
                    let mut ids = Some(Vec::with_capacity(m.deliverable_ids.len()));
                    for (j, d) in m.deliverable_ids.iter().enumerate() {
                        match v.check(format!("{f}.deliverable_ids[{j}]"), identifier(d, MAX_ID)) {
                            Some(d) => {
                                if let Some(ids) = ids.as_mut() {
                                    ids.push(d);
                                }
                            }
                            None => ids = None,
                        }
                    }
                    if let (Some(id), Some(title), Some(due_date), Some(description), Some(ids)) =
                        (id, title, due_date, description, ids)
                    {
                        list.push(MilestoneInput {
                            id,
                            title,
                            due_date,
                            description,
                            deliverable_ids: ids,
                        });
                    }
                }
                p.delivery_timeline = Some(list);
            }
            Field::SupportContacts => {
                let mut list = Vec::new();
                for (i, c) in h.support_contacts.iter().enumerate() {
                    let f = format!("{H}.support_contacts[{i}]");
                    let kind = v.check(
                        format!("{f}.kind"),
                        required::<pb::SupportContactKind, SupportContactKind>(c.kind),
                    );
                    let person = contact(&mut v, &format!("{f}.contact"), c.contact.as_ref(), true);
                    let notes = v.check(format!("{f}.notes"), optional_text(&c.notes, MAX_NOTE));
                    if kind == Some(SupportContactKind::Other)
                        && notes.as_ref().is_some_and(String::is_empty)
                    {
                        v.add(
                            format!("{f}.notes"),
                            "required for kind OTHER: say what the contact is for",
                        );
                    }
                    if let (Some(kind), Some(contact), Some(notes)) = (kind, person, notes) {
                        list.push(SupportContact {
                            kind,
                            contact,
                            notes,
                        });
                    }
                }
                p.support_contacts = Some(list);
            }
            Field::OnboardingPlan => {
                let mut list = Vec::new();
                for (i, s) in h.onboarding_plan.iter().enumerate() {
                    let f = format!("{H}.onboarding_plan[{i}]");
                    let id = part_id(&mut v, &format!("{f}.step_id"), &s.step_id);
                    let title = v.check(format!("{f}.title"), required_text(&s.title, MAX_TITLE));
                    let description = v.check(
                        format!("{f}.description"),
                        optional_text(&s.description, MAX_NOTE),
                    );
                    let owner = if s.owner.is_empty() {
                        Some(None)
                    } else {
                        v.check(format!("{f}.owner"), identifier(&s.owner, MAX_ID))
                            .map(Some)
                    };
                    let client_contact = match &s.client_contact {
                        None => Some(None),
                        Some(c) => contact(&mut v, &format!("{f}.client_contact"), Some(c), false)
                            .map(Some),
                    };
                    let due_date =
                        v.check(format!("{f}.due_date"), optional_date(s.due_date.as_ref()));
                    let status = v.check(
                        format!("{f}.status"),
                        optional::<pb::OnboardingStepStatus, OnboardingStepStatus>(s.status),
                    );
                    let status_note = v.check(
                        format!("{f}.status_note"),
                        optional_text(&s.status_note, MAX_NOTE),
                    );
                    if let (
                        Some(id),
                        Some(title),
                        Some(description),
                        Some(owner),
                        Some(client_contact),
                        Some(due_date),
                        Some(status),
                        Some(status_note),
                    ) = (
                        id,
                        title,
                        description,
                        owner,
                        client_contact,
                        due_date,
                        status,
                        status_note,
                    ) {
                        list.push(StepInput {
                            id,
                            title,
                            description,
                            owner,
                            client_contact,
                            due_date,
                            status,
                            status_note,
                        });
                    }
                }
                p.onboarding_plan = Some(list);
            }
            Field::Notes => {
                p.notes = v.check(format!("{H}.notes"), optional_text(&h.notes, MAX_NOTES));
            }
            Field::AccountManager => {
                p.account_manager = v.check(
                    format!("{H}.account_manager"),
                    identifier(&h.account_manager, MAX_ID),
                );
            }
            Field::Salesperson => {
                p.salesperson = v.check(
                    format!("{H}.salesperson"),
                    identifier(&h.salesperson, MAX_ID),
                );
            }
            Field::AccountManagerNotes => {
                p.account_manager_notes = v.check(
                    format!("{H}.account_manager_notes"),
                    optional_text(&h.account_manager_notes, MAX_NOTES),
                );
            }
        }
    }
    v.finish(|| p)
}

/// The attendees of an introduction, each with a name, an email and a side.
fn attendees(v: &mut Violations, list: &[pb::IntroductionAttendee]) -> Option<Vec<Attendee>> {
    let mut out = Some(Vec::with_capacity(list.len()));
    for (i, a) in list.iter().enumerate() {
        let f = format!("attendees[{i}]");
        let person = contact(v, &format!("{f}.contact"), a.contact.as_ref(), true);
        let side = v.check(
            format!("{f}.side"),
            required::<pb::PartySide, PartySide>(a.side),
        );
        let subject = if a.subject.is_empty() {
            Some(String::new())
        } else {
            v.check(format!("{f}.subject"), identifier(&a.subject, MAX_ID))
        };
        match (person, side, subject) {
            (Some(contact), Some(side), Some(subject)) => {
                if let Some(out) = out.as_mut() {
                    out.push(Attendee {
                        contact,
                        side,
                        subject,
                    });
                }
            }
            _ => out = None,
        }
    }
    out
}

/// Records the domain's refusal of attendees (sides, count) with the others.
fn check_sides(v: &mut Violations, list: &[Attendee]) {
    if let Err(Problem::InvalidArgument(found)) = check_attendees("attendees", list) {
        for f in found {
            v.add(f.field, f.description);
        }
    }
}

/// ScheduleIntroduction's plan.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field.
pub fn plan(r: &pb::ScheduleIntroductionRequest) -> Result<IntroductionPlan, Problem> {
    let mut v = Violations::new();
    let kind = v.check(
        "kind",
        required::<pb::IntroductionKind, IntroductionKind>(r.kind),
    );
    let schedule_time = v.check("schedule_time", required_instant(r.schedule_time.as_ref()));
    let people = attendees(&mut v, &r.attendees);
    if let Some(people) = &people {
        check_sides(&mut v, people);
    }
    let location = v.check("location", optional_text(&r.location, MAX_NOTE));
    let notes = v.check("notes", optional_text(&r.notes, MAX_NOTES));
    let (kind, schedule_time, attendees, location, notes) =
        v.values((kind, schedule_time, people, location, notes))?;
    Ok(IntroductionPlan {
        kind,
        schedule_time,
        attendees,
        location,
        notes,
    })
}

/// CompleteIntroduction's record. Whether `kind` and `attendees` are required (an introduction
/// that was not scheduled) depends on the handoff: the domain checks it.
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field.
pub fn done(r: &pb::CompleteIntroductionRequest) -> Result<IntroductionDone, Problem> {
    let mut v = Violations::new();
    let complete_time = v.check("complete_time", instant(r.complete_time.as_ref()));
    let notes = v.check("notes", optional_text(&r.notes, MAX_NOTES));
    let people = attendees(&mut v, &r.attendees);
    if let Some(people) = people.as_ref().filter(|p| !p.is_empty()) {
        check_sides(&mut v, people);
    }
    let kind = v.check(
        "kind",
        optional::<pb::IntroductionKind, IntroductionKind>(r.kind),
    );
    let (complete_time, notes, attendees, kind) = v.values((complete_time, notes, people, kind))?;
    Ok(IntroductionDone {
        complete_time,
        notes,
        attendees,
        kind,
    })
}

/// RejectHandoff's reasons: 1 to 20, each 1 to 1000 characters.
///
/// # Errors
/// INVALID_ARGUMENT on `reasons` or `reasons[i]`.
pub fn reasons(list: &[String]) -> Result<Vec<String>, Problem> {
    let mut v = Violations::new();
    if list.is_empty() || list.len() > MAX_REASONS {
        v.add(
            "reasons",
            format!("1 to {MAX_REASONS} reasons are required"),
        );
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        if let Some(r) = v.check(format!("reasons[{i}]"), required_text(r, MAX_DESCRIPTION)) {
            out.push(r);
        }
    }
    v.finish(|| out)
}

/// UpdateOnboardingStepStatus's values: the step, its new status, the note (required for
/// BLOCKED and SKIPPED).
///
/// # Errors
/// INVALID_ARGUMENT naming every bad field.
pub fn step_status(
    r: &pb::UpdateOnboardingStepStatusRequest,
) -> Result<(String, OnboardingStepStatus, String), Problem> {
    let mut v = Violations::new();
    let step = v.check("step_id", identifier(&r.step_id, MAX_ID));
    let status = v.check(
        "status",
        required::<pb::OnboardingStepStatus, OnboardingStepStatus>(r.status),
    );
    let note = v.check("note", optional_text(&r.note, MAX_NOTE));
    if let (Some(status), Some(note)) = (status, &note)
        && status.needs_note()
        && note.is_empty()
    {
        v.add("note", format!("required for status {}", status.code()));
    }
    v.values((step, status, note))
}

/// AssignAccountManager's account manager, a token subject.
///
/// # Errors
/// INVALID_ARGUMENT on `account_manager`.
pub fn account_manager(s: &str) -> Result<String, Problem> {
    identifier(s, MAX_ID).map_err(|e| Problem::invalid("account_manager", e))
}
