//! `closeloop chaos`: nothing lost, nothing twice, under faults. The four services run as
//! separate processes (`closeloop serve NAME`), wired as `closeloop up` wires them, while loops
//! run through them concurrently ([`crate::demo`], quietly) and a random service is killed
//! (SIGKILL) and started again on the same port and database every few seconds. Then one
//! service stays down for longer than the relays' backoff cap, and what its callers owe it is
//! seen to drain once it is back. Last, every owed step is counted over gRPC: for every won deal
//! one contract, for every order one handoff, for every accepted handoff one account (one per
//! customer), for every expansion and referral one opportunity.
//!
//! The loops live through the kills because each call is sent again with the same `request_id`
//! while its service is away ([`crate::demo::Demo`]); the calls the services owe each other,
//! because their outboxes keep them until the callee confirms.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use closeloop_kit::Role;
use closeloop_kit::auth::TokenIssuer;
use closeloop_kit::db::Db;
use closeloop_kit::host::ServiceDef;
use closeloop_kit::outbox;
use closeloop_kit::settings::DatabaseSettings;
use closeloop_proto::accounts::v1 as apb;
use closeloop_proto::contracts::v1 as cpb;
use closeloop_proto::handoff::v1 as hpb;
use closeloop_proto::opportunities::v1 as pb;
use sqlx::Connection;
use tokio::task::JoinSet;
use tonic::metadata::AsciiMetadataValue;

use crate::bench::child::{self, Child};
use crate::demo::{self, Clients, Demo, Progress};
use crate::suite;

/// `closeloop chaos` options.
#[derive(clap::Args)]
pub struct Args {
    /// Loops to drive at least; more start while kills remain, so that every kill meets traffic.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    loops: u64,
    /// Loops in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=256))]
    concurrency: u64,
    /// Services to kill (SIGKILL) and start again, one after the other.
    #[arg(long, visible_alias = "cycles", default_value_t = 10)]
    kills: u64,
    /// Pause between a killed service being back and the next kill.
    #[arg(long, default_value_t = 2000)]
    kill_every_ms: u64,
    /// The relays' backoff cap in the services (their `outbox.max_backoff_ms`), short so that a
    /// run is short.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    max_backoff_ms: u64,
    /// How long one service stays down after the kills; longer than --max-backoff-ms. Default:
    /// twice the cap.
    #[arg(long)]
    outage_ms: Option<u64>,
    /// Longest a hop, or a call that keeps failing while its service is away, may take before
    /// its loop fails.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout_secs: u64,
    /// Where the databases, the services' logs and the signing secret go. Default: a temporary
    /// folder, removed after a run that passed.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Runs the services on PostgreSQL: the URL of a database on the server to connect to, e.g.
    /// postgres://postgres@127.0.0.1:5432/postgres. One database per service is created beside
    /// it for the run and dropped after.
    #[arg(long)]
    postgres: Option<String>,
}

/// The service that receives the first owed call of every loop (CreateContract): the one kept
/// down past the backoff cap, so that what is owed to it is sure to pile up.
const OUTAGE_SERVICE: &str = closeloop_contracts_payments::SERVICE.name;

/// `closeloop chaos`.
///
/// # Errors
/// When the services cannot be started, or a loop failed, or a step was lost or made twice: the
/// error names them.
pub async fn run(config: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let cap = Duration::from_millis(args.max_backoff_ms);
    let outage = Duration::from_millis(args.outage_ms.unwrap_or(2 * args.max_backoff_ms));
    if outage <= cap {
        bail!("--outage-ms must be longer than --max-backoff-ms: the point is to outlast the cap");
    }
    let (data_dir, temporary) = match &args.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the data folder {}", dir.display()))?;
            (dir.canonicalize()?, None)
        }
        None => {
            let dir = tempfile::tempdir().context("creating a temporary data folder")?;
            (dir.path().to_path_buf(), Some(dir))
        }
    };
    let run = demo::hex(&demo::random::<4>()?);
    let databases = Databases::create(args.postgres.as_deref(), &run, &data_dir).await?;
    let result = async {
        let mut suite = Suite::start(config, &data_dir, &databases, cap).await?;
        let result = chaos(&mut suite, config, &data_dir, &run, &args, outage, cap).await;
        // Killed, not stopped: the data is scratch, and the run is over.
        drop(suite);
        result
    }
    .await;
    databases.drop_created().await;
    match (&result, temporary) {
        (Ok(()), _) => {}
        (Err(_), Some(dir)) => {
            let kept = dir.keep();
            eprintln!(
                "closeloop chaos: the services' logs and databases are kept in {}",
                kept.display()
            );
        }
        (Err(_), None) => eprintln!(
            "closeloop chaos: the services' logs are in {}",
            data_dir.display()
        ),
    }
    result
}

