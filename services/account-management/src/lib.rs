//! The account-management service: the customer relationship after the sale, for its lifetime.
//! An accepted handoff opens the customer's account; check-ins, operations updates, obligations
//! and outcomes follow it; health and lifetime value are computed from them; expansions and
//! referrals open the next opportunities.
//!
//! [`SERVICE`] is all the host needs: the service's name, port, gRPC service, settings section,
//! schema, the peers it calls, and how its routes are built.

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
use closeloop_proto::accounts::v1::account_service_server::AccountServiceServer;
use tonic::service::Routes;

use crate::app::App;
use crate::domain::policy::Policy;
use crate::store::Store;

/// The service's name.
pub const NAME: &str = "account-management";

/// The gRPC services this process serves.
pub const GRPC_SERVICES: &[&str] = &["closeloop.accounts.v1.AccountService"];

/// The account-management service, as the host runs it.
pub const SERVICE: ServiceDef = ServiceDef {
    name: NAME,
    port: 50054,
    grpc: GRPC_SERVICES,
    defaults: DEFAULTS,
    check_settings: |settings| {
        let policy: Policy = settings.section()?;
        policy.validate().map_err(HostError::Settings)
    },
    migrations: store::MIGRATIONS,
    peers: &[
        Peer {
            name: "opportunities",
            services: &["closeloop.opportunities.v1.OpportunityService"],
        },
        Peer {
            name: "contracts",
            services: &["closeloop.contracts.v1.PaymentService"],
        },
    ],
    routes: |context| Box::pin(routes(context)),
};

/// `[account_management]`: the account rules, by default (the domain's [`Policy::default`]).
const DEFAULTS: &str = r#"
[account_management]
default_check_in_cadence_days = 30
due_check_in_horizon_days = 7
health_green_threshold = 70
health_yellow_threshold = 40
weight_satisfaction_trend = 30
weight_check_in_recency = 15
weight_outcome_progress = 20
weight_open_issues = 15
weight_payment_standing = 20
satisfaction_window = 3
satisfaction_trend_points = 5
issue_penalty_low = 5
issue_penalty_medium = 15
issue_penalty_high = 30
issue_penalty_critical = 60
payment_overdue_share_points = 50
payment_age_points = 50
payment_age_full_days = 90
default_gross_margin_bps = 5000
default_annual_churn_rate_bps = 1000
churn_rate_min_accounts = 20
max_expected_lifetime_years = 10
referral_close_days = 90
"#;

async fn routes(context: Context) -> Result<Routes, HostError> {
    let policy: Policy = context.settings()?;
    let pages = PageTokens::load(context.db()).await?;
    let payments = context
        .peer("contracts")?
        .map(|(channel, credentials)| peers::Payments::new(channel, credentials));
    let app = App {
        store: Store::new(context.db().clone()),
        policy,
        outbox: context.outbox(),
        clock: context.clock(),
        // The subject of the tokens the service itself sends (ServiceDef::service_name).
        service_subject: format!("closeloop-{NAME}"),
        payments,
    };
    let max = context.max_message_bytes();
    let api = api::Api::new(app, pages, max);
    let accounts = AccountServiceServer::new(api)
        .max_decoding_message_size(max)
        .max_encoding_message_size(max);
    Ok(Routes::new(accounts))
}
