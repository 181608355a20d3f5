//! A contract: what a won deal's snapshot became, what each side owes, who signs, and its order.
//! The rules of its life (drafting, sending, signing, the order, completion, termination) are in
//! [`super::lifecycle`]; what blocks sending and completing in [`super::gates`].

use closeloop_kit::Problem;
use closeloop_kit::types::CurrencyCode;
use time::Date;

use super::vocabulary::{
    Actor, Contact, ContractId, ContractStatus, DealKind, DeliverableStatus, InvoiceId,
    ObligationKind, ObligationStatus, OrderId, OrderStatus, Party, SignerSide, SignerStatus,
    TerminationReason,
};

/// The won opportunity as it was at its close. Immutable on the contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// `opportunities/{opportunity}`.
    pub opportunity: String,
    pub account: Party,
    /// The salesperson: owns the contract and its follow-ups.
    pub owner: String,
    pub title: String,
    pub kind: DealKind,
    pub line_items: Vec<SnapshotLineItem>,
    /// Minor units of the contract's currency.
    pub amount: i64,
    pub close_date: Date,
    pub prior_contract_value: Option<i64>,
}

/// A priced product as sold; amounts in minor units.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotLineItem {
    pub product_id: String,
    pub product_name: String,
    pub quantity: i64,
    pub list_unit: i64,
    pub sold_unit: i64,
    pub unit_cost: i64,
}

/// Something the company provides.
#[derive(Debug, Clone, PartialEq)]
pub struct Deliverable {
    pub id: String,
    pub description: String,
    pub due_date: Option<Date>,
    pub product_id: String,
    pub status: DeliverableStatus,
    pub status_note: String,
    pub status_updated_by: Option<Actor>,
    pub status_update_time: Option<i64>,
    /// When first DELIVERED (or ACCEPTED).
    pub deliver_time: Option<i64>,
}

/// One payment of the schedule; becomes an invoice when the order is placed.
#[derive(Debug, Clone, PartialEq)]
pub struct Installment {
    pub id: String,
    pub description: String,
    /// Minor units, positive.
    pub amount: i64,
    pub due_date: Date,
    pub service_period: Option<(Date, Date)>,
    /// Set when the order is placed.
    pub invoice: Option<InvoiceId>,
}

/// Something other than payment the client owes.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientObligation {
    pub id: String,
    pub kind: ObligationKind,
    pub description: String,
    pub due_date: Option<Date>,
    pub status: ObligationStatus,
    pub status_note: String,
    pub status_updated_by: Option<Actor>,
    pub status_update_time: Option<i64>,
}

/// Payment and duration terms.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Terms {
    /// 0 to 365.
    pub payment_terms_days: i32,
    pub start_date: Option<Date>,
    /// 1 to 120 when set.
    pub term_months: Option<i32>,
    pub auto_renew: bool,
    /// 0 to 365.
    pub renewal_notice_days: i32,
}

impl Terms {
    /// The term's last day, when start and length are both known.
    pub fn end_date(&self) -> Option<Date> {
        closeloop_kit::time::term_end(self.start_date?, self.term_months?)
    }
}

/// A person who signs for one side.
#[derive(Debug, Clone, PartialEq)]
pub struct Signer {
    pub id: String,
    pub side: SignerSide,
    pub contact: Contact,
    /// For COMPANY signers, their token subject (optional).
    pub subject: String,
    pub status: SignerStatus,
    /// As reported.
    pub sign_time: Option<i64>,
    pub signature_reference: String,
    /// Who recorded the signature or the refusal.
    pub recorded_by: Option<Actor>,
}

/// One status change; `from` is `None` for the creation entry.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub from: Option<ContractStatus>,
    pub to: ContractStatus,
    pub time: i64,
    pub actor: Actor,
    pub reason: String,
}

/// The order placed on a signed contract.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: OrderId,
    /// Human-readable, unique across orders.
    pub number: String,
    pub notes: String,
    pub placed_by: Actor,
    pub place_time: i64,
    /// When it last became FULFILLED; cleared if a deliverable is reopened.
    pub fulfill_time: Option<i64>,
    /// Set when the contract was terminated before the order was fulfilled.
    pub cancelled: bool,
    /// The invoices created with it, in due date order.
    pub invoices: Vec<InvoiceId>,
    /// The id of the StartHandoff command in the outbox.
    pub handoff_command: String,
    pub update_time: i64,
}

