//! The handoff service: the bridge from the salesperson to the account team. A placed order's
//! contract snapshot becomes a handoff the salesperson completes, submits and the account team
//! accepts, which opens the account in account-management.
//!
//! [`SERVICE`] is all the host needs: the service's name, port, gRPC service, settings section,
//! schema, the peers it calls, and how its routes (and its background tasks: the prefill, the
//! follow-up of OpenAccount) are built.

#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod domain;
pub mod owes;
pub mod peers;
pub mod store;

use closeloop_kit::host::{Context, HostError, ServiceDef};
use closeloop_kit::outbox::Peer;
use closeloop_kit::paging::PageTokens;
use closeloop_proto::handoff::v1::handoff_service_server::HandoffServiceServer;
use tonic::service::Routes;

use crate::app::{App, Settings};
use crate::peers::{Accounts, Opportunities};
use crate::store::Store;

/// The service's name.
pub const NAME: &str = "handoff";

/// The gRPC services this process serves.
pub const GRPC_SERVICES: &[&str] = &["closeloop.handoff.v1.HandoffService"];

/// The handoff service, as the host runs it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: NAME,
    port: 50053,
    grpc: GRPC_SERVICES,
    defaults: DEFAULTS,
    check_settings: |settings| {
        let section: Settings = settings.section()?;
        section.validate().map_err(HostError::Settings)
    },
    migrations: store::MIGRATIONS,
    peers: &[
        // Read synchronously (GetOpportunity) to prefill stakeholders and goals.
        Peer {
            name: "opportunities",
            services: &["closeloop.opportunities.v1.OpportunityService"],
        },
        // Owed OpenAccount once a handoff is accepted, through the outbox; read (ListAccounts)
        // to learn which account it opened.
        Peer {
            name: "accounts",
            services: &["closeloop.accounts.v1.AccountService"],
        },
    ],
    routes: |context| Box::pin(routes(context)),
};

/// `[handoff]`: how often PENDING prefills are read again, how many attempts one read makes and
/// how long StartHandoff waits for it; how often delivered OpenAccount calls are followed up.
const DEFAULTS: &str = r#"
[handoff]
prefill_retry_ms = 10000
prefill_attempts = 2
prefill_wait_ms = 2000
account_follow_up_ms = 10000
"#;

async fn routes(context: Context) -> Result<Routes, HostError> {
    let settings: Settings = context.settings()?;
    let pages = PageTokens::load(context.db()).await?;
    let opportunities = context
        .peer("opportunities")?
        .map(|(channel, credentials)| {
            Opportunities::new(channel, credentials, settings.prefill_attempts)
        });
    let accounts = context
        .peer("accounts")?
        .map(|(channel, credentials)| Accounts::new(channel, credentials));
    let app = App {
        store: Store::new(context.db().clone()),
        outbox: context.outbox(),
        clock: context.clock(),
        opportunities,
        accounts,
        settings,
    };
    let prefills = app.clone();
    context.spawn_background(move |stop| prefills.run_prefills(stop));
    let follow_ups = app.clone();
    context.spawn_background(move |stop| follow_ups.run_account_follow_ups(stop));
    let max = context.max_message_bytes();
    let api = api::Api::new(app, pages, max);
    let handoffs = HandoffServiceServer::new(api)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    Ok(Routes::new(handoffs))
}
