//! What an accepted handoff owes account-management: everything its `OpenAccount` needs, in the
//! domain's words ([`OpenAccount`]), so the app builds the request without reading the handoff
//! again, and the request id the call is deduplicated by ([`Handoff::open_account_request_id`]).
//!
//! From the handoff, as accounts.proto's OpenAccountRequest lists it: the customer, the handoff,
//! the account manager and salesperson; the contract with its value, dates, term and renewal from
//! the snapshot; the goals as outcomes; the obligations both ways (deliverables as COMPANY
//! DELIVERABLE, client obligations as CLIENT with their own kind, installments as CLIENT PAYMENT
//! with their amount, verbal commitments as COMPANY COMMITMENT); the stakeholders and support
//! contacts as contacts; the needs and the notes.

use closeloop_kit::Problem;
use closeloop_kit::types::Money;
use time::Date;

use super::handoff::Handoff;
use super::limits::{ACCOUNT_GOAL, ACCOUNT_OBLIGATION, cut};
use super::vocabulary::{
    AccountContactRole, Contact, HandoffStatus, ObligationKind, ObligationParty, ObligationStatus,
    Party, StakeholderRole, SupportContactKind,
};

/// The account OpenAccount asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAccount {
    /// The request's `request_id`, derived from the handoff: the same on every delivery.
    pub request_id: String,
    /// `handoffs/{handoff}`: account-management also dedupes by it.
    pub handoff: String,
    pub customer: Party,
    pub account_manager: String,
    pub salesperson: String,
    /// The relationship's first day: the contract's start date.
    pub start_date: Date,
    /// `contracts[0]`.
    pub contract: ContractReference,
    pub outcomes: Vec<Outcome>,
    pub obligations: Vec<Obligation>,
    pub contacts: Vec<AccountContact>,
    pub needs: Vec<String>,
    /// The salesperson's notes to the account team.
    pub notes: String,
}

/// The contract as the account knows it, all from the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractReference {
    /// `contracts/{contract}`.
    pub contract: String,
    /// `opportunities/{opportunity}`.
    pub opportunity: String,
    pub value: Money,
    pub start_date: Date,
    pub end_date: Date,
    pub term_months: i32,
    pub auto_renew: bool,
    /// Expected gross margin in basis points from the line items' prices and costs; 0 (unknown)
    /// when there are no line items, one has no unit cost, or the margin is not positive.
    pub gross_margin_bps: i32,
    pub title: String,
}

/// A goal as the account's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The goal's description, cut to [`ACCOUNT_GOAL`] bytes.
    pub goal: String,
    /// The descriptions of its success criteria.
    pub success_criteria: Vec<String>,
    pub target_date: Option<Date>,
}

/// An obligation, either way, as the account tracks it.
#[derive(Debug, Clone, PartialEq)]
pub struct Obligation {
    pub party: ObligationParty,
    pub kind: ObligationKind,
    /// Cut to [`ACCOUNT_OBLIGATION`] bytes.
    pub description: String,
    pub due_date: Option<Date>,
    /// Set for payments.
    pub amount: Option<Money>,
    /// `contracts/{contract}` for what the contract states; empty for verbal commitments, made
    /// outside the contract.
    pub contract: String,
    /// The item's id in the contract; empty for verbal commitments, which have none.
    pub external_id: String,
    pub status: ObligationStatus,
}

/// A client person as the account records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountContact {
    pub contact: Contact,
    pub role: AccountContactRole,
    /// The primary stakeholder only.
    pub primary: bool,
}

/// The account's contact role of a stakeholder. The opportunity's buying roles have no exact
/// counterpart on the account: the economic buyer decides on purchases (DECISION_MAKER), the
/// technical evaluator is the technical counterpart (TECHNICAL), a user uses what we deliver
/// (USER); champions and influencers are OTHER.
pub fn stakeholder_contact_role(role: StakeholderRole) -> AccountContactRole {
    match role {
        StakeholderRole::DecisionMaker | StakeholderRole::EconomicBuyer => {
            AccountContactRole::DecisionMaker
        }
        StakeholderRole::TechnicalEvaluator => AccountContactRole::Technical,
        StakeholderRole::User => AccountContactRole::User,
        StakeholderRole::Champion | StakeholderRole::Influencer => AccountContactRole::Other,
    }
}

/// The account's contact role of a support contact: the same kinds where the account has them,
/// OTHER for escalation and other contacts.
pub fn support_contact_role(kind: SupportContactKind) -> AccountContactRole {
    match kind {
        SupportContactKind::DayToDay => AccountContactRole::DayToDay,
        SupportContactKind::Billing => AccountContactRole::Billing,
        SupportContactKind::Technical => AccountContactRole::Technical,
        SupportContactKind::ExecutiveSponsor => AccountContactRole::ExecutiveSponsor,
        SupportContactKind::Escalation | SupportContactKind::Other => AccountContactRole::Other,
    }
}

