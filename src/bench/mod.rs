//! `closeloop bench`: measures the opportunities, contracts-payments, handoff and
//! account-management services against the two limits they cannot beat, in one run on loopback:
//! the transport (a bare tonic echo server, [`echo`]) and the database (PostgreSQL's own insert
//! rate through `pgbench`, [`pgbench`]).
//!
//! The run preloads each service's data set through its store ([`preload`], [`payments`],
//! [`handoffs`], [`accounts`]), starts the echo server and then each service as child processes
//! ([`child`]), each on its own database (account-management with contracts-payments beside it,
//! which its health reads), drives each workload with the same closed-loop generator ([`load`])
//! authenticated as a sales manager (as a payment processor for payments), and prints a table or
//! one JSON document ([`report`]).

mod accounts;
pub(crate) mod child;
mod echo;
mod handoffs;
mod load;
mod payments;
mod pgbench;
mod preload;
mod report;
mod rng;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use closeloop_kit::Role;
use closeloop_kit::auth::{AuthSettings, TokenIssuer};
use closeloop_kit::convert::date_range_to_proto;
use closeloop_kit::paging::PageTokens;
use closeloop_kit::time::{date_of_micros, now_micros};
use closeloop_opportunities::store::ListFilter;
use closeloop_proto::accounts::v1 as apb;
use closeloop_proto::accounts::v1::account_service_client::AccountServiceClient;
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as cpb;
use closeloop_proto::contracts::v1::payment_service_client::PaymentServiceClient;
use closeloop_proto::handoff::v1 as hpb;
use closeloop_proto::handoff::v1::handoff_service_client::HandoffServiceClient;
use closeloop_proto::opportunities::v1 as pb;
use closeloop_proto::opportunities::v1::opportunity_service_client::OpportunityServiceClient;
use serde::Serialize;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Channel;

use self::accounts::Managed;
use self::child::Child;
use self::handoffs::Handoffs;
use self::load::{Measurement, Shape};
use self::payments::{Accounts, Payable};
use self::preload::Dataset;
use self::report::Report;

/// The handoff service's database.
const HANDOFF_DB: payments::Names = payments::Names {
    service: "handoff",
    flag: "--handoff-database-url",
    file: "handoff.db",
    suffix: "_handoff",
};

/// The account-management service's database.
const ACCOUNTS_DB: payments::Names = payments::Names {
    service: "account-management",
    flag: "--accounts-database-url",
    file: "account-management.db",
    suffix: "_accounts",
};

/// The page size of the listing workloads (the API's default).
const PAGE_SIZE: u64 = 50;
/// How deep the deep-page workload reads, in pages.
const DEEP_PAGES: u64 = 1_000;
/// Distinct CreateOpportunity requests, made before the run and sent round-robin.
const CREATE_REQUESTS: u64 = 1_024;
/// Timed GetForecast calls, one at a time, for its unloaded latency.
const FORECAST_PROBES: usize = 5;

/// Benchmark options.
#[derive(clap::Args)]
pub struct Args {
    /// Calls in flight at once. Each caller sends its next call as soon as the previous one
    /// answers (a closed loop).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections the callers share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds of load before each workload's measurement, not recorded.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds each workload is measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Opportunities preloaded before the service starts.
    #[arg(long, default_value_t = 100_000)]
    scale: u64,
    /// Database of the opportunities service, `postgres://…` (must hold no opportunities yet).
    /// Default: SQLite in a temporary folder.
    #[arg(long)]
    database_url: Option<String>,
    /// Customer accounts preloaded for contracts-payments, each with 12 invoices; and for
    /// account-management, one account each.
    #[arg(long, default_value_t = 5_000)]
    accounts: u64,
    /// Database of the contracts-payments service (must hold no contracts yet). Default: SQLite
    /// in the temporary folder; with a PostgreSQL `--database-url …/NAME`, the database
    /// `NAME_payments` on the same server, created for the run and dropped after it.
    #[arg(long)]
    payments_database_url: Option<String>,
    /// DRAFT handoffs preloaded for the handoff service, one per placed order.
    #[arg(long, default_value_t = 5_000)]
    handoffs: u64,
    /// Database of the handoff service (must hold no handoffs yet). Default: SQLite in the
    /// temporary folder; with a PostgreSQL `--database-url …/NAME`, the database `NAME_handoff`
    /// on the same server, created for the run and dropped after it.
    #[arg(long)]
    handoff_database_url: Option<String>,
    /// Database of the account-management service (must hold no accounts yet). Default: SQLite
    /// in the temporary folder; with a PostgreSQL `--database-url …/NAME`, the database
    /// `NAME_accounts` on the same server, created for the run and dropped after it.
    #[arg(long)]
    accounts_database_url: Option<String>,
    /// Print one JSON document instead of the tables (progress still goes to stderr).
    #[arg(long)]
    json: bool,
    /// Run only these workloads (comma-separated): echo, get, create, list-first, list-deep,
    /// forecast, balance, record-payment, get-handoff, update-handoff, get-account-health,
    /// list-salesperson-feed.
    #[arg(long, value_delimiter = ',', value_name = "WORKLOAD,…")]
    workloads: Vec<Workload>,
    /// Serve the echo baseline on this address (how the benchmark starts its echo process).
    #[arg(long, hide = true, value_name = "ADDR")]
    serve_echo: Option<String>,
}

