//! The opportunities service: a sale from first contact to a distinct close (won, lost or
//! disqualified), its gates, forecast, win/loss and revenue mix.
//!
//! [`build`] opens the database, applies migrations and binds the listener (port 0 allowed);
//! [`Service::run_until`] serves until a shutdown future resolves. Production, `closeloop up`
//! and the tests all go through these two.

#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod domain;
pub mod peers;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use closeloop_kit::auth::{AuthConfigError, Authenticator};
use closeloop_kit::client::ServiceCredentials;
use closeloop_kit::db::{Db, DbError};
use closeloop_kit::outbox::{self, Relay};
use closeloop_kit::server::{self, ServeError};
use closeloop_kit::settings::CommonSettings;
use closeloop_proto::opportunities::v1::opportunity_service_server::OpportunityServiceServer;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::App;
use crate::domain::policy::Policy;
use crate::store::Store;

/// The gRPC service this process serves.
pub const GRPC_SERVICE: &str = "closeloop.opportunities.v1.OpportunityService";
/// `service.name` in telemetry.
pub const SERVICE_NAME: &str = "closeloop-opportunities";

/// Settings of the opportunities process.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Settings {
    /// Server, database, telemetry, auth, outbox.
    #[serde(flatten)]
    pub common: CommonSettings,
    /// `[opportunities]`: the business rules.
    pub opportunities: Policy,
    /// `[peers]`: where the services this one calls are.
    pub peers: Peers,
}

/// `[peers]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Peers {
    /// The contracts-and-payments endpoint, e.g. `http://contracts:50052`. Empty: won deals'
    /// CreateContract commands wait in the outbox until it is configured.
    #[serde(default)]
    pub contracts: String,
    /// Bearer token for calls to peers when tokens are verified with a public key (and this
    /// service cannot mint its own). Empty: minted with `auth.hs256_secret`.
    #[serde(default)]
    pub service_token: String,
}

/// Defaults of this service, over the kit's common defaults.
pub const DEFAULTS: &str = r#"
[server]
listen = "0.0.0.0:50051"

[database]
url = "sqlite://data/opportunities.db"

[opportunities]
margin_floor_bps = 2000
discount_approval_threshold_bps = 1000
prospecting_probability = 10
qualification_probability = 20
proposal_probability = 50
negotiation_probability = 80

[peers]
contracts = ""
service_token = ""
"#;

/// Loads settings: defaults, then `file` (or `$CLOSELOOP_CONFIG`), then `CLOSELOOP_…` variables.
///
/// # Errors
/// When the file or a variable does not fit.
pub fn load_settings(file: Option<&Path>) -> Result<Settings, config::ConfigError> {
    closeloop_kit::settings::load(DEFAULTS, file)
}

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Settings are inconsistent.
    #[error("settings: {0}")]
    Settings(String),
    /// Authentication is not configured.
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] DbError),
    /// Serving failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
}

/// A built service, bound and ready to serve.
pub struct Service {
    listener: TcpListener,
    settings: Settings,
    db: Db,
    auth: Authenticator,
}

/// Opens the database (migrating it) and binds the listener.
///
/// # Errors
/// [`Error`] when settings, auth, the database or the address are unusable.
pub async fn build(settings: Settings) -> Result<Service, Error> {
    settings.opportunities.validate().map_err(Error::Settings)?;
    let auth = Authenticator::new(&settings.common.auth)?;
    let db = Db::connect(&settings.common.database).await?;
    db.migrate(&store::MIGRATIONS).await?;
    let listener = server::bind(&settings.common.server.listen).await?;
    Ok(Service {
        listener,
        settings,
        db,
        auth,
    })
}

impl Service {
    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The database (for tools and tests that load data directly).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Serves until `shutdown` resolves, then drains calls, lets the outbox relay finish its
    /// batch, and closes the database.
    ///
    /// # Errors
    /// [`Error`] when the peer configuration is unusable or the server fails.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let Service {
            listener,
            settings,
            db,
            auth,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);

        let mut waker = None;
        let relay = if settings.peers.contracts.is_empty() {
            if let Ok(b) = outbox::backlog(&db).await
                && b.pending > 0
            {
                tracing::warn!(
                    pending = b.pending,
                    "peers.contracts is not configured: won deals' CreateContract commands wait in the outbox"
                );
            }
            None
        } else {
            let channel = closeloop_kit::client::channel(
                &settings.peers.contracts,
                Duration::from_millis(settings.common.outbox.call_timeout_ms),
            )
            .map_err(|e| Error::Settings(format!("peers.contracts: {e}")))?;
            let credentials = ServiceCredentials::new(
                SERVICE_NAME,
                &settings.common.auth,
                Some(&settings.peers.service_token),
            )?;
            let delivery = peers::ContractsDelivery::new(
                channel,
                credentials,
                Duration::from_millis(settings.common.outbox.call_timeout_ms),
            );
            let relay = Relay::new(db.clone(), delivery, settings.common.outbox.clone());
            waker = Some(relay.waker());
            Some(outbox::spawn(relay, stop_rx.clone()))
        };
        let housekeeping = closeloop_kit::idempotency::spawn_housekeeping(db.clone(), stop_rx);

        let app = App::new(
            Store::new(db.clone()),
            settings.opportunities.clone(),
            waker,
        );
        let max = settings.common.server.max_message_bytes;
        let grpc = OpportunityServiceServer::new(api::Api::new(app))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let result = server::serve(
            listener,
            server::Service {
                routes: tonic::service::Routes::new(grpc),
                names: vec![GRPC_SERVICE],
                db: db.clone(),
            },
            &settings.common.server,
            auth,
            shutdown,
        )
        .await;

        let _ = stop_tx.send(true);
        if let Some(relay) = relay {
            let _ = relay.await;
        }
        let _ = housekeeping.await;
        db.close().await;
        tracing::info!("stopped");
        result.map_err(Error::from)
    }
}