/// A contract, the aggregate every ContractService change loads and saves whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    pub id: ContractId,
    pub snapshot: Snapshot,
    /// Every amount on the contract and its invoices is in this currency.
    pub currency: CurrencyCode,
    pub title: String,
    pub status: ContractStatus,
    pub deliverables: Vec<Deliverable>,
    pub schedule: Vec<Installment>,
    pub obligations: Vec<ClientObligation>,
    pub terms: Terms,
    pub signers: Vec<Signer>,
    pub notes: String,
    pub document_uri: String,
    pub envelope_id: String,
    pub send_time: Option<i64>,
    pub expire_time: Option<i64>,
    pub sign_time: Option<i64>,
    pub activate_time: Option<i64>,
    pub close_time: Option<i64>,
    pub status_reason: String,
    pub termination_reason: Option<TerminationReason>,
    pub history: Vec<StatusChange>,
    pub order: Option<Order>,
    pub create_time: i64,
    pub update_time: i64,
    /// Optimistic concurrency: bumped by every save.
    pub version: i64,
    /// The next number for the id of a deliverable, installment, obligation or signer.
    pub next_part: u32,
}

/// The content of a draft, as CreateContract and UpdateContract give it: each part already
/// checked for values that are wrong whatever the rest says (the API's job); what only blocks
/// sending is left for the gates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Draft {
    pub title: Option<String>,
    pub deliverables: Option<Vec<DraftDeliverable>>,
    pub schedule: Option<Vec<DraftInstallment>>,
    pub obligations: Option<Vec<DraftObligation>>,
    pub terms: Option<DraftTerms>,
    pub signers: Option<Vec<DraftSigner>>,
    pub notes: Option<String>,
    pub document_uri: Option<String>,
}

/// A deliverable as a draft gives it; `id` keeps an existing one.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftDeliverable {
    pub id: Option<String>,
    pub description: String,
    pub due_date: Option<Date>,
    pub product_id: String,
}

/// An installment as a draft gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftInstallment {
    pub id: Option<String>,
    pub description: String,
    pub amount: i64,
    pub due_date: Date,
    pub service_period: Option<(Date, Date)>,
}

/// A client obligation as a draft gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftObligation {
    pub id: Option<String>,
    pub kind: ObligationKind,
    pub description: String,
    pub due_date: Option<Date>,
}

/// A signer as a draft gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct DraftSigner {
    pub id: Option<String>,
    pub side: SignerSide,
    pub contact: Contact,
    pub subject: String,
}

/// Terms as a draft gives them: each field `None` when the update leaves it alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DraftTerms {
    pub payment_terms_days: Option<i32>,
    pub start_date: Option<Option<Date>>,
    pub term_months: Option<Option<i32>>,
    pub auto_renew: Option<bool>,
    pub renewal_notice_days: Option<i32>,
}

impl Contract {
    /// `contracts/{id}`.
    pub fn name(&self) -> String {
        format!("contracts/{}", self.id)
    }

    /// The salesperson who owns the contract.
    pub fn owner(&self) -> &str {
        &self.snapshot.owner
    }

    /// The contract value, in minor units.
    pub fn value(&self) -> i64 {
        self.snapshot.amount
    }

    /// The entity tag clients send back: the stored version and the status, so it changes
    /// also when the contract expires, which is seen on read before anything stores it.
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
                "etag {etag} does not match the current {}: the contract changed; read it again",
                self.etag()
            )))
        }
    }

    /// Sum of the payment schedule (saturating: a sum past i64 cannot equal the value anyway).
    pub fn scheduled_total(&self) -> i64 {
        self.schedule
            .iter()
            .fold(0i64, |sum, i| sum.saturating_add(i.amount))
    }

    /// The order's status, derived from the deliverables and the contract.
    pub fn order_status(&self) -> Option<OrderStatus> {
        let order = self.order.as_ref()?;
        Some(if order.cancelled {
            OrderStatus::Cancelled
        } else if self.deliverables.iter().all(|d| d.status.is_done()) {
            OrderStatus::Fulfilled
        } else if self
            .deliverables
            .iter()
            .any(|d| d.status != DeliverableStatus::Pending)
        {
            OrderStatus::InFulfillment
        } else {
            OrderStatus::Placed
        })
    }

    /// `contracts/{id}/orders/{order}` once placed.
    pub fn order_name(&self) -> Option<String> {
        self.order
            .as_ref()
            .map(|o| format!("contracts/{}/orders/{}", self.id, o.id))
    }

    /// A new id for a part of the contract (deliverable, installment, obligation, signer).
    pub fn next_part_id(&mut self, prefix: &str) -> String {
        self.next_part += 1;
        format!("{prefix}-{}", self.next_part)
    }
}