/// What the load generator calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// The bare tonic echo server.
    Echo,
    /// GetOpportunity of random preloaded opportunities.
    Get,
    /// CreateOpportunity of new, valid opportunities.
    Create,
    /// ListOpportunities, first page.
    ListFirst,
    /// ListOpportunities, the page 1,000 pages deep.
    ListDeep,
    /// GetForecast over every opportunity in the main currency.
    Forecast,
    /// GetAccountBalance of random preloaded accounts (contracts-payments).
    Balance,
    /// RecordPaymentAttempt: a 1-cent SUCCEEDED payment into a random unsettled preloaded
    /// invoice, as a payment processor, each with a fresh `request_id` (contracts-payments).
    RecordPayment,
    /// GetHandoff of random preloaded handoffs (handoff).
    GetHandoff,
    /// UpdateHandoff of random preloaded DRAFT handoffs, replacing `customer_needs` or `notes`
    /// through `update_mask`, without an etag (handoff).
    UpdateHandoff,
    /// GetAccountHealth of random preloaded accounts, each reading the customer's balance from
    /// contracts-payments (account-management).
    GetAccountHealth,
    /// ListSalespersonFeed, the first page of a random salesperson's feed (account-management).
    ListSalespersonFeed,
}

impl Workload {
    const ALL: [Workload; 12] = [
        Workload::Echo,
        Workload::Get,
        Workload::Create,
        Workload::ListFirst,
        Workload::ListDeep,
        Workload::Forecast,
        Workload::Balance,
        Workload::RecordPayment,
        Workload::GetHandoff,
        Workload::UpdateHandoff,
        Workload::GetAccountHealth,
        Workload::ListSalespersonFeed,
    ];

    /// Whether the contracts-payments service serves it (else echo or opportunities).
    fn is_payments(self) -> bool {
        matches!(self, Workload::Balance | Workload::RecordPayment)
    }

    /// Whether the handoff service serves it.
    fn is_handoff(self) -> bool {
        matches!(self, Workload::GetHandoff | Workload::UpdateHandoff)
    }

    /// Whether the account-management service serves it.
    fn is_accounts(self) -> bool {
        matches!(
            self,
            Workload::GetAccountHealth | Workload::ListSalespersonFeed
        )
    }
}

/// Runs the benchmark (or, with `--serve-echo`, the echo server it starts).
///
/// # Errors
/// When the database, a child process or the load fails; missing `pgbench` is not an error.
pub async fn run(args: Args) -> anyhow::Result<()> {
    if let Some(addr) = &args.serve_echo {
        return echo::serve(addr).await;
    }
    if args.concurrency == 0
        || args.connections == 0
        || args.scale == 0
        || args.accounts == 0
        || args.handoffs == 0
    {
        bail!(
            "--concurrency, --connections, --scale, --accounts and --handoffs must be at least 1"
        );
    }
    if !(args.duration > 0.0 && args.warmup >= 0.0) {
        bail!("--duration must be positive and --warmup not negative");
    }
    tokio::select! {
        result = bench(args) => result,
        // Returning drops the child guards, which stop the servers.
        () = closeloop_kit::server::shutdown_signal() => bail!("interrupted"),
    }
}

/// What every part of a run shares.
struct Setup {
    shape: Shape,
    connections: usize,
    /// `Bearer …` of a sales manager, who reads every opportunity and creates for any owner,
    /// and reads every account's balance.
    bearer: MetadataValue<Ascii>,
    /// `Bearer …` of a payment processor (role `service`), who records payments.
    processor: MetadataValue<Ascii>,
    /// The secret the bearer token is signed with, for the service to verify it.
    secret: String,
    dataset: Dataset,
    /// Preloaded contracts-payments accounts.
    accounts: u64,
    /// Where the child processes' logs (and the SQLite database) go.
    scratch: PathBuf,
}

impl Setup {
    /// `message` with the metadata a real client sends: its bearer token.
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        authorized(message, &self.bearer)
    }
}

fn authorized<T>(message: T, bearer: &MetadataValue<Ascii>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", bearer.clone());
    request
}

