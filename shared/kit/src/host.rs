//! The host: everything a closeloop service process does besides its own API. A service declares
//! itself once as a [`ServiceDef`] (name, port, gRPC services, settings section, migrations,
//! peers, and how to build its routes); the host loads its settings, opens and migrates its
//! database, binds its listener, serves it with health, reflection and the standard layers, runs
//! an outbox relay per configured peer and the housekeeping, and on shutdown drains calls, stops
//! the relays after their batch and closes the database.
//!
//! The same path runs a service's own binary ([`main`]), `closeloop serve NAME`, `closeloop up`
//! (every service of the suite in one process) and the tests.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::service::Routes;

use crate::auth::{AuthConfigError, Authenticator};
use crate::client::{ClientTrace, PeerChannel, ServiceCredentials};
use crate::db::{Db, DbError, Migrations};
use crate::error::Chain;
use crate::outbox::{self, GrpcDelivery, Outbox, Peer, Relay};
use crate::server::{self, ServeError};
use crate::settings::CommonSettings;
use crate::telemetry::ServiceTelemetry;
use crate::time::Clock;

/// A future the host awaits.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a service declares about itself; the host does the rest.
pub struct ServiceDef {
    /// Short name: its database file under `closeloop up`, its name for `closeloop serve`, and
    /// `closeloop-<name>` in telemetry. Its settings section is the name with `_` for `-`
    /// (`[contracts_payments]`): environment variables cannot spell a dash
    /// (`CLOSELOOP_CONTRACTS_PAYMENTS__DUNNING_RETRY_DAYS`).
    pub name: &'static str,
    /// Default port.
    pub port: u16,
    /// Fully qualified names of the gRPC services it serves, e.g.
    /// `closeloop.opportunities.v1.OpportunityService`: what health reports and reflection lists.
    pub grpc: &'static [&'static str],
    /// Defaults of its own settings section, as TOML (`[opportunities]` …).
    pub defaults: &'static str,
    /// Checks its own section when settings load, so a bad value stops the process before
    /// anything starts (read it with [`Settings::section`]).
    pub check_settings: fn(&Settings) -> Result<(), HostError>,
    /// Its schema.
    pub migrations: Migrations,
    /// The services it calls, each configured as `peers.<name>`.
    pub peers: &'static [Peer],
    /// Builds its gRPC routes from the host's [`Context`].
    pub routes: fn(Context) -> BoxFuture<Result<Routes, HostError>>,
}

impl ServiceDef {
    /// `service.name` in telemetry and the subject of its peer calls: `closeloop-<name>`.
    pub fn service_name(&self) -> String {
        format!("closeloop-{}", self.name)
    }

    /// The settings every process of this service starts from, under the kit's common defaults.
    fn host_defaults(&self) -> String {
        let mut toml = format!(
            "[server]\nlisten = \"0.0.0.0:{}\"\n\n[database]\nurl = \"sqlite://data/{}.db\"\n\n[peers]\nservice_token = \"\"\n",
            self.port, self.name
        );
        for peer in self.peers {
            toml.push_str(&format!("{} = \"\"\n", peer.name));
        }
        toml
    }
}

impl std::fmt::Debug for ServiceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceDef")
            .field("name", &self.name)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// Why a service could not start, or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A setting is missing, malformed or inconsistent.
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
    /// Start-up work on the database failed.
    #[error("starting: {0}")]
    Startup(String),
}

impl From<crate::error::Problem> for HostError {
    fn from(e: crate::error::Problem) -> Self {
        HostError::Startup(e.to_string())
    }
}

impl From<config::ConfigError> for HostError {
    fn from(e: config::ConfigError) -> Self {
        HostError::Settings(e.to_string())
    }
}

/// `[peers]`: where the services this one calls are.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PeerSettings {
    /// Bearer token for calls to peers when tokens are verified with a public key (and this
    /// service cannot mint its own). Empty: minted with `auth.hs256_secret`.
    #[serde(default)]
    pub service_token: String,
    /// Endpoint per peer name, e.g. `contracts = "http://contracts:50052"`. Empty: the commands
    /// owed to that peer wait in the outbox until it is configured.
    #[serde(flatten)]
    pub endpoints: BTreeMap<String, String>,
}

