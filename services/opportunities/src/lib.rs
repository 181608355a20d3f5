//! The opportunities service: a sale from first contact to a distinct close (won, lost or
//! disqualified), its gates, forecast, win/loss and revenue mix.
//!
//! [`SERVICE`] is all the host needs: the service's name, port, gRPC service, settings section,
//! schema, the peer it owes calls to, and how its routes are built. Everything else (settings,
//! database, listener, health, reflection, layers, outbox relay, shutdown) is the kit's.

#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod domain;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod owes;
pub mod store;

use closeloop_kit::host::{Context, HostError, ServiceDef};
use closeloop_kit::outbox::Peer;
use closeloop_kit::paging::PageTokens;
use closeloop_proto::opportunities::v1::opportunity_service_server::OpportunityServiceServer;
use tonic::service::Routes;

use crate::app::App;
use crate::domain::policy::Policy;
use crate::store::Store;

/// The gRPC service this process serves.
pub const GRPC_SERVICE: &str = "closeloop.opportunities.v1.OpportunityService";

/// The opportunities service, as the host runs it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: "opportunities",
    port: 50051,
    grpc: &[GRPC_SERVICE],
    defaults: DEFAULTS,
    check_settings: |settings| {
        let policy: Policy = settings.section()?;
        policy.validate().map_err(HostError::Settings)
    },
    migrations: store::MIGRATIONS,
    peers: &[Peer {
        name: "contracts",
        services: &["closeloop.contracts.v1.ContractService"],
    }],
    routes: |context| Box::pin(routes(context)),
};

/// `[opportunities]`: the business rules, by default.
const DEFAULTS: &str = r#"
[opportunities]
margin_floor_bps = 2000
discount_approval_threshold_bps = 1000
prospecting_probability = 10
qualification_probability = 20
proposal_probability = 50
negotiation_probability = 80
"#;

async fn routes(context: Context) -> Result<Routes, HostError> {
    let policy: Policy = context.settings()?;
    let pages = PageTokens::load(context.db()).await?;
    let store = Store::new(context.db().clone(), policy.clone());
    let weighed = store.reweigh().await?;
    if weighed > 0 {
        tracing::info!(
            weighed,
            "weighed the stored opportunities with the configured stage probabilities"
        );
    }
    let app = App::new(store, policy, context.outbox());
    let max = context.max_message_bytes();
    let api = OpportunityServiceServer::new(api::Api::new(app, pages, max))
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    Ok(Routes::new(api))
}