async fn bench(args: Args) -> anyhow::Result<()> {
    let mut workloads = if args.workloads.is_empty() {
        Workload::ALL.to_vec()
    } else {
        args.workloads.clone()
    };
    workloads.sort();
    workloads.dedup();
    // Creates add rows: run them last so every read workload sees exactly the preloaded data
    // set (the forecast then covers `--scale` opportunities, not `--scale` plus the creates).
    // On contracts-payments, balances run before the payments that change them (the enum's
    // order).
    workloads.sort_by_key(|w| *w == Workload::Create);

    let scratch = tempfile::Builder::new()
        .prefix("closeloop-bench-")
        .tempdir()
        .context("creating a temporary folder")?;
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}",
            scratch.path().join("opportunities.db").display()
        ),
    };
    let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        report::Backend::Postgres
    } else if url.starts_with("sqlite:") {
        report::Backend::Sqlite
    } else {
        bail!("--database-url must start with postgres:// or sqlite://");
    };
    let database = backend.describe(&url, args.database_url.is_none());

    let dataset = Dataset::new(args.scale, now_micros());
    eprintln!(
        "closeloop bench: preloading {} opportunities ({database})",
        report::group(args.scale as f64, 0),
    );
    let loaded = preload::load(&url, dataset).await?;

    // Each other service gets a database of its own, like in production, dropped again (when
    // this run created it) on every way out.
    let mut others = Prepared::default();
    if let Err(e) = others.load(&args, &workloads, &url, scratch.path()).await {
        others.finish().await;
        return Err(e);
    }
    let result = measure(
        &args,
        &workloads,
        &url,
        &scratch,
        &loaded,
        dataset,
        Others {
            payments: others.payments.as_ref().map(|(db, l)| (db, l)),
            handoff: others.handoff.as_ref().map(|(db, l)| (db, l)),
            accounts: others.accounts.as_ref().map(|(db, l)| (db, l)),
        },
    )
    .await;
    let finished = others.finish().await;
    let (rows, services, duration) = result?;
    let [service, payments_service, handoff_service, accounts_service] = services;

    let pgbench = match (backend, pgbench::find()) {
        (report::Backend::Sqlite, _) => pgbench::Baseline::NotApplicable,
        (report::Backend::Postgres, None) => pgbench::Baseline::Missing,
        (report::Backend::Postgres, Some(program)) => {
            eprintln!("closeloop bench: pgbench");
            pgbench::run(
                &program,
                &url,
                args.concurrency,
                duration,
                loaded.encoded_bytes,
                scratch.path(),
            )
            .await
        }
    };

    let report = Report::new(
        report::Run {
            backend,
            database,
            scale: args.scale,
            concurrency: args.concurrency,
            connections: args.connections,
            warmup_s: args.warmup,
            duration_s: args.duration,
            preload_s: loaded.elapsed.as_secs_f64(),
            encoded_opportunity_bytes: loaded.encoded_bytes,
            deep_pages: deep_page(&dataset, &loaded.pages).pages,
            payments: finished.payments.map(|(db, p)| report::PaymentsData {
                database: db,
                accounts: args.accounts,
                contracts: p.contracts,
                invoices: p.invoices,
                payable_invoices: p.payable.len() as u64,
                attempts: p.attempts,
                follow_ups: p.follow_ups,
                preload_s: p.elapsed.as_secs_f64(),
            }),
            handoff: finished.handoff.map(|(db, h)| report::HandoffData {
                database: db,
                handoffs: h.drafts.len() as u64,
                preload_s: h.elapsed.as_secs_f64(),
            }),
            accounts: finished.accounts.map(|(db, a)| report::AccountsData {
                database: db,
                accounts: a.accounts.len() as u64,
                check_ins: a.check_ins,
                operations_updates: a.updates,
                preload_s: a.elapsed.as_secs_f64(),
            }),
        },
        rows,
        report::Ready {
            opportunities: service.ready_rss,
            contracts_payments: payments_service.ready_rss,
            handoff: handoff_service.ready_rss,
            account_management: accounts_service.ready_rss,
        },
        service.forecast_alone_ms,
        pgbench,
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}

/// The preloaded databases of the services besides opportunities, when their workloads run.
struct Others<'a> {
    payments: Option<(&'a payments::Database, &'a payments::Loaded)>,
    handoff: Option<(&'a payments::Database, &'a handoffs::Loaded)>,
    accounts: Option<(&'a payments::Database, &'a accounts::Loaded)>,
}

/// The databases of the services besides opportunities, each prepared and preloaded when a
/// workload needs it: contracts-payments for its own workloads and for account-management's
/// health, which reads its balances.
#[derive(Default)]
struct Prepared {
    payments: Option<(payments::Database, payments::Loaded)>,
    handoff: Option<(payments::Database, handoffs::Loaded)>,
    accounts: Option<(payments::Database, accounts::Loaded)>,
}

/// Prepares the database `names` describes (`explicit`, or beside the opportunities database
/// `beside`: its URL and the scratch folder) and preloads `what` into it with `load`; drops the
/// database again when loading fails.
///
/// # Errors
/// When the database cannot be prepared or loading fails.
async fn preload_into<L>(
    names: payments::Names,
    explicit: Option<&str>,
    beside: (&str, &std::path::Path),
    what: String,
    load: impl AsyncFnOnce(&str) -> anyhow::Result<L>,
) -> anyhow::Result<(payments::Database, L)> {
    let db = payments::Database::prepare(names, explicit, beside.0, beside.1).await?;
    eprintln!(
        "closeloop bench: preloading {what} for {} ({})",
        names.service,
        db.describe()
    );
    match load(db.url()).await {
        Ok(loaded) => Ok((db, loaded)),
        Err(e) => {
            db.finish().await;
            Err(e)
        }
    }
}

/// What was preloaded, each with its database's description, once the databases are finished.
struct Finished {
    payments: Option<(String, payments::Loaded)>,
    handoff: Option<(String, handoffs::Loaded)>,
    accounts: Option<(String, accounts::Loaded)>,
}

impl Prepared {
    /// Prepares and preloads the databases `workloads` need, beside the opportunities database
    /// `url`. What was prepared before an error stays in `self` for [`Prepared::finish`].
    async fn load(
        &mut self,
        args: &Args,
        workloads: &[Workload],
        url: &str,
        scratch: &std::path::Path,
    ) -> anyhow::Result<()> {
        let needs = |f: fn(Workload) -> bool| workloads.iter().any(|w| f(*w));
        if needs(Workload::is_payments) || needs(Workload::is_accounts) {
            let accounts = Accounts::new(args.accounts, now_micros());
            self.payments = Some(
                preload_into(
                    payments::PAYMENTS_DB,
                    args.payments_database_url.as_deref(),
                    (url, scratch),
                    format!("{} accounts", report::group(args.accounts as f64, 0)),
                    async |url| payments::load(url, accounts).await,
                )
                .await?,
            );
        }
        if needs(Workload::is_handoff) {
            let handoffs = Handoffs::new(args.handoffs, now_micros());
            self.handoff = Some(
                preload_into(
                    HANDOFF_DB,
                    args.handoff_database_url.as_deref(),
                    (url, scratch),
                    format!("{} handoffs", report::group(args.handoffs as f64, 0)),
                    async |url| handoffs::load(url, handoffs).await,
                )
                .await?,
            );
        }
        if needs(Workload::is_accounts) {
            let managed = Managed::new(args.accounts, now_micros());
            self.accounts = Some(
                preload_into(
                    ACCOUNTS_DB,
                    args.accounts_database_url.as_deref(),
                    (url, scratch),
                    format!("{} accounts", report::group(args.accounts as f64, 0)),
                    async |url| accounts::load(url, managed).await,
                )
                .await?,
            );
        }
        Ok(())
    }

