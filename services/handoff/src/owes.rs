//! What the handoff service owes other services: an accepted handoff owes account-management an
//! `OpenAccount` carrying everything the account starts from (the domain gathers it:
//! [`crate::domain::account_opening`]). The kit's outbox delivers it.

use closeloop_kit::Problem;
use closeloop_kit::convert::{date_to_proto, money_to_proto};
use closeloop_kit::outbox::Owed;
use closeloop_proto::accounts::v1 as accounts;
use closeloop_proto::common::v1 as common;

use crate::api::enums::wire;
use crate::domain::account_opening::OpenAccount;
use crate::domain::handoff::Handoff;
use crate::domain::vocabulary::{Contact, Party};

/// The method called when a handoff is accepted.
pub const OPEN_ACCOUNT: &str = "closeloop.accounts.v1.AccountService/OpenAccount";

fn party(p: &Party) -> common::Party {
    common::Party {
        account_id: p.account_id.clone(),
        display_name: p.display_name.clone(),
    }
}

fn contact(c: &Contact) -> common::Contact {
    common::Contact {
        display_name: c.display_name.clone(),
        email: c
            .email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        phone: c.phone.clone(),
        title: c.title.clone(),
    }
}

/// The OpenAccount request for what accepting `open` owes, under `request_id`.
pub fn open_account_request(open: &OpenAccount, request_id: &str) -> accounts::OpenAccountRequest {
    let c = &open.contract;
    let account = accounts::Account {
        customer: Some(party(&open.customer)),
        handoff: open.handoff.clone(),
        account_manager: open.account_manager.clone(),
        salesperson: open.salesperson.clone(),
        start_date: Some(date_to_proto(open.start_date)),
        contracts: vec![accounts::ContractReference {
            contract: c.contract.clone(),
            opportunity: c.opportunity.clone(),
            value: Some(money_to_proto(c.value)),
            start_date: Some(date_to_proto(c.start_date)),
            end_date: Some(date_to_proto(c.end_date)),
            term_months: c.term_months,
            auto_renew: c.auto_renew,
            gross_margin_bps: c.gross_margin_bps,
            title: c.title.clone(),
            ..Default::default()
        }],
        outcomes: open
            .outcomes
            .iter()
            .map(|o| accounts::Outcome {
                goal: o.goal.clone(),
                success_criteria: o.success_criteria.clone(),
                target_date: o.target_date.map(date_to_proto),
                ..Default::default()
            })
            .collect(),
        obligations: open
            .obligations
            .iter()
            .map(|o| accounts::Obligation {
                party: wire::<accounts::ObligationParty, _>(o.party),
                kind: wire::<common::ObligationKind, _>(o.kind),
                description: o.description.clone(),
                due_date: o.due_date.map(date_to_proto),
                amount: o.amount.map(money_to_proto),
                contract: o.contract.clone(),
                external_id: o.external_id.clone(),
                status: wire::<common::ObligationStatus, _>(o.status),
                ..Default::default()
            })
            .collect(),
        contacts: open
            .contacts
            .iter()
            .map(|a| accounts::AccountContact {
                contact: Some(contact(&a.contact)),
                role: wire::<accounts::ContactRole, _>(a.role),
                primary: a.primary,
            })
            .collect(),
        needs: open.needs.clone(),
        notes: open.notes.clone(),
        ..Default::default()
    };
    accounts::OpenAccountRequest {
        account: Some(account),
        request_id: request_id.to_owned(),
    }
}

/// The call an accepted handoff owes, under the id derived from the handoff
/// (`open-account-{handoff}`): the outbox command's id and the request's `request_id`, so
/// account-management applies it once however often it is delivered, and the handoff can owe it
/// only once.
///
/// # Errors
/// FAILED_PRECONDITION gate "status" unless the handoff is ACCEPTED.
pub fn open_account(h: &Handoff) -> Result<Owed, Problem> {
    let open = h.open_account()?;
    Ok(Owed::call_with_id(
        open.request_id.clone(),
        OPEN_ACCOUNT,
        |request_id| open_account_request(&open, request_id),
    ))
}
