//! The contracts-and-payments service: a won deal becomes a signed contract, an order, invoices
//! and collected payments; failed payments are followed up.
//!
//! [`SERVICE`] is all the host needs: the service's name, port, gRPC services, settings
//! section, schema, the peer it owes calls to, and how its routes are built.

#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod domain;
pub mod owes;
pub mod store;

use closeloop_kit::host::{Context, HostError, ServiceDef};
use closeloop_kit::outbox::Peer;
use closeloop_kit::paging::PageTokens;
use closeloop_proto::contracts::v1::contract_service_server::ContractServiceServer;
use closeloop_proto::contracts::v1::payment_service_server::PaymentServiceServer;
use tonic::service::Routes;

use crate::app::App;
use crate::domain::policy::Policy;
use crate::store::Store;

/// The service's name.
pub const NAME: &str = "contracts-payments";

/// The gRPC services this process serves.
pub const GRPC_SERVICES: &[&str] = &[
    "closeloop.contracts.v1.ContractService",
    "closeloop.contracts.v1.PaymentService",
];

/// The contracts-and-payments service, as the host runs it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: NAME,
    port: 50052,
    grpc: GRPC_SERVICES,
    defaults: DEFAULTS,
    check_settings: |settings| {
        let policy: Policy = settings.section()?;
        policy.validate().map_err(HostError::Settings)
    },
    migrations: store::MIGRATIONS,
    peers: &[Peer {
        name: "handoff",
        services: &["closeloop.handoff.v1.HandoffService"],
    }],
    routes: |context| Box::pin(routes(context)),
};

/// `[contracts_payments]`: the collection and contract rules, by default.
const DEFAULTS: &str = r#"
[contracts_payments]
dunning_retry_days = [1, 3, 7]
reminder_days = 1
escalated_days = 15
suspended_days = 30
contract_expiry_days = 30
default_payment_terms_days = 30
"#;

async fn routes(context: Context) -> Result<Routes, HostError> {
    let policy: Policy = context.settings()?;
    let pages = PageTokens::load(context.db()).await?;
    let app = App {
        store: Store::new(context.db().clone()),
        policy,
        outbox: context.outbox(),
        clock: context.clock(),
        // The subject of the tokens the service itself sends (ServiceDef::service_name).
        service_subject: format!("closeloop-{NAME}"),
    };
    let max = context.max_message_bytes();
    let api = api::Api::new(app, pages, max);
    let contracts = ContractServiceServer::new(api.clone())
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    let payments = PaymentServiceServer::new(api)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    Ok(Routes::new(contracts).add_service(payments))
}