    /// Drops the databases this run created (the services have stopped by then).
    async fn finish(self) -> Finished {
        async fn done<T>(prepared: Option<(payments::Database, T)>) -> Option<(String, T)> {
            let (db, loaded) = prepared?;
            let description = db.describe().to_owned();
            db.finish().await;
            Some((description, loaded))
        }
        Finished {
            payments: done(self.payments).await,
            handoff: done(self.handoff).await,
            accounts: done(self.accounts).await,
        }
    }
}

/// Starts the echo server and each service that has workloads, measures them, and stops them
/// all: the rows (echo first), each service's part (opportunities, contracts-payments,
/// handoff, account-management), and the measured duration (pgbench's).
async fn measure(
    args: &Args,
    workloads: &[Workload],
    url: &str,
    scratch: &tempfile::TempDir,
    loaded: &preload::Loaded,
    dataset: Dataset,
    others: Others<'_>,
) -> anyhow::Result<(Vec<report::Row>, [ServiceRun; 4], Duration)> {
    let Others {
        payments,
        handoff,
        accounts,
    } = others;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).context("generating a signing secret")?;
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let issuer = TokenIssuer::new(&AuthSettings {
        hs256_secret: Some(secret.clone()),
        ..AuthSettings::default()
    })?;
    let day = Duration::from_secs(24 * 3600);
    let token = issuer.mint("bench-manager", &[Role::SalesManager], day);
    let processor = issuer.mint("bench-processor", &[Role::Service], day);
    let setup = Setup {
        shape: Shape {
            concurrency: args.concurrency,
            warmup: Duration::from_secs_f64(args.warmup),
            duration: Duration::from_secs_f64(args.duration),
        },
        connections: args.connections,
        bearer: format!("Bearer {token}").parse()?,
        processor: format!("Bearer {processor}").parse()?,
        secret,
        dataset,
        accounts: args.accounts,
        scratch: scratch.path().to_owned(),
    };
    let deep = deep_page(&dataset, &loaded.pages);

    let mut echo = if workloads.contains(&Workload::Echo) {
        Some(EchoServer::start(&setup, loaded.encoded_bytes).await?)
    } else {
        None
    };
    let opportunity_workloads: Vec<Workload> = workloads
        .iter()
        .copied()
        .filter(|w| *w != Workload::Echo && !w.is_payments() && !w.is_handoff())
        .filter(|w| !w.is_accounts())
        .collect();
    let payment_workloads: Vec<Workload> = workloads
        .iter()
        .copied()
        .filter(|w| w.is_payments())
        .collect();
    let handoff_workloads: Vec<Workload> = workloads
        .iter()
        .copied()
        .filter(|w| w.is_handoff())
        .collect();
    let account_workloads: Vec<Workload> = workloads
        .iter()
        .copied()
        .filter(|w| w.is_accounts())
        .collect();
    if opportunity_workloads.is_empty()
        && payment_workloads.is_empty()
        && handoff_workloads.is_empty()
        && account_workloads.is_empty()
        && let Some(echo) = &mut echo
    {
        echo.measure(&setup).await?;
    }
    let service = if opportunity_workloads.is_empty() {
        ServiceRun::default()
    } else {
        measure_service(&setup, url, &opportunity_workloads, &deep, echo.as_mut()).await?
    };
    let payments_service = match payments {
        Some((db, loaded)) if !payment_workloads.is_empty() => {
            measure_payments(
                &setup,
                db.url(),
                &payment_workloads,
                loaded.payable.clone(),
                echo.as_mut(),
            )
            .await?
        }
        _ => ServiceRun::default(),
    };
    let handoff_service = match handoff {
        Some((db, loaded)) if !handoff_workloads.is_empty() => {
            measure_handoff(
                &setup,
                db.url(),
                &handoff_workloads,
                loaded.drafts.clone(),
                echo.as_mut(),
            )
            .await?
        }
        _ => ServiceRun::default(),
    };
    let accounts_service = match (accounts, payments) {
        (Some((db, loaded)), Some((payments_db, _))) if !account_workloads.is_empty() => {
            measure_accounts(
                &setup,
                db.url(),
                payments_db.url(),
                &account_workloads,
                loaded,
                echo.as_mut(),
            )
            .await?
        }
        _ => ServiceRun::default(),
    };
    // The echo server stops here, before pgbench runs.
    let mut rows: Vec<report::Row> = echo.map(EchoServer::row).into_iter().collect();
    rows.extend(service.rows.iter().cloned());
    rows.extend(payments_service.rows.iter().cloned());
    rows.extend(handoff_service.rows.iter().cloned());
    rows.extend(accounts_service.rows.iter().cloned());
    Ok((
        rows,
        [service, payments_service, handoff_service, accounts_service],
        setup.shape.duration,
    ))
}

/// The echo server, started once and measured just before each service workload: each ratio
/// then divides two measurements taken seconds apart. On a shared machine the capacity left to
/// a run drifts by tens of percent over minutes, which one echo measurement at the start would
/// put into every ratio.
struct EchoServer {
    child: Child,
    channels: Vec<Channel>,
    payload_bytes: usize,
    measurements: Vec<Measurement>,
    peak_rss: Option<u64>,
    since_start: bool,
}

