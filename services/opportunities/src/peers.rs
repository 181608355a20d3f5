//! What the opportunities service owes other services, and how it is delivered: a won
//! opportunity owes the contracts service a `CreateContract` with a snapshot of the deal.

use std::time::Duration;

use closeloop_kit::client::{ServiceCredentials, is_retryable};
use closeloop_kit::convert::{date_to_proto, money_to_proto};
use closeloop_kit::outbox::{Command, Deliver, DeliveryError};
use closeloop_kit::types::Money;
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as contracts;
use closeloop_proto::contracts::v1::contract_service_client::ContractServiceClient;
use prost::Message;
use tonic::transport::Channel;

use crate::domain::opportunity::{Kind, Opportunity};

/// Outbox topic of the command sent when an opportunity is won.
pub const CREATE_CONTRACT: &str = "closeloop.contracts.v1.ContractService/CreateContract";

/// The command a won opportunity owes: `(command id, topic, encoded request)`. The command id is
/// also the request's `request_id`, so the contracts service applies it once.
pub fn create_contract_command(o: &Opportunity) -> (String, &'static str, Vec<u8>) {
    let id = uuid::Uuid::now_v7().to_string();
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
    let request = contracts::CreateContractRequest {
        contract: Some(contracts::Contract {
            opportunity_snapshot: Some(snapshot),
            title: o.title.clone(),
            ..Default::default()
        }),
        request_id: id.clone(),
    };
    (id, CREATE_CONTRACT, request.encode_to_vec())
}

/// Delivers outbox commands to the contracts service.
pub struct ContractsDelivery {
    client: ContractServiceClient<Channel>,
    credentials: ServiceCredentials,
    timeout: Duration,
}

impl ContractsDelivery {
    /// Delivers over `channel`, authenticating with `credentials`.
    pub fn new(channel: Channel, credentials: ServiceCredentials, timeout: Duration) -> Self {
        ContractsDelivery {
            client: ContractServiceClient::new(channel),
            credentials,
            timeout,
        }
    }
}

impl Deliver for ContractsDelivery {
    async fn deliver(&self, command: &Command) -> Result<(), DeliveryError> {
        if command.topic != CREATE_CONTRACT {
            return Err(DeliveryError::Retry(format!(
                "no delivery for topic {}",
                command.topic
            )));
        }
        let request = contracts::CreateContractRequest::decode(command.payload.as_slice())
            .map_err(|e| DeliveryError::Retry(format!("undecodable payload: {e}")))?;
        let mut request = tonic::Request::new(request);
        request.set_timeout(self.timeout);
        self.credentials.prepare(&mut request);
        match self.client.clone().create_contract(request).await {
            Ok(_) => Ok(()),
            // The contract exists already: the command was applied by an earlier delivery.
            Err(status) if status.code() == tonic::Code::AlreadyExists => Ok(()),
            Err(status) => {
                if !is_retryable(&status) {
                    tracing::error!(
                        code = ?status.code(),
                        message = status.message(),
                        "contracts refused CreateContract; retrying with backoff until fixed"
                    );
                }
                Err(DeliveryError::Retry(format!(
                    "{:?}: {}",
                    status.code(),
                    status.message()
                )))
            }
        }
    }
}