/// Gross margin in basis points of the line items: (price - cost) / price. 0 when it cannot be
/// told (no line items, a unit cost missing, no revenue) or is not positive, since the account
/// reads 0 as "unknown, use the configured default". Computed in checked i128.
fn gross_margin_bps(h: &Handoff) -> i32 {
    let items = &h.snapshot.line_items;
    if items.is_empty() {
        return 0;
    }
    let totals = items
        .iter()
        .try_fold((0i128, 0i128), |(revenue, cost), li| {
            let line_cost = i128::from(li.unit_cost?.minor).checked_mul(i128::from(li.quantity))?;
            Some((
                revenue.checked_add(i128::from(li.amount.minor))?,
                cost.checked_add(line_cost)?,
            ))
        });
    let Some((revenue, cost)) = totals else {
        return 0;
    };
    if revenue <= 0 || cost >= revenue {
        return 0;
    }
    revenue
        .checked_sub(cost)
        .and_then(|margin| margin.checked_mul(10_000))
        .and_then(|m| m.checked_div(revenue))
        .and_then(|bps| i32::try_from(bps).ok())
        .unwrap_or(0)
}

/// "{description} — {details}", or the description alone.
fn need_text(description: &str, details: &str) -> String {
    if details.trim().is_empty() {
        description.to_owned()
    } else {
        format!("{description} — {details}")
    }
}

impl Handoff {
    /// The `request_id` of the OpenAccount this handoff owes: `open-account-{handoff id}`, the
    /// same on every delivery and retry, so account-management applies it once.
    pub fn open_account_request_id(&self) -> String {
        format!("open-account-{}", self.id)
    }

    /// What OpenAccount needs, gathered from an ACCEPTED handoff. Texts longer than the
    /// account accepts are cut at a character boundary ([`ACCOUNT_GOAL`],
    /// [`ACCOUNT_OBLIGATION`]), since an accepted handoff cannot be corrected and a refused call
    /// would leave the customer without an account. An installment without a description is
    /// described by its due date ("Payment due 2026-02-01"), the account requiring one.
    ///
    /// # Errors
    /// FAILED_PRECONDITION gate "status" unless ACCEPTED.
    pub fn open_account(&self) -> Result<OpenAccount, Problem> {
        let Some(account_manager) = self
            .account_manager
            .clone()
            .filter(|_| self.status == HandoffStatus::Accepted)
        else {
            return Err(Problem::gate(
                "status",
                "status",
                format!(
                    "the handoff is {}; the account is opened once it is ACCEPTED",
                    self.status.code()
                ),
            ));
        };
        let s = &self.snapshot;
        let contract = ContractReference {
            contract: s.contract.clone(),
            opportunity: s.opportunity.clone(),
            value: s.contract_value,
            start_date: s.start_date,
            end_date: s.end_date,
            term_months: s.term_months,
            auto_renew: s.auto_renew,
            gross_margin_bps: gross_margin_bps(self),
            title: s.title.clone(),
        };
        let outcomes = self
            .goals
            .iter()
            .map(|g| Outcome {
                goal: cut(&g.description, ACCOUNT_GOAL).to_owned(),
                success_criteria: g
                    .success_criteria
                    .iter()
                    .map(|c| c.description.clone())
                    .collect(),
                target_date: g.target_date,
            })
            .collect();

        let describe = |text: &str| cut(text, ACCOUNT_OBLIGATION).to_owned();
        let mut obligations = Vec::new();
        for d in &s.deliverables {
            obligations.push(Obligation {
                party: ObligationParty::Company,
                kind: ObligationKind::Deliverable,
                description: describe(&d.description),
                due_date: Some(d.due_date),
                amount: None,
                contract: s.contract.clone(),
                external_id: d.id.clone(),
                status: d.status,
            });
        }
        for o in &s.client_obligations {
            obligations.push(Obligation {
                party: ObligationParty::Client,
                kind: o.kind.into(),
                description: describe(&o.description),
                due_date: o.due_date,
                amount: None,
                contract: s.contract.clone(),
                external_id: o.id.clone(),
                status: o.status,
            });
        }
        for i in &s.payment_schedule {
            let description = if i.description.trim().is_empty() {
                format!("Payment due {}", i.due_date)
            } else {
                describe(&i.description)
            };
            obligations.push(Obligation {
                party: ObligationParty::Client,
                kind: ObligationKind::Payment,
                description,
                due_date: Some(i.due_date),
                amount: Some(i.amount),
                contract: s.contract.clone(),
                external_id: i.id.clone(),
                status: ObligationStatus::Pending,
            });
        }
        for c in &self.verbal_commitments {
            obligations.push(Obligation {
                party: ObligationParty::Company,
                kind: ObligationKind::Commitment,
                description: describe(&c.description),
                due_date: c.due_date,
                amount: None,
                contract: String::new(),
                external_id: String::new(),
                status: ObligationStatus::Pending,
            });
        }

        let contacts = self
            .stakeholders
            .iter()
            .map(|st| AccountContact {
                contact: st.contact.clone(),
                role: stakeholder_contact_role(st.role),
                primary: st.primary,
            })
            .chain(self.support_contacts.iter().map(|sc| AccountContact {
                contact: sc.contact.clone(),
                role: support_contact_role(sc.kind),
                primary: false,
            }))
            .collect();

        Ok(OpenAccount {
            request_id: self.open_account_request_id(),
            handoff: self.name(),
            customer: s.account.clone(),
            account_manager,
            salesperson: self.salesperson.clone(),
            start_date: s.start_date,
            contract,
            outcomes,
            obligations,
            contacts,
            needs: self
                .customer_needs
                .iter()
                .map(|n| need_text(&n.description, &n.details))
                .collect(),
            notes: self.notes.clone(),
        })
    }
}