impl EchoServer {
    /// Starts the echo server process and connects to it.
    async fn start(setup: &Setup, payload_bytes: usize) -> anyhow::Result<EchoServer> {
        eprintln!("closeloop bench: echo server");
        let addr = child::free_addr()?;
        let mut child = Child::spawn(
            "echo server",
            &["bench", "--serve-echo", &addr.to_string()],
            &[] as &[(&str, &str)],
            setup.scratch.join("echo.log"),
        )?;
        child.wait_ready(addr, echo::SERVICE).await?;
        let channels = load::connect(addr, setup.connections).await?;
        Ok(EchoServer {
            child,
            channels,
            payload_bytes,
            measurements: Vec::new(),
            peak_rss: None,
            since_start: false,
        })
    }

    /// Drives the echo server once, with `payload_bytes` per call; returns its requests/s.
    async fn measure(&mut self, setup: &Setup) -> anyhow::Result<f64> {
        self.since_start |= !self.child.reset_peak_rss();
        let measured = run_echo(setup, self.channels.clone(), self.payload_bytes).await?;
        self.child.check_alive()?;
        self.peak_rss = self.peak_rss.max(self.child.peak_rss());
        let rate = measured.rate();
        self.measurements.push(measured);
        Ok(rate)
    }

    /// The echo row: every measurement pooled. Stops the server.
    fn row(self) -> report::Row {
        report::Row::new(
            Workload::Echo,
            &Measurement::merge(self.measurements),
            self.peak_rss,
            self.since_start,
        )
    }
}

/// What a service's part of a run measured.
#[derive(Default)]
struct ServiceRun {
    rows: Vec<report::Row>,
    ready_rss: Option<u64>,
    forecast_alone_ms: Option<f64>,
}

/// Starts `closeloop serve <service>` on `url` with the settings `extra` adds (its peers) and
/// waits until its health reports `health` SERVING.
async fn start_service(
    setup: &Setup,
    name: &'static str,
    service: &str,
    url: &str,
    health: &str,
    extra: &[(&str, String)],
) -> anyhow::Result<(Child, std::net::SocketAddr)> {
    eprintln!("closeloop bench: {name}");
    let addr = child::free_addr()?;
    // The concurrency limit is far above the offered load, so the run measures serving, not
    // load shedding.
    let envs = [
        ("CLOSELOOP_SERVER__LISTEN", addr.to_string()),
        ("CLOSELOOP_DATABASE__URL", url.to_owned()),
        ("CLOSELOOP_AUTH__HS256_SECRET", setup.secret.clone()),
        ("CLOSELOOP_TELEMETRY__LOG_FILTER", "warn".to_owned()),
        ("CLOSELOOP_TELEMETRY__OTLP_ENDPOINT", String::new()),
        (
            "CLOSELOOP_SERVER__CONCURRENCY_LIMIT",
            (setup.shape.concurrency * 4).max(1024).to_string(),
        ),
    ];
    let envs: Vec<(&str, String)> = envs.into_iter().chain(extra.iter().cloned()).collect();
    let mut child = Child::spawn(
        name,
        &["serve", service],
        &envs,
        setup.scratch.join(format!("{service}.log")),
    )?;
    child.wait_ready(addr, health).await?;
    Ok((child, addr))
}

/// Measures `workload` on `service` through `measured` (not started until awaited), just after
/// the echo server when there is one.
async fn measure_paired(
    setup: &Setup,
    workload: Workload,
    service: &mut Child,
    echo: Option<&mut EchoServer>,
    measured: impl Future<Output = anyhow::Result<Measurement>>,
) -> anyhow::Result<report::Row> {
    let echo_rate = match echo {
        Some(echo) => Some(echo.measure(setup).await?),
        None => None,
    };
    let since_start = !service.reset_peak_rss();
    let measured = measured.await?;
    service.check_alive()?;
    let mut row = report::Row::new(workload, &measured, service.peak_rss(), since_start);
    row.paired_echo_per_s = echo_rate;
    Ok(row)
}

/// Starts the opportunities service on `url`, drives each of `workloads` in turn, each just
/// after the echo server when there is one, and stops it.
async fn measure_service(
    setup: &Setup,
    url: &str,
    workloads: &[Workload],
    deep: &DeepPage,
    mut echo: Option<&mut EchoServer>,
) -> anyhow::Result<ServiceRun> {
    let (mut service, addr) = start_service(
        setup,
        "opportunities service",
        "opportunities",
        url,
        closeloop_opportunities::GRPC_SERVICE,
        &[],
    )
    .await?;
    let mut run = ServiceRun {
        ready_rss: service.peak_rss(),
        ..ServiceRun::default()
    };
    let clients: Vec<OpportunityServiceClient<Channel>> = load::connect(addr, setup.connections)
        .await?
        .into_iter()
        .map(OpportunityServiceClient::new)
        .collect();
    for &workload in workloads {
        eprintln!("  {}", report::label(workload, deep.pages));
        if workload == Workload::Forecast {
            run.forecast_alone_ms = Some(forecast_alone_ms(setup, clients[0].clone()).await?);
        }
        let measured = run_service(workload, setup, &clients, deep);
        let row =
            measure_paired(setup, workload, &mut service, echo.as_deref_mut(), measured).await?;
        run.rows.push(row);
    }
    Ok(run)
}

