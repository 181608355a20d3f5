//! Who may do what to contracts, orders, invoices, payment attempts and follow-ups: one table
//! ([`Action::grant`]), as the proto writes it; the checks and refusals are the kit's.

use closeloop_kit::Role;
pub use closeloop_kit::access::{Scope, authorize, may, owners_for, require_role, scope};

/// What a caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// GetContract, ListContracts, GetOrder, ListOrders.
    ReadContracts,
    CreateContract,
    UpdateContract,
    /// SendContract, VoidContract.
    SendContract,
    SignContract,
    DeclineContract,
    PlaceOrder,
    CompleteContract,
    TerminateContract,
    UpdateDeliverable,
    UpdateObligation,
    /// GetInvoice, ListInvoices, GetPaymentAttempt, ListPaymentAttempts.
    ReadInvoices,
    RecordPayment,
    /// VoidInvoice, MarkInvoiceUncollectible.
    WriteOffInvoice,
    /// GetFollowUp, ListFollowUps.
    ReadFollowUps,
    ResolveFollowUp,
    ReadBalance,
    ReadPolicy,
}

impl Action {
    /// Every action, for tests that walk the whole table.
    pub const ALL: [Action; 18] = [
        Action::ReadContracts,
        Action::CreateContract,
        Action::UpdateContract,
        Action::SendContract,
        Action::SignContract,
        Action::DeclineContract,
        Action::PlaceOrder,
        Action::CompleteContract,
        Action::TerminateContract,
        Action::UpdateDeliverable,
        Action::UpdateObligation,
        Action::ReadInvoices,
        Action::RecordPayment,
        Action::WriteOffInvoice,
        Action::ReadFollowUps,
        Action::ResolveFollowUp,
        Action::ReadBalance,
        Action::ReadPolicy,
    ];
}

impl closeloop_kit::access::Action for Action {
    const RESOURCES: &'static str = "contracts";

    fn grant(self, role: Role) -> Scope {
        use Action::*;
        use Role::*;
        match (self, role) {
            (ReadContracts | ReadInvoices, SalesRep) => Scope::Own,
            (
                ReadContracts | ReadInvoices,
                SalesManager | Finance | AccountManager | Operations | Service,
            ) => Scope::All,
            (CreateContract, Service | SalesManager) => Scope::All,
            (UpdateContract, SalesRep) => Scope::Own,
            (UpdateContract, SalesManager | Finance) => Scope::All,
            (SendContract, SalesRep) => Scope::Own,
            (SendContract, SalesManager) => Scope::All,
            (SignContract, Service | SalesManager) => Scope::All,
            (DeclineContract, SalesRep) => Scope::Own,
            (DeclineContract, Service | SalesManager) => Scope::All,
            (PlaceOrder, SalesRep) => Scope::Own,
            (PlaceOrder, SalesManager | Operations) => Scope::All,
            (CompleteContract, SalesManager | AccountManager | Operations) => Scope::All,
            (TerminateContract, SalesManager | Finance | AccountManager) => Scope::All,
            (UpdateDeliverable, Operations | AccountManager | SalesManager) => Scope::All,
            (UpdateObligation, SalesRep) => Scope::Own,
            (UpdateObligation, AccountManager | Operations | SalesManager) => Scope::All,
            (RecordPayment, Finance | Service) => Scope::All,
            (WriteOffInvoice, Finance) => Scope::All,
            (ReadFollowUps | ResolveFollowUp, SalesRep) => Scope::Own,
            (ReadFollowUps, SalesManager | Finance | AccountManager) => Scope::All,
            (ResolveFollowUp, SalesManager | Finance) => Scope::All,
            (ReadBalance, SalesRep) => Scope::Own,
            (ReadBalance, Service | Finance | SalesManager | AccountManager) => Scope::All,
            (ReadPolicy, _) => Scope::All,
            _ => Scope::Nothing,
        }
    }

    fn verb(self) -> &'static str {
        use Action::*;
        match self {
            ReadContracts => "read",
            CreateContract => "create",
            UpdateContract => "update",
            SendContract => "send or void",
            SignContract => "record signatures on",
            DeclineContract => "decline",
            PlaceOrder => "place orders on",
            CompleteContract => "complete",
            TerminateContract => "terminate",
            UpdateDeliverable => "update deliverables of",
            UpdateObligation => "update client obligations of",
            ReadInvoices => "read invoices and payments of",
            RecordPayment => "record payments on",
            WriteOffInvoice => "void or write off invoices of",
            ReadFollowUps => "read payment follow-ups of",
            ResolveFollowUp => "resolve payment follow-ups of",
            ReadBalance => "read account balances of",
            ReadPolicy => "read the payment policy of",
        }
    }
}
