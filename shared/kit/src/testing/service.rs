//! A service spawned for a test: the host's own path (the same `build` and `run_until` as
//! production), on 127.0.0.1:0, against a fresh database, with clients per caller.

use std::net::SocketAddr;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::{TestDatabase, auth_settings, token};
use crate::auth::Role;
use crate::db::Db;
use crate::host::{self, HostError, ServiceDef, Settings};
use crate::time::Clock;

/// Adds an `authorization` value to every call.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// `Bearer <token>` for `subject` with `roles`, a token test services accept.
    pub fn token(subject: &str, roles: &[Role]) -> Bearer {
        Bearer::raw(&format!("Bearer {}", token(subject, roles)))
    }

    /// This exact `authorization` value (for malformed and forged ones).
    ///
    /// # Panics
    /// When `value` is not valid metadata (test input is chosen by the test).
    pub fn raw(value: &str) -> Bearer {
        Bearer(Some(value.parse().expect("an ASCII metadata value")))
    }

    /// No `authorization` at all.
    pub fn none() -> Bearer {
        Bearer(None)
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A service running for one test.
pub struct TestService {
    /// Where it listens.
    pub addr: SocketAddr,
    /// A connected channel to it.
    pub channel: Channel,
    /// A handle of its own on the service's database, for looking behind the API.
    pub db: Db,
    /// The service's clock: move it to let days pass.
    pub clock: Clock,
    def: &'static ServiceDef,
    settings: Settings,
    database: TestDatabase,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), HostError>>>,
}

impl TestService {
    /// Spawns `def` with its default settings on a fresh database.
    pub async fn spawn(def: &'static ServiceDef) -> TestService {
        Self::spawn_with(def, |_| {}).await
    }

    /// Spawns `def` with its default settings changed by `adjust`.
    ///
    /// # Panics
    /// When the service does not start: the test cannot go on.
    pub async fn spawn_with(
        def: &'static ServiceDef,
        adjust: impl FnOnce(&mut Settings),
    ) -> TestService {
        let database = TestDatabase::new().await;
        let mut settings = host::load_settings(def, None).expect("default settings load");
        settings.common.server.listen = "127.0.0.1:0".into();
        settings.common.database = database.settings.clone();
        settings.common.auth = auth_settings();
        // Tests stop services often; a load balancer's drain window would only slow them.
        settings.common.server.drain_delay_ms = 0;
        adjust(&mut settings);
        Self::spawn_on(def, settings, database, None).await
    }

    async fn spawn_on(
        def: &'static ServiceDef,
        settings: Settings,
        database: TestDatabase,
        clock: Option<Clock>,
    ) -> TestService {
        let bound = host::build(def, settings.clone())
            .await
            .expect("the service builds");
        let service_clock = bound.clock();
        if let Some(clock) = clock {
            // A restarted service keeps the time the test had moved to.
            service_clock.advance(clock.now_micros() - service_clock.now_micros());
        }
        let addr = bound.local_addr();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(bound.run_until(async move {
            let _ = stopped.await;
        }));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("a valid address")
            .connect()
            .await
            .expect("connects");
        let db = Db::connect(&database.settings).await.expect("a test pool");
        TestService {
            addr,
            channel,
            db,
            clock: service_clock,
            def,
            settings,
            database,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the service and starts it again on the same database and clock, with its settings
    /// changed by `adjust` (e.g. a peer that was not configured before). It listens on a new
    /// port.
    ///
    /// # Panics
    /// When the service does not stop cleanly or does not start again.
    pub async fn restart(self, adjust: impl FnOnce(&mut Settings)) -> TestService {
        self.stop_for_now().await.start_again(adjust).await
    }

    /// Stops the service and keeps its database and clock for [`Stopped::start_again`]: a
    /// peer that is down for a while (its callers' relays retry meanwhile) and comes back with
    /// what it had.
    ///
    /// # Panics
    /// When the service does not stop cleanly.
    pub async fn stop_for_now(mut self) -> Stopped {
        self.halt().await;
        Stopped {
            def: self.def,
            settings: self.settings.clone(),
            clock: self.clock.clone(),
            database: std::mem::replace(&mut self.database, TestDatabase::placeholder()),
        }
    }

    /// The channel, sending a token for `subject` with `roles`: wrap it in a generated client,
    /// e.g. `OpportunityServiceClient::new(app.caller("ana", &[Role::SalesRep]))`.
    pub fn caller(&self, subject: &str, roles: &[Role]) -> InterceptedService<Channel, Bearer> {
        InterceptedService::new(self.channel.clone(), Bearer::token(subject, roles))
    }

    /// The channel, sending `bearer`.
    pub fn with(&self, bearer: Bearer) -> InterceptedService<Channel, Bearer> {
        InterceptedService::new(self.channel.clone(), bearer)
    }

    /// The test database's settings (for a second service or a tool on the same database).
    pub fn database(&self) -> &TestDatabase {
        &self.database
    }

    /// Stops the service and waits for it to drain.
    ///
    /// # Panics
    /// When the service does not stop cleanly.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    async fn halt(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("the service task")
                .expect("the service stops cleanly");
        }
        self.db.close().await;
    }
}

/// A service stopped by [`TestService::stop_for_now`], its database kept.
pub struct Stopped {
    def: &'static ServiceDef,
    settings: Settings,
    clock: Clock,
    database: TestDatabase,
}

impl Stopped {
    /// Starts the service again on its database and clock, with its settings changed by
    /// `adjust`. It listens on a new port unless `adjust` sets `server.listen` (e.g. to the old
    /// address, where its callers still look for it).
    ///
    /// # Panics
    /// When the service does not start.
    pub async fn start_again(self, adjust: impl FnOnce(&mut Settings)) -> TestService {
        let mut settings = self.settings;
        settings.common.server.listen = "127.0.0.1:0".into();
        adjust(&mut settings);
        TestService::spawn_on(self.def, settings, self.database, Some(self.clock)).await
    }
}

/// Asserts INVALID_ARGUMENT whose `BadRequest` names exactly these fields (in any order).
///
/// # Panics
/// When it does not.
#[track_caller]
pub fn assert_invalid(status: &Status, fields: &[&str]) {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let details = status
        .get_details_bad_request()
        .expect("BadRequest details");
    let mut got: Vec<&str> = details
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    got.sort_unstable();
    got.dedup();
    let mut want = fields.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{status:?}");
}

/// Asserts FAILED_PRECONDITION whose `PreconditionFailure` names the gate (and, if given, the
/// subject).
///
/// # Panics
/// When it does not.
#[track_caller]
pub fn assert_gate(status: &Status, gate: &str, subject: Option<&str>) {
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let details = status
        .get_details_precondition_failure()
        .expect("PreconditionFailure details");
    assert!(
        details
            .violations
            .iter()
            .any(|v| v.r#type == gate && subject.is_none_or(|s| v.subject == s)),
        "gate {gate} / {subject:?} not in {:?}",
        details.violations
    );
}

/// Asserts NOT_FOUND whose `ResourceInfo` names this resource.
///
/// # Panics
/// When it does not.
#[track_caller]
pub fn assert_not_found(status: &Status, resource_type: &str, name: &str) {
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    let info = status.get_details_resource_info().expect("ResourceInfo");
    assert_eq!(
        (info.resource_type.as_str(), info.resource_name.as_str()),
        (resource_type, name),
        "{status:?}"
    );
}
