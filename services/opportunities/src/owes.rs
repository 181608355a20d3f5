//! What the opportunities service owes other services: a won opportunity owes the contracts
//! service a `CreateContract` with a snapshot of the deal. The kit's outbox delivers it.

use closeloop_kit::convert::{date_to_proto, money_to_proto};
use closeloop_kit::outbox::Owed;
use closeloop_kit::types::Money;
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as contracts;

use crate::domain::opportunity::{Kind, Opportunity};

/// The method called when an opportunity is won.
pub const CREATE_CONTRACT: &str = "closeloop.contracts.v1.ContractService/CreateContract";

/// The call a won opportunity owes. Its `request_id` is the command's id, so the contracts
/// service applies it once however often it is delivered.
pub fn create_contract(o: &Opportunity) -> Owed {
    let money = |minor: i64| Some(money_to_proto(Money::new(o.currency, minor)));
    let snapshot = contracts::OpportunitySnapshot {
        opportunity: o.name(),
        account: Some(common::Party {
            account_id: o.account.account_id.clone(),
            display_name: o.account.display_name.clone(),
        }),
        owner: o.owner.clone(),
        title: o.title.clone(),
        kind: match o.kind {
            Kind::NewBusiness => contracts::DealKind::NewBusiness,
            Kind::Expansion => contracts::DealKind::Expansion,
            Kind::Renewal => contracts::DealKind::Renewal,
        } as i32,
        line_items: o
            .line_items
            .iter()
            .map(|li| contracts::SnapshotLineItem {
                product_id: li.product_id.clone(),
                product_name: li.product_name.clone(),
                quantity: li.quantity,
                list_unit_price: money(li.list_unit),
                sold_unit_price: money(li.sold_unit),
                unit_cost: money(li.unit_cost),
            })
            .collect(),
        amount: money(o.amount()),
        close_date: o.close.as_ref().map(|c| date_to_proto(c.close_date)),
        prior_contract_value: o.prior_contract_value.and_then(money),
    };
    Owed::call(CREATE_CONTRACT, |request_id| {
        contracts::CreateContractRequest {
            contract: Some(contracts::Contract {
                opportunity_snapshot: Some(snapshot),
                title: o.title.clone(),
                ..Default::default()
            }),
            request_id: request_id.to_owned(),
        }
    })
}