/// Starts the contracts-payments service on `url`, drives each of `workloads` in turn, each
/// just after the echo server when there is one, and stops it.
async fn measure_payments(
    setup: &Setup,
    url: &str,
    workloads: &[Workload],
    payable: Arc<Vec<Payable>>,
    mut echo: Option<&mut EchoServer>,
) -> anyhow::Result<ServiceRun> {
    let (mut service, addr) = start_service(
        setup,
        "contracts-payments service",
        closeloop_contracts_payments::NAME,
        url,
        "closeloop.contracts.v1.PaymentService",
        &[],
    )
    .await?;
    let mut run = ServiceRun {
        ready_rss: service.peak_rss(),
        ..ServiceRun::default()
    };
    let clients: Vec<PaymentServiceClient<Channel>> = load::connect(addr, setup.connections)
        .await?
        .into_iter()
        .map(PaymentServiceClient::new)
        .collect();
    for &workload in workloads {
        eprintln!("  {}", report::label(workload, 0));
        let measured = run_payments(workload, setup, &clients, payable.clone());
        let row =
            measure_paired(setup, workload, &mut service, echo.as_deref_mut(), measured).await?;
        run.rows.push(row);
    }
    Ok(run)
}

/// Starts the handoff service on `url`, drives each of `workloads` in turn, each just after the
/// echo server when there is one, and stops it.
async fn measure_handoff(
    setup: &Setup,
    url: &str,
    workloads: &[Workload],
    drafts: Arc<Vec<String>>,
    mut echo: Option<&mut EchoServer>,
) -> anyhow::Result<ServiceRun> {
    let (mut service, addr) = start_service(
        setup,
        "handoff service",
        closeloop_handoff::NAME,
        url,
        closeloop_handoff::GRPC_SERVICES[0],
        &[],
    )
    .await?;
    let mut run = ServiceRun {
        ready_rss: service.peak_rss(),
        ..ServiceRun::default()
    };
    let clients: Vec<HandoffServiceClient<Channel>> = load::connect(addr, setup.connections)
        .await?
        .into_iter()
        .map(HandoffServiceClient::new)
        .collect();
    for &workload in workloads {
        eprintln!("  {}", report::label(workload, 0));
        let measured = run_handoff(workload, setup, &clients, drafts.clone());
        let row =
            measure_paired(setup, workload, &mut service, echo.as_deref_mut(), measured).await?;
        run.rows.push(row);
    }
    Ok(run)
}

/// Starts contracts-payments on `payments_url` (not measured: the peer whose balances
/// GetAccountHealth reads) and account-management on `url` wired to it, as `closeloop up` wires
/// them; drives each of `workloads` in turn, each just after the echo server when there is one,
/// and stops both.
async fn measure_accounts(
    setup: &Setup,
    url: &str,
    payments_url: &str,
    workloads: &[Workload],
    loaded: &accounts::Loaded,
    mut echo: Option<&mut EchoServer>,
) -> anyhow::Result<ServiceRun> {
    let (mut peer, peer_addr) = start_service(
        setup,
        "contracts-payments service (account-management's peer)",
        closeloop_contracts_payments::NAME,
        payments_url,
        "closeloop.contracts.v1.PaymentService",
        &[],
    )
    .await?;
    let (mut service, addr) = start_service(
        setup,
        "account-management service",
        closeloop_account_management::NAME,
        url,
        closeloop_account_management::GRPC_SERVICES[0],
        &[("CLOSELOOP_PEERS__CONTRACTS", format!("http://{peer_addr}"))],
    )
    .await?;
    let mut run = ServiceRun {
        ready_rss: service.peak_rss(),
        ..ServiceRun::default()
    };
    let clients: Vec<AccountServiceClient<Channel>> = load::connect(addr, setup.connections)
        .await?
        .into_iter()
        .map(AccountServiceClient::new)
        .collect();
    for &workload in workloads {
        eprintln!("  {}", report::label(workload, 0));
        let measured = run_accounts(workload, setup, &clients, loaded);
        let row =
            measure_paired(setup, workload, &mut service, echo.as_deref_mut(), measured).await?;
        peer.check_alive()?;
        run.rows.push(row);
    }
    Ok(run)
}

/// The deep-page workload's page: 1,000 pages in, or the deepest page the data set has.
#[derive(Debug, Clone)]
struct DeepPage {
    /// Pages before it.
    pages: u64,
    /// Its page token.
    token: String,
}

fn deep_page(dataset: &Dataset, tokens: &PageTokens) -> DeepPage {
    // Whole pages that can be skipped with items still left for the page read.
    let pages = DEEP_PAGES.min((dataset.size - 1) / PAGE_SIZE);
    let token = if pages == 0 {
        String::new()
    } else {
        // Ids sort like indexes, so the last item of page `pages` is opportunity
        // `pages × 50 − 1`; the token after it is the one that page returned.
        tokens.encode(
            &dataset.id(pages * PAGE_SIZE - 1),
            ListFilter::default().fingerprint(),
        )
    };
    DeepPage { pages, token }
}

async fn run_echo(
    setup: &Setup,
    channels: Vec<Channel>,
    payload_bytes: usize,
) -> anyhow::Result<Measurement> {
    use echo::pb::{EchoMessage, echo_client::EchoClient};
    let clients: Vec<EchoClient<Channel>> = channels.into_iter().map(EchoClient::new).collect();
    let payload = prost::bytes::Bytes::from(vec![0xa5; payload_bytes]);
    let bearer = setup.bearer.clone();
    load::drive(setup.shape, move |caller, _| {
        let mut client = clients[caller % clients.len()].clone();
        let request = authorized(
            EchoMessage {
                payload: payload.clone(),
            },
            &bearer,
        );
        async move { client.echo(request).await.map(drop) }
    })
    .await
}

