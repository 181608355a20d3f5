//! The words of contracts and payments: ids, who acted, the customer, and every status and kind a
//! contract, an invoice, a payment attempt and a follow-up can have.

use closeloop_kit::types::Email;
use closeloop_kit::{codes, resource_id};

resource_id!(
    /// A contract's id, the `{contract}` of `contracts/{contract}`.
    pub struct ContractId("contract")
);
resource_id!(
    /// An order's id, the `{order}` of `contracts/{contract}/orders/{order}`.
    pub struct OrderId("order")
);
resource_id!(
    /// An invoice's id, the `{invoice}` of `contracts/{contract}/invoices/{invoice}`.
    pub struct InvoiceId("invoice")
);
resource_id!(
    /// A payment attempt's id.
    pub struct AttemptId("payment attempt")
);
resource_id!(
    /// A follow-up's id, the `{follow_up}` of `followUps/{follow_up}`.
    pub struct FollowUpId("follow-up")
);

/// Who did something: the kit's, one record for every service.
pub use closeloop_kit::Actor;

/// The customer company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Party {
    pub account_id: String,
    pub display_name: String,
}

/// A person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub display_name: String,
    /// Empty while a draft lacks it (a sending blocker).
    pub email: Option<Email>,
    pub phone: String,
    pub title: String,
}

codes! {
    /// What kind of business the deal brought.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum DealKind { NewBusiness = "NEW_BUSINESS", Expansion = "EXPANSION", Renewal = "RENEWAL" }
}

codes! {
    /// Where a contract stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ContractStatus {
        Draft = "DRAFT",
        Sent = "SENT",
        Signed = "SIGNED",
        Active = "ACTIVE",
        Completed = "COMPLETED",
        Terminated = "TERMINATED",
        Declined = "DECLINED",
        Voided = "VOIDED",
        Expired = "EXPIRED",
    }
}

impl ContractStatus {
    /// Whether nothing moves it any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ContractStatus::Completed
                | ContractStatus::Terminated
                | ContractStatus::Declined
                | ContractStatus::Voided
                | ContractStatus::Expired
        )
    }

    /// Whether the contract was signed by everyone at some point.
    pub fn was_signed(self) -> bool {
        matches!(
            self,
            ContractStatus::Signed
                | ContractStatus::Active
                | ContractStatus::Completed
                | ContractStatus::Terminated
        )
    }
}

codes! {
    /// Progress of something the company provides.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum DeliverableStatus {
        Pending = "PENDING",
        InProgress = "IN_PROGRESS",
        Delivered = "DELIVERED",
        Accepted = "ACCEPTED",
        Cancelled = "CANCELLED",
    }
}

impl DeliverableStatus {
    /// Provided, accepted or called off: nothing more to do for it.
    pub fn is_done(self) -> bool {
        matches!(
            self,
            DeliverableStatus::Delivered
                | DeliverableStatus::Accepted
                | DeliverableStatus::Cancelled
        )
    }
}

codes! {
    /// Which party a signer signs for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SignerSide { Client = "CLIENT", Company = "COMPANY" }
}

codes! {
    /// Where one signer stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum SignerStatus { Pending = "PENDING", Signed = "SIGNED", Declined = "DECLINED" }
}

codes! {
    /// Why a contract ended early.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum TerminationReason {
        ClientRequest = "CLIENT_REQUEST",
        NonPayment = "NON_PAYMENT",
        ClientBreach = "CLIENT_BREACH",
        CompanyBreach = "COMPANY_BREACH",
        MutualAgreement = "MUTUAL_AGREEMENT",
        Other = "OTHER",
    }
}

codes! {
    /// Where an order stands (derived from its contract).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum OrderStatus {
        Placed = "PLACED",
        InFulfillment = "IN_FULFILLMENT",
        Fulfilled = "FULFILLED",
        Cancelled = "CANCELLED",
    }
}

codes! {
    /// What a client obligation is about (the client's kinds only).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ObligationKind {
        Access = "ACCESS",
        Communication = "COMMUNICATION",
        Data = "DATA",
        Resources = "RESOURCES",
        Approval = "APPROVAL",
        Other = "OTHER",
    }
}

codes! {
    /// How far a client obligation is met.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum ObligationStatus {
        Pending = "PENDING",
        InProgress = "IN_PROGRESS",
        AtRisk = "AT_RISK",
        Fulfilled = "FULFILLED",
        Missed = "MISSED",
        Waived = "WAIVED",
    }
}

codes! {
    /// Where an invoice stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum InvoiceStatus {
        Draft = "DRAFT",
        Open = "OPEN",
        Paid = "PAID",
        PastDue = "PAST_DUE",
        Uncollectible = "UNCOLLECTIBLE",
        Void = "VOID",
    }
}

codes! {
    /// Rungs of the overdue ladder, in increasing severity.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum OverdueLevel {
        None = "NONE",
        Reminder = "REMINDER",
        Escalated = "ESCALATED",
        Suspended = "SUSPENDED",
    }
}

codes! {
    /// The outcome of a payment attempt.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum PaymentResult { Succeeded = "SUCCEEDED", Failed = "FAILED" }
}

codes! {
    /// How a failed payment was declined.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum DeclineType { Soft = "SOFT", Hard = "HARD" }
}

codes! {
    /// Where an invoice's dunning stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum DunningStatus {
        None = "NONE",
        Retrying = "RETRYING",
        Exhausted = "EXHAUSTED",
        HardDeclined = "HARD_DECLINED",
        Ended = "ENDED",
    }
}

codes! {
    /// Where a follow-up stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum FollowUpStatus { Open = "OPEN", Resolved = "RESOLVED" }
}