/// The run itself, against the started suite.
async fn chaos(
    suite: &mut Suite,
    config: Option<&Path>,
    data_dir: &Path,
    run: &str,
    args: &Args,
    outage: Duration,
    cap: Duration,
) -> anyhow::Result<()> {
    let issuer = Arc::new(suite::issuer(config, data_dir)?);
    let clients = Clients::new(&suite.addresses())?;
    let deadline = Duration::from_secs(args.timeout_secs);
    let looper = Looper {
        clients: clients.clone(),
        issuer: issuer.clone(),
        run: run.to_owned(),
        next: Arc::default(),
        deadline,
    };
    println!(
        "closeloop chaos: run {run}: at least {} loop(s), {} at once, {} kill(s) every {} ms, \
         then {} down for {} ms (relay backoff cap {} ms)",
        args.loops,
        args.concurrency,
        args.kills,
        args.kill_every_ms,
        OUTAGE_SERVICE,
        outage.as_millis(),
        cap.as_millis()
    );
    let killing = AtomicBool::new(true);
    let started = Instant::now();
    let (mut loops, killed) = tokio::join!(
        drive(&looper, args.loops, args.concurrency, &killing),
        async {
            let killed = kill(suite, args, outage, deadline, &looper).await;
            killing.store(false, Ordering::SeqCst);
            killed
        }
    );
    let (outage, witness) = killed?;
    loops.push(witness.await.unwrap_or_else(|e| Loop::panicked(&e)));

    let customers: Vec<String> = loops.iter().filter_map(|l| l.customer.clone()).collect();
    let auditor = bearer(&issuer, "chaos-audit", Role::Service)?;
    let audit = audit_until_settled(&clients, &auditor, &customers, deadline).await?;
    let parked = suite.parked().await?;
    let failed: Vec<String> = loops
        .iter()
        .filter_map(|l| l.outcome.as_ref().err().map(|e| format!("{e:#}")))
        .collect();
    let slowest = loops
        .iter()
        .filter_map(|l| {
            let hops = l.outcome.as_ref().ok()?;
            let (hop, took) = hops.iter().max_by_key(|(_, took)| *took)?;
            Some((*took, *hop, l.customer.as_deref().unwrap_or("")))
        })
        .max_by_key(|(took, _, _)| *took);

    println!();
    println!(
        "The run took {:.1} s. Counted over gRPC: {}",
        started.elapsed().as_secs_f64(),
        audit.counts()
    );
    println!("{outage}");
    println!(
        "loops        {} ({} closed, {} failed)",
        loops.len(),
        loops.len() - failed.len(),
        failed.len()
    );
    println!("kills        {}", args.kills);
    println!("lost         {}", audit.lost.len());
    println!("duplicated   {}", audit.duplicated.len());
    println!("parked       {}", parked.len());
    match slowest {
        Some((took, hop, customer)) => println!(
            "slowest hop  {:.3} s ({hop}, customer {customer})",
            took.as_secs_f64()
        ),
        None => println!("slowest hop  none: no loop closed"),
    }

    let mut problems = Vec::new();
    for (what, list) in [
        ("lost", &audit.lost),
        ("duplicated", &audit.duplicated),
        ("parked", &parked),
        ("failed loops", &failed),
    ] {
        if !list.is_empty() {
            problems.push(format!("{what} ({}): {}", list.len(), first(list, 10)));
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    Ok(())
}

/// The first `n` of `items`, joined, saying how many more there are.
fn first(items: &[String], n: usize) -> String {
    let mut text = items.iter().take(n).cloned().collect::<Vec<_>>().join("; ");
    if items.len() > n {
        text.push_str(&format!("; and {} more", items.len() - n));
    }
    text
}

/// A random index below `n`.
fn random_below(n: usize) -> anyhow::Result<usize> {
    Ok((u64::from_le_bytes(demo::random::<8>()?) % n as u64) as usize)
}

/// The bearer header of a token for `subject` with `role`, valid for a day.
fn bearer(issuer: &TokenIssuer, subject: &str, role: Role) -> anyhow::Result<AsciiMetadataValue> {
    let token = issuer.mint(subject, &[role], Duration::from_secs(24 * 3600));
    Ok(format!("Bearer {token}").parse()?)
}

/// Where the services keep their data: a SQLite file each in the data folder, or a PostgreSQL
/// database each that this run created.
struct Databases {
    urls: Vec<String>,
    /// The PostgreSQL server's URL the databases were created from, and their names.
    created: Option<(String, Vec<String>)>,
}

impl Databases {
    /// A database per service of [`suite::SERVICES`] for the run `run`.
    async fn create(postgres: Option<&str>, run: &str, data_dir: &Path) -> anyhow::Result<Self> {
        let Some(admin_url) = postgres else {
            let urls = suite::SERVICES
                .iter()
                .map(|def| {
                    format!(
                        "sqlite://{}",
                        data_dir.join(format!("{}.db", def.name)).display()
                    )
                })
                .collect();
            return Ok(Databases {
                urls,
                created: None,
            });
        };
        let Some((base, _)) = admin_url
            .rsplit_once('/')
            .filter(|_| admin_url.starts_with("postgres"))
        else {
            bail!("--postgres {admin_url}: expected postgres://USER@HOST:PORT/DATABASE");
        };
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .with_context(|| format!("connecting to {admin_url}"))?;
        let mut names = Vec::new();
        let mut urls = Vec::new();
        for def in suite::SERVICES {
            let name = format!("closeloop_chaos_{run}_{}", def.name.replace('-', "_"));
            let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut admin)
                .await
                .with_context(|| format!("creating the database {name}"));
            if let Err(e) = created {
                let _ = admin.close().await;
                Databases {
                    urls: Vec::new(),
                    created: Some((admin_url.to_owned(), names)),
                }
                .drop_created()
                .await;
                return Err(e);
            }
            urls.push(format!("{base}/{name}"));
            names.push(name);
        }
        let _ = admin.close().await;
        Ok(Databases {
            urls,
            created: Some((admin_url.to_owned(), names)),
        })
    }

    /// The database of the service `def`.
    fn url(&self, def: &ServiceDef) -> String {
        suite::SERVICES
            .iter()
            .position(|d| d.name == def.name)
            .and_then(|i| self.urls.get(i))
            .cloned()
            .unwrap_or_default()
    }

    /// Drops the PostgreSQL databases this run created (the services are gone by then).
    async fn drop_created(self) {
        let Some((admin_url, names)) = self.created else {
            return;
        };
        let dropped = async {
            let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
            for name in &names {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await?;
            }
            admin.close().await
        };
        if let Err(e) = dropped.await {
            eprintln!(
                "closeloop chaos: could not drop the databases {}: {e}",
                names.join(", ")
            );
        }
    }
}

/// One service of the suite: how to start it, where it listens, and its process while it runs.
struct Service {
    def: &'static ServiceDef,
    addr: SocketAddr,
    args: Vec<String>,
    /// Its settings as `closeloop serve` reads them: `CLOSELOOP_…` variables.
    env: Vec<(String, String)>,
    database: DatabaseSettings,
    log: PathBuf,
    process: Option<Child>,
}

impl Service {
    /// Starts its process and waits until its health service says SERVING.
    async fn start(&mut self) -> anyhow::Result<()> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let mut process = Child::spawn(self.def.name, &args, &self.env, self.log.clone())?;
        process.wait_ready(self.addr, self.def.grpc[0]).await?;
        self.process = Some(process);
        Ok(())
    }

    /// Kills its process (SIGKILL: no drain, no flush, as a crash or an OOM kill would).
    fn kill(&mut self) {
        self.process = None;
    }
}