async fn run_service(
    workload: Workload,
    setup: &Setup,
    clients: &[OpportunityServiceClient<Channel>],
    deep: &DeepPage,
) -> anyhow::Result<Measurement> {
    let clients = clients.to_vec();
    let pick = move |caller: usize| clients[caller % clients.len()].clone();
    let bearer = setup.bearer.clone();
    let dataset = setup.dataset;
    match workload {
        Workload::Get => {
            load::drive(setup.shape, move |caller, seq| {
                let mut client = pick(caller);
                let index = rng::mix(((caller as u64) << 40) ^ seq) % dataset.size;
                let request = authorized(
                    pb::GetOpportunityRequest {
                        name: format!("opportunities/{}", dataset.id(index)),
                    },
                    &bearer,
                );
                async move { client.get_opportunity(request).await.map(drop) }
            })
            .await
        }
        Workload::Create => {
            let opportunities: Arc<Vec<pb::Opportunity>> = Arc::new(
                (0..CREATE_REQUESTS)
                    .map(|seq| dataset.create_request(seq))
                    .collect(),
            );
            load::drive(setup.shape, move |caller, seq| {
                let mut client = pick(caller);
                let n = opportunities.len() as u64;
                let opportunity =
                    opportunities[((caller as u64 * 7919 + seq) % n) as usize].clone();
                let request = authorized(
                    pb::CreateOpportunityRequest {
                        opportunity: Some(opportunity),
                        ..Default::default()
                    },
                    &bearer,
                );
                async move { client.create_opportunity(request).await.map(drop) }
            })
            .await
        }
        Workload::ListFirst | Workload::ListDeep => {
            let page_token = if workload == Workload::ListDeep {
                deep.token.clone()
            } else {
                String::new()
            };
            load::drive(setup.shape, move |caller, _| {
                let mut client = pick(caller);
                let request = authorized(
                    pb::ListOpportunitiesRequest {
                        page_size: PAGE_SIZE as i32,
                        page_token: page_token.clone(),
                        ..Default::default()
                    },
                    &bearer,
                );
                async move {
                    let page = client.list_opportunities(request).await?.into_inner();
                    if page.opportunities.len() == PAGE_SIZE as usize {
                        Ok(())
                    } else {
                        Err(tonic::Status::data_loss(format!(
                            "a page of {} opportunities instead of {PAGE_SIZE}",
                            page.opportunities.len()
                        )))
                    }
                }
            })
            .await
        }
        Workload::Forecast => {
            let request = forecast_request();
            load::drive(setup.shape, move |caller, _| {
                let mut client = pick(caller);
                let request = authorized(request.clone(), &bearer);
                async move { client.get_forecast(request).await.map(drop) }
            })
            .await
        }
        Workload::Echo => unreachable!("the echo workload runs against the echo server"),
        Workload::Balance | Workload::RecordPayment => {
            unreachable!("{workload:?} runs against the contracts-payments service")
        }
        Workload::GetHandoff | Workload::UpdateHandoff => {
            unreachable!("{workload:?} runs against the handoff service")
        }
        Workload::GetAccountHealth | Workload::ListSalespersonFeed => {
            unreachable!("{workload:?} runs against the account-management service")
        }
    }
}

async fn run_payments(
    workload: Workload,
    setup: &Setup,
    clients: &[PaymentServiceClient<Channel>],
    payable: Arc<Vec<Payable>>,
) -> anyhow::Result<Measurement> {
    let clients = clients.to_vec();
    let pick = move |caller: usize| clients[caller % clients.len()].clone();
    let accounts = setup.accounts;
    match workload {
        Workload::Balance => {
            let bearer = setup.bearer.clone();
            load::drive(setup.shape, move |caller, seq| {
                let mut client = pick(caller);
                let index = rng::mix(((caller as u64) << 40) ^ seq) % accounts;
                let request = authorized(
                    cpb::GetAccountBalanceRequest {
                        account_id: Accounts::account_id(index),
                        currency_code: String::new(),
                    },
                    &bearer,
                );
                async move {
                    let balance = client.get_account_balance(request).await?.into_inner();
                    if balance.currency_code.is_empty() {
                        Err(tonic::Status::data_loss(format!(
                            "no currency in the balance of {}: the account has no contracts",
                            balance.account_id
                        )))
                    } else {
                        Ok(())
                    }
                }
            })
            .await
        }
        Workload::RecordPayment => {
            if payable.is_empty() {
                bail!("no preloaded invoice accepts a payment");
            }
            let bearer = setup.processor.clone();
            // Request ids unique to this run, so no payment is a repeat of an earlier one.
            let run = uuid::Uuid::now_v7();
            load::drive(setup.shape, move |caller, seq| {
                let mut client = pick(caller);
                let invoice = &payable
                    [(rng::mix(((caller as u64) << 40) ^ seq) % payable.len() as u64) as usize];
                let request_id = payments::request_id(&run, caller, seq);
                let request = authorized(
                    cpb::RecordPaymentAttemptRequest {
                        parent: invoice.name.clone(),
                        payment_attempt: Some(cpb::PaymentAttempt {
                            result: cpb::PaymentResult::Succeeded.into(),
                            amount: Some(common::Money {
                                currency_code: invoice.currency.clone(),
                                amount_minor: 1,
                            }),
                            processor: payments::PROCESSOR.to_owned(),
                            processor_reference: format!("ch_{request_id}"),
                            payment_method: "card".to_owned(),
                            ..Default::default()
                        }),
                        request_id,
                    },
                    &bearer,
                );
                async move { client.record_payment_attempt(request).await.map(drop) }
            })
            .await
        }
        _ => unreachable!("{workload:?} is not a contracts-payments workload"),
    }
}