/// A service process's settings: the kit's common sections, `[peers]`, and the service's own
/// section (read by the service through [`Context::settings`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Server, database, telemetry, auth, outbox.
    pub common: CommonSettings,
    /// Where the peers are.
    pub peers: PeerSettings,
    /// The service's own section, `name` with `_` for `-`.
    name: String,
    source: config::Config,
}

#[derive(Deserialize)]
struct Sections {
    #[serde(flatten)]
    common: CommonSettings,
    #[serde(default)]
    peers: PeerSettings,
}

/// Loads `def`'s settings: the kit's defaults, the service's, then `file` (or
/// `$CLOSELOOP_CONFIG`), then `CLOSELOOP_…` variables.
///
/// # Errors
/// When the file or a variable does not fit, or `[peers]` names a peer the service does not have.
pub fn load_settings(def: &ServiceDef, file: Option<&Path>) -> Result<Settings, HostError> {
    let source = crate::settings::layered(&[&def.host_defaults(), def.defaults], file, None)?;
    let sections: Sections = source.clone().try_deserialize()?;
    let (outbox, server) = (&sections.common.outbox, &sections.common.server);
    if outbox.lease_ms <= outbox.call_timeout_ms {
        return Err(HostError::Settings(format!(
            "outbox.lease_ms ({}) must be longer than outbox.call_timeout_ms ({}): a delivery \
             must end within the lease that keeps other replicas from making it too",
            outbox.lease_ms, outbox.call_timeout_ms
        )));
    }
    if server.idle_timeout_ms <= server.request_timeout_ms {
        return Err(HostError::Settings(format!(
            "server.idle_timeout_ms ({}) must be longer than server.request_timeout_ms ({}): a \
             connection is closed as idle only after its calls could have ended",
            server.idle_timeout_ms, server.request_timeout_ms
        )));
    }
    for name in sections.peers.endpoints.keys() {
        if !def.peers.iter().any(|p| p.name == name) {
            let known: Vec<&str> = def.peers.iter().map(|p| p.name).collect();
            return Err(HostError::Settings(format!(
                "peers.{name} is not a service {} calls (its peers: {})",
                def.name,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    let settings = Settings {
        common: sections.common,
        peers: sections.peers,
        name: def.name.replace('-', "_"),
        source,
    };
    (def.check_settings)(&settings)?;
    Ok(settings)
}

impl Settings {
    /// The service's own section (`[<name>]`).
    ///
    /// # Errors
    /// [`HostError::Settings`] when it does not fit `T`.
    pub fn section<T: DeserializeOwned>(&self) -> Result<T, HostError> {
        // Deserialized as the one entry of a map, so an error names the whole key
        // (`opportunities.margin_floor_bps`), not only the section.
        let value = self
            .source
            .get::<config::Value>(&self.name)
            .map_err(|e| HostError::Settings(format!("[{}]: {e}", self.name)))?;
        let mut section: BTreeMap<String, T> = config::Config::builder()
            .set_default(&self.name, value)?
            .build()?
            .try_deserialize()?;
        section
            .remove(&self.name)
            .ok_or_else(|| HostError::Settings(format!("[{}] is missing", self.name)))
    }

    /// The endpoint configured for `peer`, if any.
    pub fn peer(&self, peer: &str) -> Option<&str> {
        self.peers
            .endpoints
            .get(peer)
            .map(String::as_str)
            .filter(|e| !e.is_empty())
    }

    /// Lays `toml` over the service's own section (tests and tools), e.g.
    /// `"[opportunities]\nmargin_floor_bps = 0"`. The common sections are fields: set them there.
    ///
    /// # Errors
    /// [`HostError::Settings`] when `toml` does not parse.
    pub fn layer(&mut self, toml: &str) -> Result<(), HostError> {
        self.source = config::Config::builder()
            .add_source(self.source.clone())
            .add_source(config::File::from_str(toml, config::FileFormat::Toml))
            .build()?;
        Ok(())
    }

    /// Points `peer` at `endpoint`.
    pub fn set_peer(&mut self, peer: &str, endpoint: String) {
        self.peers.endpoints.insert(peer.to_owned(), endpoint);
    }
}

/// A task a service runs beside its server: it gets the stop signal and returns soon after it
/// turns true.
type Background = Box<dyn FnOnce(watch::Receiver<bool>) -> BoxFuture<()> + Send>;

/// What a service's routes are built from.
pub struct Context {
    def: &'static ServiceDef,
    telemetry: ServiceTelemetry,
    db: Db,
    outbox: Outbox,
    settings: Settings,
    clock: Clock,
    background: std::sync::Arc<std::sync::Mutex<Vec<Background>>>,
}

impl Context {
    /// The service's clock: read it for every rule that depends on the date.
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// Runs `task` beside the server, from when it starts serving until shutdown: `task` gets
    /// the stop signal (true once the service stops) and must return soon after; shutdown waits
    /// for it, like for the outbox relays, before the database closes. For work a service does
    /// on its own, e.g. retrying what a peer that was down could not answer.
    pub fn spawn_background<F, Fut>(&self, task: F)
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.background
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Box::new(move |stop| Box::pin(task(stop))));
    }

    /// The service's database, migrated.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The service's own settings section (`[<name>]`).
    ///
    /// # Errors
    /// [`HostError::Settings`] when it does not fit `T`.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, HostError> {
        self.settings.section()
    }

    /// Where the service writes the calls it owes its peers.
    pub fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    /// The largest message the service reads or writes: set it on each gRPC service
    /// (`max_decoding_message_size`, `max_encoding_message_size`).
    pub fn max_message_bytes(&self) -> usize {
        self.settings.common.server.max_message_bytes
    }

    /// A channel and credentials for synchronous calls to `peer`, when it is configured. The
    /// channel connects on first use, each call carries the deadline `call_timeout_ms` and is a
    /// client span of this service.
    ///
    /// # Errors
    /// [`HostError::Settings`] when the endpoint is not a URI or no token can be had.
    pub fn peer(&self, peer: &str) -> Result<Option<(PeerChannel, ServiceCredentials)>, HostError> {
        match self.settings.peer(peer) {
            None => Ok(None),
            Some(endpoint) => {
                peer_channel(self.def, &self.settings, &self.telemetry, peer, endpoint).map(Some)
            }
        }
    }

    /// The service's telemetry (its spans and metrics carry its `service.name`).
    pub fn telemetry(&self) -> &ServiceTelemetry {
        &self.telemetry
    }
}

fn peer_channel(
    def: &ServiceDef,
    settings: &Settings,
    telemetry: &ServiceTelemetry,
    peer: &str,
    endpoint: &str,
) -> Result<(PeerChannel, ServiceCredentials), HostError> {
    let timeout = Duration::from_millis(settings.common.outbox.call_timeout_ms);
    let channel = crate::client::channel(endpoint, timeout)
        .map_err(|e| HostError::Settings(format!("peers.{peer}: {e}")))?;
    let channel = ClientTrace::new(channel, telemetry.clone());
    let credentials = ServiceCredentials::new(
        &def.service_name(),
        &settings.common.auth,
        Some(&settings.peers.service_token),
    )?;
    Ok((channel, credentials))
}

/// A service built and bound, ready to serve.
pub struct Bound {
    def: &'static ServiceDef,
    telemetry: ServiceTelemetry,
    listener: TcpListener,
    settings: Settings,
    db: Db,
    auth: Authenticator,
    outbox: Outbox,
    routes: Routes,
    clock: Clock,
    background: Vec<Background>,
}

/// Opens and migrates the database, builds the service's routes and binds its listener (port 0
/// allowed).
///
/// # Errors
/// [`HostError`] when settings, auth, the database or the address are unusable.
pub async fn build(def: &'static ServiceDef, settings: Settings) -> Result<Bound, HostError> {
    let auth = Authenticator::new(&settings.common.auth)?;
    let db = Db::connect(&settings.common.database).await?;
    db.migrate(&def.migrations).await?;
    let outbox = Outbox::new(def.peers);
    let clock = Clock::system();
    let background = std::sync::Arc::default();
    let telemetry = ServiceTelemetry::of(&def.service_name());
    let context = Context {
        def,
        telemetry: telemetry.clone(),
        db: db.clone(),
        outbox: outbox.clone(),
        settings: settings.clone(),
        clock: clock.clone(),
        background: std::sync::Arc::clone(&background),
    };
    let routes = (def.routes)(context).await?;
    let background = std::mem::take(
        &mut *background
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let listener = server::bind(&settings.common.server.listen).await?;
    Ok(Bound {
        def,
        telemetry,
        listener,
        settings,
        db,
        auth,
        outbox,
        routes,
        clock,
        background,
    })
}

impl Bound {
    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The service's database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The service's clock (a test moves it).
    pub fn clock(&self) -> Clock {
        self.clock.clone()
    }

    /// Serves until `shutdown` resolves, then drains calls, lets each relay finish its batch,
    /// and closes the database.
    ///
    /// # Errors
    /// [`HostError`] when a peer is misconfigured or the server fails.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), HostError> {
        let Bound {
            def,
            telemetry,
            listener,
            settings,
            db,
            auth,
            outbox,
            routes,
            clock: _,
            background,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        // Every configured peer's channel is built before any relay starts, so a bad setting
        // stops the service with nothing left running.
        let mut relays = Vec::new();
        for peer in def.peers {
            let Some(endpoint) = settings.peer(peer.name) else {
                if let Ok(b) = outbox::backlog(&db, Some(peer.name)).await
                    && b.pending > 0
                {
                    tracing::warn!(
                        pending = b.pending,
                        "peers.{} is not configured: the commands owed to it wait in the outbox",
                        peer.name
                    );
                }
                continue;
            };
            let (channel, credentials) =
                peer_channel(def, &settings, &telemetry, peer.name, endpoint)?;
            let delivery = GrpcDelivery::new(
                channel,
                credentials,
                Duration::from_millis(settings.common.outbox.call_timeout_ms),
            );
            relays.push(
                Relay::new(db.clone(), *peer, delivery, settings.common.outbox.clone())
                    .with_telemetry(telemetry.clone()),
            );
        }
        // The service's own work runs as the service's (telemetry::ServiceTelemetry::scope).
        for relay in relays {
            outbox.attach(relay.waker());
            tasks.push(tokio::spawn(telemetry.scope(relay.run(stop_rx.clone()))));
        }
        // Commands committed before the relays existed.
        outbox.wake();
        for task in background {
            tasks.push(tokio::spawn(telemetry.scope(task(stop_rx.clone()))));
        }
        tasks.push(crate::idempotency::spawn_housekeeping(db.clone(), stop_rx));

        let result = server::serve(
            listener,
            server::Service {
                routes,
                names: def.grpc.to_vec(),
                db: db.clone(),
                telemetry,
            },
            &settings.common.server,
            auth,
            shutdown,
        )
        .await;

        let _ = stop_tx.send(true);
        for task in tasks {
            let _ = task.await;
        }
        db.close().await;
        tracing::info!(service = def.name, "stopped");
        result.map_err(HostError::from)
    }
}

/// Runs `def` in the foreground with `settings` until SIGTERM or ctrl-c, with its telemetry:
/// what `closeloop serve NAME` and the service's own binary do.
///
/// # Errors
/// [`HostError`] when the service cannot start or fails.
pub async fn serve(def: &'static ServiceDef, settings: Settings) -> Result<(), HostError> {
    let telemetry = crate::telemetry::init(&def.service_name(), &settings.common.telemetry)
        .map_err(|e| HostError::Settings(e.to_string()))?;
    let result = async {
        let bound = build(def, settings).await?;
        tracing::info!(service = def.name, addr = %bound.local_addr(), "listening");
        bound.run_until(server::shutdown_signal()).await
    }
    .await;
    telemetry.shutdown().await;
    result
}

/// The `main` of a service's own binary: `closeloop-<name> [SETTINGS_FILE]`.
pub fn main(def: &'static ServiceDef) -> ExitCode {
    let program = def.service_name();
    let file = std::env::args_os().nth(1).map(std::path::PathBuf::from);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{program}: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let settings = load_settings(def, file.as_deref())?;
        serve(def, settings).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ HostError::Settings(_)) => {
            eprintln!("{program}: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("{program}: {}", Chain(&e));
            ExitCode::FAILURE
        }
    }
}