/// The four services, each a process of its own.
struct Suite {
    services: Vec<Service>,
}

impl Suite {
    /// Starts every service on a free port with its database, wired to the others as
    /// `closeloop up` wires them ([`suite::wire`]), its relays backing off at most `cap`.
    async fn start(
        config: Option<&Path>,
        data_dir: &Path,
        databases: &Databases,
        cap: Duration,
    ) -> anyhow::Result<Suite> {
        let addrs = suite::SERVICES
            .iter()
            .map(|_| child::free_addr())
            .collect::<anyhow::Result<Vec<_>>>()?;
        let ports: Vec<u16> = addrs.iter().map(SocketAddr::port).collect();
        let wired = suite::wire(config, data_dir, "127.0.0.1", &ports, |def| {
            databases.url(def)
        })?;
        // The children are given the settings file this process read, if any (they do not see
        // `CLOSELOOP_CONFIG`), and everything `wire` decided as variables over it.
        let file = config.map(Path::to_path_buf).or_else(|| {
            std::env::var_os(closeloop_kit::settings::CONFIG_FILE_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        let mut services = Vec::new();
        for ((def, settings), addr) in wired.into_iter().zip(addrs) {
            let mut args = Vec::new();
            if let Some(file) = &file {
                args.extend(["--config".to_owned(), file.display().to_string()]);
            }
            args.extend(["serve".to_owned(), def.name.to_owned()]);
            let common = &settings.common;
            let mut env = vec![
                ("CLOSELOOP_SERVER__LISTEN", common.server.listen.clone()),
                ("CLOSELOOP_DATABASE__URL", common.database.url.clone()),
                (
                    "CLOSELOOP_OUTBOX__MAX_BACKOFF_MS",
                    cap.as_millis().to_string(),
                ),
                ("CLOSELOOP_TELEMETRY__LOG_FILTER", "warn".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<Vec<_>>();
            if let Some(secret) = &common.auth.hs256_secret {
                env.push(("CLOSELOOP_AUTH__HS256_SECRET".to_owned(), secret.clone()));
            }
            for (peer, endpoint) in &settings.peers.endpoints {
                env.push((
                    format!("CLOSELOOP_PEERS__{}", peer.to_uppercase()),
                    endpoint.clone(),
                ));
            }
            services.push(Service {
                def,
                addr,
                args,
                env,
                database: common.database.clone(),
                log: data_dir.join(format!("{}.log", def.name)),
                process: None,
            });
        }
        let mut suite = Suite { services };
        for service in &mut suite.services {
            service.start().await?;
        }
        Ok(suite)
    }

    /// The services' endpoints, in the order [`Clients::new`] takes them.
    fn addresses(&self) -> [String; 4] {
        let address = |i: usize| format!("http://{}", self.services[i].addr);
        [address(0), address(1), address(2), address(3)]
    }

    /// What the other services owe `callee` and have not delivered, summed over their outboxes,
    /// opened from `callers` ([`Suite::callers`]).
    async fn owed(callers: &[(Db, &'static str)]) -> anyhow::Result<outbox::Backlog> {
        let mut owed = outbox::Backlog::default();
        for (db, peer) in callers {
            let b = outbox::backlog(db, Some(peer)).await?;
            owed.pending += b.pending;
            owed.parked += b.parked;
            owed.lag = owed.lag.max(b.lag);
        }
        Ok(owed)
    }

    /// The calls a service owed and its peer refused for good (parked), each named: under
    /// faults alone a peer never should.
    async fn parked(&self) -> anyhow::Result<Vec<String>> {
        let mut parked = Vec::new();
        for service in &self.services {
            let db = Db::connect(&service.database)
                .await
                .with_context(|| format!("opening the database of {}", service.def.name))?;
            let found = outbox::parked(&db, 100).await;
            db.close().await;
            parked.extend(found?.into_iter().map(|p| {
                format!(
                    "{}'s {} {} refused: {} {}",
                    service.def.name, p.topic, p.id, p.code, p.message
                )
            }));
        }
        Ok(parked)
    }

    /// The databases of the services that owe calls to the service `callee`, each with the
    /// name it gives that peer.
    async fn callers(&self, callee: usize) -> anyhow::Result<Vec<(Db, &'static str)>> {
        let serves = self.services[callee].def.grpc;
        let mut callers = Vec::new();
        for service in &self.services {
            for peer in service.def.peers {
                if peer.services.iter().any(|s| serves.contains(s)) {
                    let db = Db::connect(&service.database)
                        .await
                        .with_context(|| format!("opening the database of {}", service.def.name))?;
                    callers.push((db, peer.name));
                }
            }
        }
        Ok(callers)
    }
}

/// Kills a random service `--kills` times, starting it again each time, then keeps
/// [`OUTAGE_SERVICE`] down for `outage` and at least until something is owed to it, and waits
/// for that to drain once it is back: what the outage showed, and the loop started to owe it
/// something.
async fn kill(
    suite: &mut Suite,
    args: &Args,
    outage: Duration,
    deadline: Duration,
    looper: &Looper,
) -> anyhow::Result<(String, tokio::task::JoinHandle<Loop>)> {
    let count = suite.services.len();
    for k in 1..=args.kills {
        tokio::time::sleep(Duration::from_millis(args.kill_every_ms)).await;
        let service = &mut suite.services[random_below(count)?];
        service.kill();
        let killed = Instant::now();
        service.start().await?;
        println!(
            "kill {k}/{}: {} killed, serving again after {} ms",
            args.kills,
            service.def.name,
            killed.elapsed().as_millis()
        );
    }

    let callee = suite
        .services
        .iter()
        .position(|s| s.def.name == OUTAGE_SERVICE)
        .context("the outage's service is in the suite")?;
    let callers = suite.callers(callee).await?;
    let drained = async {
        // What the kills left in flight drains first (a caller killed mid-delivery holds its
        // commands for the outbox lease), so that what piles up next is the outage's alone.
        drain(&callers, deadline, "before the outage").await?;
        suite.services[callee].kill();
        let down = Instant::now();
        // Its first hop is owed to the service that is down: something is sure to pile up.
        let witness = tokio::spawn(looper.clone().one());
        let owed = loop {
            let owed = Suite::owed(&callers).await?;
            if owed.pending > 0 && down.elapsed() >= outage {
                break owed;
            }
            if down.elapsed() > deadline {
                bail!(
                    "nothing was owed to {OUTAGE_SERVICE} within {} s of it going down",
                    deadline.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let down_for = down.elapsed();
        suite.services[callee].start().await?;
        let back = Instant::now();
        drain(&callers, deadline, "after it was back").await?;
        let summary = format!(
            "outage       {OUTAGE_SERVICE} down {:.1} s: {} call(s) owed to it, the oldest \
             {:.1} s old; drained {:.1} s after it was back",
            down_for.as_secs_f64(),
            owed.pending,
            owed.lag.as_secs_f64(),
            back.elapsed().as_secs_f64()
        );
        Ok((summary, witness))
    }
    .await;
    for (db, _) in &callers {
        db.close().await;
    }
    drained
}

/// Waits until `callers` owe [`OUTAGE_SERVICE`] nothing, `deadline` at most (`when` says when,
/// for the error).
async fn drain(
    callers: &[(Db, &'static str)],
    deadline: Duration,
    when: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while Suite::owed(callers).await?.pending > 0 {
        if started.elapsed() > deadline {
            bail!(
                "what was owed to {OUTAGE_SERVICE} did not drain within {} s {when}",
                deadline.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Starts loops for distinct customers, each with people of its own.
#[derive(Clone)]
struct Looper {
    clients: Clients,
    issuer: Arc<TokenIssuer>,
    run: String,
    next: Arc<AtomicUsize>,
    deadline: Duration,
}

/// One loop: its customer, and each hop's time or why it failed.
struct Loop {
    customer: Option<String>,
    outcome: anyhow::Result<Vec<(&'static str, Duration)>>,
}

impl Loop {
    fn panicked(e: &tokio::task::JoinError) -> Loop {
        Loop {
            customer: None,
            outcome: Err(anyhow::anyhow!("a loop's task ended: {e}")),
        }
    }
}

impl Looper {
    /// Drives the next loop to its end.
    async fn one(self) -> Loop {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        let run = format!("{}-{i}", self.run);
        // A call is made again for as long as a hop may wait: a service may be away that long.
        let demo = match Demo::new(
            &self.clients,
            &self.issuer,
            &run,
            self.deadline,
            self.deadline,
        ) {
            Ok(demo) => demo,
            Err(e) => {
                return Loop {
                    customer: None,
                    outcome: Err(e),
                };
            }
        };
        let mut progress = Progress::new(true);
        let outcome = demo
            .run(&mut progress)
            .await
            .with_context(|| format!("customer {}", demo.customer))
            .map(|()| progress.hops().to_vec());
        Loop {
            customer: Some(demo.customer),
            outcome,
        }
    }
}

/// Runs `loops` loops, `concurrency` at a time, and more while `killing` holds.
async fn drive(looper: &Looper, loops: u64, concurrency: u64, killing: &AtomicBool) -> Vec<Loop> {
    let mut running = JoinSet::new();
    let mut done = Vec::new();
    let mut started = 0;
    loop {
        while (running.len() as u64) < concurrency
            && (started < loops || killing.load(Ordering::SeqCst))
        {
            running.spawn(looper.clone().one());
            started += 1;
        }
        match running.join_next().await {
            Some(joined) => done.push(joined.unwrap_or_else(|e| Loop::panicked(&e))),
            None => return done,
        }
    }
}

/// What the services hold for the run's customers, and what is missing or there twice.
#[derive(Default)]
struct Audit {
    won: usize,
    contracts: usize,
    orders: usize,
    handoffs: usize,
    accepted: usize,
    accounts: usize,
    expansions: usize,
    referrals: usize,
    opened: usize,
    lost: Vec<String>,
    duplicated: Vec<String>,
}

impl Audit {
    /// `what` owes exactly one of `owed`, which it has `found` times.
    fn one(&mut self, what: &str, owed: &str, found: usize) {
        match found {
            0 => self.lost.push(format!("{what}: no {owed}")),
            1 => {}
            n => self.duplicated.push(format!("{what}: {n} {owed}s")),
        }
    }

    fn counts(&self) -> String {
        format!(
            "{} won deal(s) with {} contract(s), {} order(s) with {} handoff(s), {} accepted \
             handoff(s) with {} account(s), {} expansion(s) and {} referral(s) with {} \
             opportunit(ies)",
            self.won,
            self.contracts,
            self.orders,
            self.handoffs,
            self.accepted,
            self.accounts,
            self.expansions,
            self.referrals,
            self.opened
        )
    }
}

/// Audits until nothing is missing (an owed call may still be on its way) or `deadline` passes;
/// what is there twice stays twice, so it ends the wait.
async fn audit_until_settled(
    clients: &Clients,
    auditor: &AsciiMetadataValue,
    customers: &[String],
    deadline: Duration,
) -> anyhow::Result<Audit> {
    let started = Instant::now();
    loop {
        let audit = audit(clients, auditor, customers).await?;
        if audit.lost.is_empty() || !audit.duplicated.is_empty() || started.elapsed() > deadline {
            return Ok(audit);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// `message` as the auditor sends it.
fn audited<T>(auditor: &AsciiMetadataValue, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", auditor.clone());
    request
}

/// Counts, for each customer, what each step owed.
async fn audit(
    clients: &Clients,
    auditor: &AsciiMetadataValue,
    customers: &[String],
) -> anyhow::Result<Audit> {
    let (mut opportunities, mut contracts, mut handoffs, mut accounts) = (
        clients.opportunities.clone(),
        clients.contracts.clone(),
        clients.handoffs.clone(),
        clients.accounts.clone(),
    );
    let mut audit = Audit::default();
    for customer in customers {
        let opps = opportunities
            .list_opportunities(audited(
                auditor,
                pb::ListOpportunitiesRequest {
                    account_id: customer.clone(),
                    page_size: 1000,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .opportunities;
        let opened = accounts
            .list_accounts(audited(
                auditor,
                apb::ListAccountsRequest {
                    customer_account_id: customer.clone(),
                    page_size: 1000,
                    ..Default::default()
                },
            ))
            .await?
            .into_inner()
            .accounts;
        let of_kind =
            |kind: pb::OpportunityKind| opps.iter().filter(move |o| o.kind == kind as i32);
        // The loop's CreateOpportunity, however often it was sent.
        let created = of_kind(pb::OpportunityKind::NewBusiness).count();
        if created > 1 {
            audit.one(&format!("customer {customer}"), "deal", created);
        }
        for won in of_kind(pb::OpportunityKind::NewBusiness)
            .filter(|o| o.stage == pb::Stage::ClosedWon as i32)
        {
            audit.won += 1;
            let found = contracts
                .list_contracts(audited(
                    auditor,
                    cpb::ListContractsRequest {
                        opportunity: won.name.clone(),
                        page_size: 1000,
                        ..Default::default()
                    },
                ))
                .await?
                .into_inner()
                .contracts;
            audit.contracts += found.len();
            audit.one(&format!("won deal {}", won.name), "contract", found.len());
            for contract in found {
                let orders = contracts
                    .list_orders(audited(
                        auditor,
                        cpb::ListOrdersRequest {
                            parent: contract.name.clone(),
                            page_size: 1000,
                            ..Default::default()
                        },
                    ))
                    .await?
                    .into_inner()
                    .orders;
                audit.orders += orders.len();
                for order in orders {
                    let found = handoffs
                        .list_handoffs(audited(
                            auditor,
                            hpb::ListHandoffsRequest {
                                order: order.name.clone(),
                                page_size: 1000,
                                ..Default::default()
                            },
                        ))
                        .await?
                        .into_inner()
                        .handoffs;
                    audit.handoffs += found.len();
                    audit.one(&format!("order {}", order.name), "handoff", found.len());
                    let accepted = found
                        .iter()
                        .filter(|h| h.status == hpb::HandoffStatus::Accepted as i32);
                    for handoff in accepted {
                        audit.accepted += 1;
                        let count = opened.iter().filter(|a| a.handoff == handoff.name).count();
                        audit.one(
                            &format!("accepted handoff {}", handoff.name),
                            "account",
                            count,
                        );
                    }
                }
            }
        }

        audit.accounts += opened.len();
        if opened.len() > 1 {
            audit.one(&format!("customer {customer}"), "account", opened.len());
        }
        for account in &opened {
            let expansions = accounts
                .list_expansions(audited(
                    auditor,
                    apb::ListExpansionsRequest {
                        parent: account.name.clone(),
                        page_size: 1000,
                        ..Default::default()
                    },
                ))
                .await?
                .into_inner()
                .expansions;
            for expansion in expansions {
                audit.expansions += 1;
                let found = of_kind(pb::OpportunityKind::Expansion)
                    .filter(|o| o.title == expansion.title)
                    .count();
                audit.opened += found;
                audit.one(
                    &format!("expansion {}", expansion.name),
                    "opportunity",
                    found,
                );
            }
            let referrals = accounts
                .list_referrals(audited(
                    auditor,
                    apb::ListReferralsRequest {
                        parent: account.name.clone(),
                        page_size: 1000,
                        ..Default::default()
                    },
                ))
                .await?
                .into_inner()
                .referrals;
            for referral in referrals {
                audit.referrals += 1;
                let referred = referral
                    .referred_company
                    .as_ref()
                    .map_or("", |c| c.account_id.as_str());
                let found = opportunities
                    .list_opportunities(audited(
                        auditor,
                        pb::ListOpportunitiesRequest {
                            account_id: referred.to_owned(),
                            page_size: 1000,
                            ..Default::default()
                        },
                    ))
                    .await?
                    .into_inner()
                    .opportunities
                    .len();
                audit.opened += found;
                audit.one(&format!("referral {}", referral.name), "opportunity", found);
            }
        }
    }
    Ok(audit)
}