async fn run_handoff(
    workload: Workload,
    setup: &Setup,
    clients: &[HandoffServiceClient<Channel>],
    drafts: Arc<Vec<String>>,
) -> anyhow::Result<Measurement> {
    if drafts.is_empty() {
        bail!("no preloaded handoff");
    }
    let clients = clients.to_vec();
    let pick = move |caller: usize| clients[caller % clients.len()].clone();
    let bearer = setup.bearer.clone();
    let draft = move |caller: usize, seq: u64| {
        drafts[(rng::mix(((caller as u64) << 40) ^ seq) % drafts.len() as u64) as usize].clone()
    };
    match workload {
        Workload::GetHandoff => {
            load::drive(setup.shape, move |caller, seq| {
                let mut client = pick(caller);
                let request = authorized(
                    hpb::GetHandoffRequest {
                        name: draft(caller, seq),
                    },
                    &bearer,
                );
                async move { client.get_handoff(request).await.map(drop) }
            })
            .await
        }
        Workload::UpdateHandoff => {
            load::drive(setup.shape, move |caller, seq| {
                let mut client = pick(caller);
                let name = draft(caller, seq);
                // Every other call replaces the customer needs, the rest the notes.
                let (handoff, path) = if seq % 2 == 0 {
                    (
                        hpb::Handoff {
                            name,
                            customer_needs: vec![
                                hpb::CustomerNeed {
                                    description: "Invoices approved without paper".to_owned(),
                                    details: format!("Raised in call {seq} of caller {caller}"),
                                },
                                hpb::CustomerNeed {
                                    description: "Month-end close in three days".to_owned(),
                                    details: "Finance team of 12".to_owned(),
                                },
                            ],
                            ..Default::default()
                        },
                        "customer_needs",
                    )
                } else {
                    (
                        hpb::Handoff {
                            name,
                            notes: format!(
                                "Kick-off agreed for next month; caller {caller}, call {seq}."
                            ),
                            ..Default::default()
                        },
                        "notes",
                    )
                };
                let request = authorized(
                    hpb::UpdateHandoffRequest {
                        handoff: Some(handoff),
                        update_mask: Some(prost_types::FieldMask {
                            paths: vec![path.to_owned()],
                        }),
                        request_id: String::new(),
                    },
                    &bearer,
                );
                async move { client.update_handoff(request).await.map(drop) }
            })
            .await
        }
        _ => unreachable!("{workload:?} is not a handoff workload"),
    }
}

async fn run_accounts(
    workload: Workload,
    setup: &Setup,
    clients: &[AccountServiceClient<Channel>],
    loaded: &accounts::Loaded,
) -> anyhow::Result<Measurement> {
    let names = loaded.accounts.clone();
    if names.is_empty() {
        bail!("no preloaded account");
    }
    let clients = clients.to_vec();
    let pick = move |caller: usize| clients[caller % clients.len()].clone();
    let bearer = setup.bearer.clone();
    match workload {
        Workload::GetAccountHealth => {
            load::drive(setup.shape, move |caller, seq| {
                let mut client = pick(caller);
                let name = names
                    [(rng::mix(((caller as u64) << 40) ^ seq) % names.len() as u64) as usize]
                    .clone();
                let request = authorized(apb::GetAccountHealthRequest { name }, &bearer);
                async move {
                    let health = client.get_account_health(request).await?.into_inner();
                    // Health answers without the balance when contracts-payments does not: that
                    // would measure a different call.
                    if health.payment_data_unavailable {
                        let why = health
                            .factors
                            .iter()
                            .find(|f| !f.available)
                            .map(|f| f.explanation.clone())
                            .unwrap_or_default();
                        Err(tonic::Status::data_loss(format!(
                            "health of {} without the balance: {why}",
                            health.account
                        )))
                    } else {
                        Ok(())
                    }
                }
            })
            .await
        }
        Workload::ListSalespersonFeed => {
            let sizes = loaded.feed_sizes.clone();
            load::drive(setup.shape, move |caller, seq| {
                let mut client = pick(caller);
                let n = rng::mix(((caller as u64) << 40) ^ seq) % sizes.len() as u64;
                let expected = sizes[n as usize].min(PAGE_SIZE) as usize;
                let request = authorized(
                    apb::ListSalespersonFeedRequest {
                        salesperson: accounts::salesperson(n),
                        page_size: PAGE_SIZE as i32,
                        ..Default::default()
                    },
                    &bearer,
                );
                async move {
                    let page = client.list_salesperson_feed(request).await?.into_inner();
                    if page.entries.len() == expected {
                        Ok(())
                    } else {
                        Err(tonic::Status::data_loss(format!(
                            "a first page of {} entries instead of {expected}",
                            page.entries.len()
                        )))
                    }
                }
            })
            .await
        }
        _ => unreachable!("{workload:?} is not an account-management workload"),
    }
}

/// A forecast over every preloaded opportunity in the main currency: the generated expected
/// and close dates all fall within a year and a half of now.
fn forecast_request() -> pb::GetForecastRequest {
    let today = date_of_micros(now_micros());
    pb::GetForecastRequest {
        owners: Vec::new(),
        period: Some(date_range_to_proto((
            today - time::Duration::days(2 * 365),
            today + time::Duration::days(2 * 365),
        ))),
        currency_code: preload::MAIN_CURRENCY.to_owned(),
    }
}

/// The median latency of GetForecast called alone (what one person asking for the report
/// waits), after one untimed call, in ms.
async fn forecast_alone_ms(
    setup: &Setup,
    mut client: OpportunityServiceClient<Channel>,
) -> anyhow::Result<f64> {
    let request = forecast_request();
    let mut times = Vec::with_capacity(FORECAST_PROBES);
    for probe in 0..=FORECAST_PROBES {
        let started = Instant::now();
        client
            .get_forecast(setup.request(request.clone()))
            .await
            .context("GetForecast")?;
        if probe > 0 {
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}
