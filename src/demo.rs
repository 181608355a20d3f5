//! `closeloop demo`: drives one whole loop through a running suite as the real roles would — a
//! rep wins a deal, its contract is filled, signed and ordered, one invoice is paid and one
//! payment fails, the handoff is completed and accepted, the account is managed, and an
//! expansion opens the next opportunity — printing each step as it happens, how long each hop
//! through an outbox took, and the trace id every call of the demo carries.
//!
//! The calls owed between services are delivered in the background; the demo polls for what each
//! one produces with a deadline, and fails naming the step whose result did not arrive.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use closeloop_kit::Role;
use closeloop_proto::accounts::v1 as apb;
use closeloop_proto::accounts::v1::account_service_client::AccountServiceClient;
use closeloop_proto::common::v1 as common;
use closeloop_proto::contracts::v1 as cpb;
use closeloop_proto::contracts::v1::contract_service_client::ContractServiceClient;
use closeloop_proto::contracts::v1::payment_service_client::PaymentServiceClient;
use closeloop_proto::handoff::v1 as hpb;
use closeloop_proto::handoff::v1::handoff_service_client::HandoffServiceClient;
use closeloop_proto::opportunities::v1 as pb;
use closeloop_proto::opportunities::v1::opportunity_service_client::OpportunityServiceClient;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::transport::Channel;

use crate::suite;

/// `closeloop demo` options.
#[derive(clap::Args)]
pub struct Args {
    /// Where the suite runs: `HOST[:BASE_PORT]`, the services on the base port and the three
    /// after it, as `closeloop up` lays them out.
    #[arg(long, default_value = "127.0.0.1:50051")]
    target: String,
    /// Address of the opportunities service (`HOST:PORT` or a URL), instead of the target's.
    #[arg(long)]
    opportunities: Option<String>,
    /// Address of the contracts-payments service, instead of the target's.
    #[arg(long)]
    contracts: Option<String>,
    /// Address of the handoff service, instead of the target's.
    #[arg(long)]
    handoff: Option<String>,
    /// Address of the account-management service, instead of the target's.
    #[arg(long)]
    accounts: Option<String>,
    /// The data folder of `closeloop up` (holds the signing secret the tokens are minted with,
    /// unless `auth.hs256_secret` is set).
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
    /// How long each hop through an outbox may take before the demo fails.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout_secs: u64,
}

/// Steps the demo prints, for the `[n/N]` counter.
const STEPS: usize = 26;
/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a hop's result is looked for in its first second, and after.
const POLL_FIRST: Duration = Duration::from_millis(10);
const POLL_LATER: Duration = Duration::from_millis(100);
/// The currency of the demo's deal.
const CURRENCY: &str = "EUR";

/// `closeloop demo`.
///
/// # Errors
/// When the addresses or tokens cannot be set up, a call is refused, or a hop's result does not
/// arrive within `--timeout-secs`: the error names the step.
pub async fn run(config: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let addresses = addresses(&args)?;
    let issuer = suite::issuer(config, &args.data_dir)?;
    let clients = Clients::new(&addresses)?;
    // A call fails at once: against a suite that is not up, waiting helps nobody.
    let hop_deadline = Duration::from_secs(args.timeout_secs);
    let demo = Demo::new(
        &clients,
        &issuer,
        &hex(&random::<4>()?),
        hop_deadline,
        Duration::ZERO,
    )?;
    let [opportunities, contracts, handoff, accounts] = &addresses;
    println!(
        "closeloop demo: one loop for the customer {}",
        demo.customer
    );
    println!("  opportunities {opportunities}, contracts-payments {contracts},");
    println!("  handoff {handoff}, account-management {accounts}");
    println!("trace id {}", demo.trace.trace_id);
    let mut progress = Progress::new(false);
    demo.run(&mut progress).await.with_context(|| {
        format!(
            "the demo stopped (trace id {}, customer {})",
            demo.trace.trace_id, demo.customer
        )
    })?;
    progress.summary(&demo.trace.trace_id);
    Ok(())
}

/// The four services' endpoints (`http://…`): the target's, each replaced by its own option.
fn addresses(args: &Args) -> anyhow::Result<[String; 4]> {
    let (host, base) = parse_target(&args.target)?;
    let Some(last) = base.checked_add(3) else {
        bail!(
            "--target {}: the base port leaves no room for four services",
            args.target
        );
    };
    let [a, b, c, d] = [base, base + 1, base + 2, last].map(|port| format!("{host}:{port}"));
    let pick = |own: &Option<String>, default: String| {
        let address = own.clone().unwrap_or(default);
        if address.contains("://") {
            address
        } else {
            format!("http://{address}")
        }
    };
    Ok([
        pick(&args.opportunities, a),
        pick(&args.contracts, b),
        pick(&args.handoff, c),
        pick(&args.accounts, d),
    ])
}

/// `HOST[:BASE_PORT]` (an IPv6 host in brackets when a port follows) → host as it goes into an
/// address, and the base port.
fn parse_target(target: &str) -> anyhow::Result<(String, u16)> {
    let target = target.trim();
    if let Ok(address) = target.parse::<SocketAddr>() {
        let host = match address.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        return Ok((host, address.port()));
    }
    if let Ok(IpAddr::V6(ip)) = target.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok((format!("[{ip}]"), suite::BASE_PORT));
    }
    let (host, port) = match target.rsplit_once(':') {
        Some((host, port)) => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .with_context(|| format!("--target {target}: {port:?} is not a port"))?;
            (host, port)
        }
        None => (target, suite::BASE_PORT),
    };
    if host.is_empty() || host.contains([':', '/', '[', ']']) || host.contains(char::is_whitespace)
    {
        bail!("--target {target}: expected HOST or HOST:BASE_PORT, e.g. 127.0.0.1:50051");
    }
    Ok((host.to_owned(), port))
}

pub fn random<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).context("drawing random bytes")?;
    Ok(bytes)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The W3C trace context the demo starts: one trace id for the whole loop, a fresh parent span id
/// per call, sampled, so the services continue it and a collector shows the loop as one trace.
struct TraceContext {
    trace_id: String,
}

impl TraceContext {
    fn new() -> anyhow::Result<Self> {
        // All zeroes is invalid; sixteen random bytes are never that in practice, but check.
        let id = random::<16>()?;
        if id == [0; 16] {
            bail!("drew an all-zero trace id");
        }
        Ok(TraceContext { trace_id: hex(&id) })
    }

    fn traceparent(&self) -> anyhow::Result<AsciiMetadataValue> {
        let mut span = random::<8>()?;
        span[0] |= 1; // never all zeroes
        Ok(format!("00-{}-{}-01", self.trace_id, hex(&span)).parse()?)
    }
}

/// One person (or system) of the loop, with the token its calls carry.
struct Person {
    subject: String,
    bearer: AsciiMetadataValue,
}

/// Everyone who takes part, each with the role the real one has.
struct Cast {
    rep: Person,
    manager: Person,
    finance: Person,
    /// The e-signature tool reporting signatures.
    esign: Person,
    account_manager: Person,
    operations: Person,
}

impl Cast {
    fn new(
        issuer: &closeloop_kit::auth::TokenIssuer,
        run: &str,
        ttl: Duration,
    ) -> anyhow::Result<Self> {
        let person = |who: &str, role: Role| -> anyhow::Result<Person> {
            let subject = format!("demo-{who}-{run}");
            let token = issuer.mint(&subject, &[role], ttl);
            let bearer = MetadataValue::try_from(format!("Bearer {token}"))
                .context("the minted token is not a valid header value")?;
            Ok(Person { subject, bearer })
        };
        Ok(Cast {
            rep: person("rep", Role::SalesRep)?,
            manager: person("manager", Role::SalesManager)?,
            finance: person("finance", Role::Finance)?,
            esign: person("esignature", Role::Service)?,
            account_manager: person("am", Role::AccountManager)?,
            operations: person("ops", Role::Operations)?,
        })
    }
}

/// A refused or failed call, kept whole so a hop can tell a service that is down (try again
/// until the deadline) from a refusal (stop at once).
#[derive(Debug)]
struct CallFailed {
    method: &'static str,
    status: tonic::Status,
}

impl std::fmt::Display for CallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} answered {:?}: {}",
            self.method,
            self.status.code(),
            self.status.message()
        )?;
        match self.status.code() {
            tonic::Code::Unavailable => write!(
                f,
                " (is the suite up? Start it with `closeloop up`, or point --target at it)"
            ),
            tonic::Code::Unauthenticated => write!(
                f,
                " (the tokens are signed with the secret in --data-dir or auth.hs256_secret: \
                 is it the one this suite uses?)"
            ),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for CallFailed {}

/// Turns a call's result into its message, or a [`CallFailed`] naming the method.
trait Answer<T> {
    fn answer(self, method: &'static str) -> anyhow::Result<T>;
}

impl<T> Answer<T> for Result<tonic::Response<T>, tonic::Status> {
    fn answer(self, method: &'static str) -> anyhow::Result<T> {
        self.map(tonic::Response::into_inner)
            .map_err(|status| CallFailed { method, status }.into())
    }
}

/// Whether a failure may pass if the call is made again (the service is down or busy).
fn transient(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<CallFailed>()
        .is_some_and(|e| closeloop_kit::client::is_retryable(&e.status))
}

/// Prints the steps: on a terminal, the running step on a line rewritten with a spinner, then
/// its result; otherwise one plain line per finished step; nothing when quiet (many loops at
/// once). It keeps how long each hop took, printed or not.
pub struct Progress {
    tty: bool,
    quiet: bool,
    done: usize,
    started: Instant,
    hops: Vec<(&'static str, Duration)>,
}

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

impl Progress {
    /// Progress of one loop, printed unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        Progress {
            tty: !quiet && std::io::stdout().is_terminal(),
            quiet,
            done: 0,
            started: Instant::now(),
            hops: Vec::new(),
        }
    }

    /// Runs one step, showing it while it runs; `work` answers what to print after its label.
    async fn step<T>(
        &mut self,
        label: &str,
        work: impl Future<Output = anyhow::Result<(T, String)>>,
    ) -> anyhow::Result<T> {
        self.show(label, work, true).await
    }

    /// Runs a step; prints how long it took when `timed` (a hop prints its own time).
    async fn show<T>(
        &mut self,
        label: &str,
        work: impl Future<Output = anyhow::Result<(T, String)>>,
        timed: bool,
    ) -> anyhow::Result<T> {
        let number = self.done + 1;
        let started = Instant::now();
        let mut out: Box<dyn Write + Send> = if self.quiet {
            Box::new(std::io::sink())
        } else {
            Box::new(std::io::stdout())
        };
        let result = if self.tty {
            let mut work = std::pin::pin!(work);
            let mut tick = tokio::time::interval(Duration::from_millis(80));
            let mut frame = 0;
            loop {
                tokio::select! {
                    result = &mut work => break result,
                    _ = tick.tick() => {
                        let _ = write!(
                            out,
                            "\r\x1b[2K{} [{number:>2}/{STEPS}] {label} … {:.1} s",
                            SPINNER[frame % SPINNER.len()],
                            started.elapsed().as_secs_f64()
                        );
                        let _ = out.flush();
                        frame += 1;
                    }
                }
            }
        } else {
            work.await
        };
        let clear = if self.tty { "\r\x1b[2K" } else { "" };
        match result {
            Ok((value, detail)) => {
                self.done = number;
                let took = if timed {
                    format!(" ({} ms)", started.elapsed().as_millis())
                } else {
                    String::new()
                };
                let _ = writeln!(
                    out,
                    "{clear}{} [{number:>2}/{STEPS}] {label}: {detail}{took}",
                    if self.tty { '✔' } else { '+' },
                );
                Ok(value)
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "{clear}{} [{number:>2}/{STEPS}] {label}: FAILED",
                    if self.tty { '✘' } else { '!' }
                );
                Err(e.context(format!("step {number}/{STEPS} \"{label}\" failed")))
            }
        }
    }

    /// A hop through an outbox: from `since` (when the call that owes it answered), polls until
    /// `look` finds its result or `deadline` passes. A service that is down is polled again; a
    /// refusal ends the hop.
    async fn hop<T, F, Fut>(
        &mut self,
        label: &str,
        hop: &'static str,
        since: Instant,
        deadline: Duration,
        mut look: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<(T, String)>>>,
    {
        let found = self
            .show(
                label,
                async {
                    let mut last_error = None;
                    loop {
                        // A look that hangs may not carry the hop past its deadline.
                        let left = deadline.saturating_sub(since.elapsed());
                        let Ok(looked) = tokio::time::timeout(left, look()).await else {
                            let before = match last_error {
                                Some(e) => format!("; the one before failed: {e:#}"),
                                None => String::new(),
                            };
                            bail!(
                                "{hop}: nothing arrived within {} s; the last look got no \
                                 answer (a service that hangs, or a connection being retried)\
                                 {before}",
                                deadline.as_secs()
                            );
                        };
                        match looked {
                            Ok(Some((value, detail))) => {
                                let took = since.elapsed();
                                let detail = format!("{detail} ({hop} in {} ms)", took.as_millis());
                                return Ok(((value, took), detail));
                            }
                            Ok(None) => last_error = None,
                            Err(e) if transient(&e) => last_error = Some(e),
                            Err(e) => return Err(e),
                        }
                        if since.elapsed() >= deadline {
                            let why = match last_error {
                                Some(e) => format!("; the last look failed: {e:#}"),
                                None => String::new(),
                            };
                            bail!(
                                "{hop}: nothing arrived within {} s{why}",
                                deadline.as_secs()
                            );
                        }
                        // Often at first, to time a quick hop closely; then gently.
                        let pause = if since.elapsed() < Duration::from_secs(1) {
                            POLL_FIRST
                        } else {
                            POLL_LATER
                        };
                        tokio::time::sleep(pause).await;
                    }
                },
                false,
            )
            .await?;
        let (value, took) = found;
        self.hops.push((hop, took));
        Ok(value)
    }

    /// Each hop's name and how long it took, in the order they arrived.
    pub fn hops(&self) -> &[(&'static str, Duration)] {
        &self.hops
    }

    fn summary(&self, trace_id: &str) {
        println!();
        println!(
            "The loop closed: {} steps in {:.1} s. Hops through the outboxes:",
            self.done,
            self.started.elapsed().as_secs_f64()
        );
        for (hop, took) in &self.hops {
            println!("  {hop:<28} {:>8.3} s", took.as_secs_f64());
        }
        println!("trace id {trace_id}");
    }
}

/// Clients of the four services; clones share their connections.
#[derive(Clone)]
pub struct Clients {
    pub opportunities: OpportunityServiceClient<Channel>,
    pub contracts: ContractServiceClient<Channel>,
    pub payments: PaymentServiceClient<Channel>,
    pub handoffs: HandoffServiceClient<Channel>,
    pub accounts: AccountServiceClient<Channel>,
}

impl Clients {
    /// Clients of the services at `addresses` (`http://…` of opportunities, contracts-payments,
    /// handoff and account-management), connecting on first use.
    ///
    /// # Errors
    /// When an address is not a valid URI.
    pub fn new(addresses: &[String; 4]) -> anyhow::Result<Clients> {
        let channel = |address: &str| {
            closeloop_kit::client::channel(address, CALL_TIMEOUT)
                .with_context(|| format!("the address {address}"))
        };
        let [opportunities, contracts, handoff, accounts] = addresses;
        // Contracts and payments are served by one service: one connection for both.
        let contracts_payments = channel(contracts)?;
        Ok(Clients {
            opportunities: OpportunityServiceClient::new(channel(opportunities)?),
            contracts: ContractServiceClient::new(contracts_payments.clone()),
            payments: PaymentServiceClient::new(contracts_payments),
            handoffs: HandoffServiceClient::new(channel(handoff)?),
            accounts: AccountServiceClient::new(channel(accounts)?),
        })
    }
}

/// One loop: its clients, people and customer.
pub struct Demo {
    clients: Clients,
    trace: TraceContext,
    cast: Cast,
    /// The customer's account id, new for each loop so each loop's resources stand apart.
    pub customer: String,
    today: time::Date,
    hop_deadline: Duration,
    /// How long a call that fails transiently is made again (see [`Demo::send`]).
    patience: Duration,
}

/// `$demo.clients.$client.$method(request)` as `$who`, through [`Demo::send`]; `$name` is the
/// method's gRPC name, for errors.
macro_rules! send {
    ($demo:expr, $who:expr, $client:ident . $method:ident ($name:literal, $request:expr)) => {{
        let client = $demo.clients.$client.clone();
        $demo.send($who, $name, $request, move |request| {
            let mut client = client.clone();
            async move { client.$method(request).await }
        })
    }};
}

fn money(amount_minor: i64) -> common::Money {
    common::Money {
        currency_code: CURRENCY.into(),
        amount_minor,
    }
}

fn amount(money: Option<&common::Money>) -> String {
    match money {
        Some(m) => format!("{} {:.2}", m.currency_code, m.amount_minor as f64 / 100.0),
        None => "no amount".into(),
    }
}

fn contact(name: &str, email: &str) -> common::Contact {
    common::Contact {
        display_name: name.into(),
        email: email.into(),
        ..Default::default()
    }
}

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| (*p).to_owned()).collect(),
    })
}

fn timestamp(at: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: 0,
    }
}

/// Fails when the call a service owes a peer was refused: it is parked, and the hop's result will
/// not appear until an operator retries it after a fix.
fn not_refused(owed: Option<&common::OwedCall>, owner: &str) -> anyhow::Result<()> {
    match owed {
        Some(call) if call.state == common::OwedCallState::Refused as i32 => bail!(
            "{owner}'s call {} was refused: {} {}; it is parked until an operator retries it \
             (`closeloop outbox {owner} retry --id {}`)",
            call.method,
            call.refusal_code,
            call.refusal_message,
            call.command_id
        ),
        _ => Ok(()),
    }
}

impl Demo {
    /// A loop for the customer `demo-{run}` with people of its own (tokens from `issuer`), each
    /// hop waited for up to `hop_deadline`, each call made again while it fails transiently for
    /// up to `patience`.
    ///
    /// # Errors
    /// When random bytes or a token header cannot be made.
    pub fn new(
        clients: &Clients,
        issuer: &closeloop_kit::auth::TokenIssuer,
        run: &str,
        hop_deadline: Duration,
        patience: Duration,
    ) -> anyhow::Result<Demo> {
        // Valid for the whole loop, even with every hop (6) and call (about 40) waiting to its
        // deadline.
        let ttl = Duration::from_secs(3600) + 6 * hop_deadline + 40 * patience;
        Ok(Demo {
            clients: clients.clone(),
            trace: TraceContext::new()?,
            cast: Cast::new(issuer, run, ttl)?,
            customer: format!("demo-{run}"),
            today: time::OffsetDateTime::now_utc().date(),
            hop_deadline,
            patience,
        })
    }

    /// Sends `message` as `who` through `call`. A failure that may pass (the service is down or
    /// restarting: [`transient`]) is sent again, the same message with the same `request_id`,
    /// until `patience` runs out: the service applies a `request_id` once however often it
    /// arrives, so a call whose answer was lost is never applied twice.
    async fn send<M, R, F, Fut>(
        &self,
        who: &Person,
        method: &'static str,
        message: M,
        mut call: F,
    ) -> anyhow::Result<R>
    where
        M: Clone,
        F: FnMut(tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let started = Instant::now();
        loop {
            match call(self.call(who, message.clone())?).await.answer(method) {
                Err(e) if transient(&e) && started.elapsed() < self.patience => {
                    tokio::time::sleep(POLL_LATER).await;
                }
                answered => return answered,
            }
        }
    }

    /// The `request_id` of this loop's `step`: the same each time the step's call is sent.
    fn request_id(&self, step: &str) -> String {
        format!("{}-{step}", self.customer)
    }

    /// `message` as `who` sends it: with its token and the demo's trace context.
    fn call<T>(&self, who: &Person, message: T) -> anyhow::Result<tonic::Request<T>> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        metadata.insert("authorization", who.bearer.clone());
        metadata.insert("traceparent", self.trace.traceparent()?);
        Ok(request)
    }

    fn date(&self, days_from_today: i64) -> common::Date {
        let d = self.today + time::Duration::days(days_from_today);
        common::Date {
            year: d.year(),
            month: i32::from(u8::from(d.month())),
            day: i32::from(d.day()),
        }
    }

    /// An email address at the customer of this run.
    fn client_email(&self, who: &str) -> String {
        format!("{who}@{}.example", self.customer)
    }

    /// Drives the whole loop, each step through `progress`.
    ///
    /// # Errors
    /// The first step that failed, named.
    pub async fn run(&self, progress: &mut Progress) -> anyhow::Result<()> {
        let won = self.win_deal(progress).await?;
        let won_at = Instant::now();
        let (placed, ordered_at) = self.contract_to_payments(progress, &won, won_at).await?;
        let accepted = self.order_to_handoff(progress, &placed, ordered_at).await?;
        let accepted_at = Instant::now();
        let account = self
            .handoff_to_account(progress, &accepted, accepted_at)
            .await?;
        self.account_life(progress, &account).await
    }

    /// The rep creates, qualifies and prices a deal, the manager approves its discount, the rep
    /// wins it.
    async fn win_deal(&self, progress: &mut Progress) -> anyhow::Result<pb::Opportunity> {
        let rep = &self.cast.rep;
        let o = progress
            .step("rep creates the deal", async {
                let request = pb::CreateOpportunityRequest {
                    request_id: self.request_id("create"),
                    opportunity: Some(pb::Opportunity {
                        account: Some(common::Party {
                            account_id: self.customer.clone(),
                            display_name: format!("Demo customer {}", self.customer),
                        }),
                        title: "Invoice automation rollout".into(),
                        kind: pb::OpportunityKind::NewBusiness as i32,
                        source: pb::OpportunitySource::Inbound as i32,
                        currency_code: CURRENCY.into(),
                        expected_close_date: Some(self.date(0)),
                        // What the handoff is prefilled from: stakeholders, objectives (goals).
                        stakeholders: vec![pb::Stakeholder {
                            contact: Some(contact("Ines Client", &self.client_email("ines"))),
                            role: pb::StakeholderRole::DecisionMaker as i32,
                            primary: true,
                        }],
                        objectives: vec![
                            pb::ClientObjective {
                                description: "Cut invoice processing time".into(),
                                success_measure: "under 2 days".into(),
                            },
                            pb::ClientObjective {
                                description: "One view of every supplier".into(),
                                success_measure: String::new(),
                            },
                        ],
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                let o = send!(
                    self,
                    rep,
                    opportunities.create_opportunity("CreateOpportunity", request)
                )
                .await?;
                let detail = format!("{} owned by {}", o.name, o.owner);
                Ok((o, detail))
            })
            .await?;
        let name = &o.name;
        let o = progress
            .step("rep qualifies and prices it", async {
                let stage = |stage: pb::Stage| pb::MoveOpportunityStageRequest {
                    request_id: self.request_id(&format!("stage-{}", stage.as_str_name())),
                    name: name.clone(),
                    stage: stage as i32,
                    ..Default::default()
                };
                send!(
                    self,
                    rep,
                    opportunities.move_opportunity_stage(
                        "MoveOpportunityStage",
                        stage(pb::Stage::Qualification)
                    )
                )
                .await?;
                let qualification = pb::Qualification {
                    client_benefit_confirmed: true,
                    realistic_expectations_confirmed: true,
                    mature_partner_confirmed: true,
                    ..Default::default()
                };
                let request = pb::QualifyOpportunityRequest {
                    request_id: self.request_id("qualify"),
                    name: name.clone(),
                    qualification: Some(qualification),
                    ..Default::default()
                };
                send!(
                    self,
                    rep,
                    opportunities.qualify_opportunity("QualifyOpportunity", request)
                )
                .await?;
                let request = pb::AddLineItemRequest {
                    request_id: self.request_id("line-item"),
                    name: name.clone(),
                    line_item: Some(pb::LineItem {
                        product_id: "seat".into(),
                        product_name: "Seat licence".into(),
                        quantity: 10,
                        list_unit_price: Some(money(10_000)),
                        sold_unit_price: Some(money(8_500)),
                        unit_cost: Some(money(4_000)),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                send!(
                    self,
                    rep,
                    opportunities.add_line_item("AddLineItem", request)
                )
                .await?;
                let o = send!(
                    self,
                    rep,
                    opportunities
                        .move_opportunity_stage("MoveOpportunityStage", stage(pb::Stage::Proposal))
                )
                .await?;
                let detail = format!(
                    "qualified, 10 seats at 15% off: {}, now PROPOSAL",
                    amount(o.amount.as_ref())
                );
                Ok((o, detail))
            })
            .await?;
        progress
            .step("manager approves the discount", async {
                let mut approved = 0;
                for item in o.line_items.iter().filter(|i| i.requires_approval) {
                    let request = pb::ApproveDiscountRequest {
                        request_id: self.request_id(&format!("approve-{}", item.line_item_id)),
                        name: name.clone(),
                        line_item_id: item.line_item_id.clone(),
                        reason: "strategic logo".into(),
                        ..Default::default()
                    };
                    send!(
                        self,
                        &self.cast.manager,
                        opportunities.approve_discount("ApproveDiscount", request)
                    )
                    .await?;
                    approved += 1;
                }
                let detail = if approved == 0 {
                    "within the threshold, nothing to approve".to_owned()
                } else {
                    format!(
                        "{approved} line item approved by {}",
                        self.cast.manager.subject
                    )
                };
                Ok(((), detail))
            })
            .await?;
        progress
            .step("rep wins the deal", async {
                let request = pb::MoveOpportunityStageRequest {
                    request_id: self.request_id("negotiate"),
                    name: name.clone(),
                    stage: pb::Stage::Negotiation as i32,
                    ..Default::default()
                };
                send!(
                    self,
                    rep,
                    opportunities.move_opportunity_stage("MoveOpportunityStage", request)
                )
                .await?;
                let request = pb::CloseOpportunityRequest {
                    request_id: self.request_id("close"),
                    name: name.clone(),
                    outcome: pb::Outcome::Won as i32,
                    close_date: Some(self.date(0)),
                    ..Default::default()
                };
                let o = send!(
                    self,
                    rep,
                    opportunities.close_opportunity("CloseOpportunity", request)
                )
                .await?;
                if o.stage != pb::Stage::ClosedWon as i32 {
                    bail!("{} is not CLOSED_WON after CloseOpportunity", o.name);
                }
                let detail = format!("CLOSED_WON (trace id {})", self.trace.trace_id);
                Ok((o, detail))
            })
            .await
    }

    /// The contract the win created, filled, sent, signed and ordered; one invoice paid and one
    /// payment failed, which opens a follow-up for the rep.
    async fn contract_to_payments(
        &self,
        progress: &mut Progress,
        won: &pb::Opportunity,
        won_at: Instant,
    ) -> anyhow::Result<(cpb::PlaceOrderResponse, Instant)> {
        let rep = &self.cast.rep;
        let c = progress
            .hop(
                "contract appears",
                "won deal → contract",
                won_at,
                self.hop_deadline,
                || {
                    let mut client = self.clients.contracts.clone();
                    let request = cpb::ListContractsRequest {
                        opportunity: won.name.clone(),
                        ..Default::default()
                    };
                    let request = self.call(rep, request);
                    async move {
                        let found = client
                            .list_contracts(request?)
                            .await
                            .answer("ListContracts")?;
                        Ok(found.contracts.into_iter().next().map(|c| {
                            let detail = format!("{} worth {}", c.name, amount(c.value.as_ref()));
                            (c, detail)
                        }))
                    }
                },
            )
            .await?;

        let c = progress
            .step("rep fills the contract", async {
                let value = c.value.as_ref().map_or(0, |m| m.amount_minor);
                let first = value / 2;
                let signer = |side: cpb::SignerSide, name: &str, email: &str| cpb::Signer {
                    side: side as i32,
                    contact: Some(contact(name, email)),
                    ..Default::default()
                };
                let draft = cpb::Contract {
                    name: c.name.clone(),
                    etag: c.etag.clone(),
                    deliverables: c
                        .deliverables
                        .iter()
                        .map(|d| cpb::Deliverable {
                            deliverable_id: d.deliverable_id.clone(),
                            description: d.description.clone(),
                            product_id: d.product_id.clone(),
                            due_date: Some(self.date(30)),
                            ..Default::default()
                        })
                        .collect(),
                    // Both due within the payment terms: both invoices are issued on the order.
                    payment_schedule: vec![
                        cpb::Installment {
                            description: "Setup".into(),
                            amount: Some(money(first)),
                            due_date: Some(self.date(14)),
                            ..Default::default()
                        },
                        cpb::Installment {
                            description: "Rest".into(),
                            amount: Some(money(value - first)),
                            due_date: Some(self.date(28)),
                            ..Default::default()
                        },
                    ],
                    // Starting today, so the account starts today and takes check-ins at once.
                    terms: Some(cpb::Terms {
                        payment_terms_days: 30,
                        start_date: Some(self.date(0)),
                        term_months: 12,
                        ..Default::default()
                    }),
                    signers: vec![
                        signer(
                            cpb::SignerSide::Client,
                            "Ines Client",
                            &self.client_email("ines"),
                        ),
                        signer(
                            cpb::SignerSide::Company,
                            "Max Manager",
                            "max@closeloop.example",
                        ),
                    ],
                    ..Default::default()
                };
                let request = cpb::UpdateContractRequest {
                    request_id: self.request_id("fill-contract"),
                    contract: Some(draft),
                    update_mask: mask(&["deliverables", "payment_schedule", "terms", "signers"]),
                };
                let c = send!(
                    self,
                    rep,
                    contracts.update_contract("UpdateContract", request)
                )
                .await?;
                if let Some(blocker) = c.send_blockers.first() {
                    bail!(
                        "sending is still blocked: {} ({})",
                        blocker.gate,
                        blocker.subject
                    );
                }
                Ok((c, "deliverable, two installments, terms and signers".into()))
            })
            .await?;

        let c = progress
            .step("rep sends the contract", async {
                let request = cpb::SendContractRequest {
                    request_id: self.request_id("send-contract"),
                    name: c.name.clone(),
                    etag: c.etag.clone(),
                    ..Default::default()
                };
                let c = send!(self, rep, contracts.send_contract("SendContract", request)).await?;
                Ok((c, "SENT".into()))
            })
            .await?;

        let c = progress
            .step("client and company sign", async {
                let mut signed = c;
                for email in [self.client_email("ines"), "max@closeloop.example".into()] {
                    let request = cpb::SignContractRequest {
                        request_id: self.request_id(&format!("sign-{email}")),
                        name: signed.name.clone(),
                        signer_email: email,
                        ..Default::default()
                    };
                    signed = send!(
                        self,
                        &self.cast.esign,
                        contracts.sign_contract("SignContract", request)
                    )
                    .await?;
                }
                if signed.status != cpb::ContractStatus::Signed as i32 {
                    bail!("{} is not SIGNED after both signatures", signed.name);
                }
                Ok((signed, "SIGNED, reported by the e-signature tool".into()))
            })
            .await?;

        let (placed, ordered_at) = progress
            .step("rep places the order", async {
                let request = cpb::PlaceOrderRequest {
                    request_id: self.request_id("order"),
                    name: c.name.clone(),
                    notes: "closeloop demo".into(),
                    ..Default::default()
                };
                let placed = send!(self, rep, contracts.place_order("PlaceOrder", request)).await?;
                // The handoff is owed from here: its hop is timed from this answer.
                let ordered_at = Instant::now();
                let order = placed.order.as_ref().map_or("", |o| o.name.as_str());
                let detail = format!("{order}, {} invoices", placed.invoices.len());
                Ok(((placed, ordered_at), detail))
            })
            .await?;
        let [paid_invoice, failed_invoice] = placed.invoices.as_slice() else {
            bail!(
                "PlaceOrder issued {} invoices; the demo's two installments should make two",
                placed.invoices.len()
            );
        };

        progress
            .step("finance records an invoice paid", async {
                let request = cpb::RecordPaymentAttemptRequest {
                    parent: paid_invoice.name.clone(),
                    payment_attempt: Some(cpb::PaymentAttempt {
                        result: cpb::PaymentResult::Succeeded as i32,
                        amount: paid_invoice.amount_remaining.clone(),
                        processor: "bank_transfer".into(),
                        payment_method: "wire".into(),
                        ..Default::default()
                    }),
                    // The processor's event id: a repeat would be applied once.
                    request_id: self.request_id("paid"),
                };
                let paid = send!(
                    self,
                    &self.cast.finance,
                    payments.record_payment_attempt("RecordPaymentAttempt", request)
                )
                .await?;
                let invoice = paid.invoice.unwrap_or_default();
                if invoice.status != cpb::InvoiceStatus::Paid as i32 {
                    bail!("{} is not PAID after a payment in full", invoice.name);
                }
                let detail = format!("{} PAID", invoice.name);
                Ok(((), detail))
            })
            .await?;

        let follow_up = progress
            .step("a payment of the other invoice fails", async {
                let request = cpb::RecordPaymentAttemptRequest {
                    parent: failed_invoice.name.clone(),
                    payment_attempt: Some(cpb::PaymentAttempt {
                        result: cpb::PaymentResult::Failed as i32,
                        amount: failed_invoice.amount_remaining.clone(),
                        decline_type: cpb::DeclineType::Soft as i32,
                        failure_code: "insufficient_funds".into(),
                        processor: "stripe".into(),
                        payment_method: "card".into(),
                        ..Default::default()
                    }),
                    request_id: self.request_id("declined"),
                };
                let failed = send!(
                    self,
                    &self.cast.finance,
                    payments.record_payment_attempt("RecordPaymentAttempt", request)
                )
                .await?;
                let Some(follow_up) = failed.follow_up else {
                    bail!("the failed payment opened no follow-up");
                };
                let detail = format!(
                    "soft decline on {}, follow-up {}",
                    failed_invoice.name, follow_up.name
                );
                Ok((follow_up, detail))
            })
            .await?;

        progress
            .step("the rep finds the follow-up", async {
                let request = cpb::ListFollowUpsRequest {
                    open_only: true,
                    contract: c.name.clone(),
                    ..Default::default()
                };
                let listed = send!(
                    self,
                    rep,
                    payments.list_follow_ups("ListFollowUps", request)
                )
                .await?;
                if !listed.follow_ups.iter().any(|f| f.name == follow_up.name) {
                    bail!("{} is not among the rep's open follow-ups", follow_up.name);
                }
                let detail = format!("assigned to {}", follow_up.assignee);
                Ok(((), detail))
            })
            .await?;
        Ok((placed, ordered_at))
    }

    /// The handoff the order started, completed by the rep, taken by the account manager,
    /// introduced, submitted and accepted.
    async fn order_to_handoff(
        &self,
        progress: &mut Progress,
        placed: &cpb::PlaceOrderResponse,
        ordered_at: Instant,
    ) -> anyhow::Result<hpb::Handoff> {
        let rep = &self.cast.rep;
        let am = &self.cast.account_manager;
        let order = placed.order.as_ref().map_or("", |o| o.name.as_str());
        // Prefilled from the opportunity: the handoff service reads it as it starts the handoff.
        let h = progress
            .hop(
                "handoff appears",
                "order → handoff",
                ordered_at,
                self.hop_deadline,
                || async move {
                    let request = hpb::ListHandoffsRequest {
                        order: order.to_owned(),
                        ..Default::default()
                    };
                    let found = self
                        .clients
                        .handoffs
                        .clone()
                        .list_handoffs(self.call(rep, request)?)
                        .await
                        .answer("ListHandoffs")?;
                    let prefilled = found.handoffs.into_iter().next().filter(|h| {
                        h.prefill.as_ref().map(|p| p.state)
                            != Some(hpb::PrefillState::Pending as i32)
                    });
                    if let Some(h) = prefilled {
                        let detail = format!(
                            "{} prefilled with {} goal(s) and {} stakeholder(s)",
                            h.name,
                            h.goals.len(),
                            h.stakeholders.len()
                        );
                        return Ok(Some((h, detail)));
                    }
                    let request = cpb::GetOrderRequest {
                        name: order.to_owned(),
                    };
                    let order = self
                        .clients
                        .contracts
                        .clone()
                        .get_order(self.call(rep, request)?)
                        .await
                        .answer("GetOrder")?;
                    not_refused(order.start_handoff_call.as_ref(), "contracts-payments")?;
                    Ok(None)
                },
            )
            .await?;

        let h = progress
            .step("rep completes the handoff", async {
                // The prefilled goals keep their ids; each gets a success criterion if it has none.
                let goals = h
                    .goals
                    .iter()
                    .cloned()
                    .map(|mut g| {
                        if g.success_criteria.is_empty() {
                            g.success_criteria.push(hpb::SuccessCriterion {
                                description: format!("{}: agreed at the kick-off", g.description),
                                target_date: Some(self.date(90)),
                            });
                        }
                        g
                    })
                    .collect();
                let completed = hpb::Handoff {
                    name: h.name.clone(),
                    etag: h.etag.clone(),
                    customer_needs: vec![hpb::CustomerNeed {
                        description: "Invoices approved without paper".into(),
                        details: "Finance team of 12".into(),
                    }],
                    goals,
                    verbal_commitments: vec![hpb::VerbalCommitment {
                        description: "Two extra training sessions".into(),
                        promised_by: Some(contact("Demo Rep", "rep@closeloop.example")),
                        promised_to: Some(contact("Ines Client", &self.client_email("ines"))),
                        due_date: Some(self.date(60)),
                        ..Default::default()
                    }],
                    support_contacts: vec![
                        hpb::SupportContact {
                            kind: hpb::SupportContactKind::DayToDay as i32,
                            contact: Some(contact("Dan Daily", &self.client_email("dan"))),
                            ..Default::default()
                        },
                        hpb::SupportContact {
                            kind: hpb::SupportContactKind::Billing as i32,
                            contact: Some(contact("Bea Billing", &self.client_email("bea"))),
                            ..Default::default()
                        },
                    ],
                    onboarding_plan: vec![hpb::OnboardingStep {
                        title: "Kick-off workshop".into(),
                        owner: am.subject.clone(),
                        due_date: Some(self.date(21)),
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                let request = hpb::UpdateHandoffRequest {
                    request_id: self.request_id("complete-handoff"),
                    handoff: Some(completed),
                    update_mask: mask(&[
                        "customer_needs",
                        "goals",
                        "verbal_commitments",
                        "support_contacts",
                        "onboarding_plan",
                    ]),
                };
                let h = send!(self, rep, handoffs.update_handoff("UpdateHandoff", request)).await?;
                let left: Vec<String> = h
                    .readiness
                    .iter()
                    .flat_map(|r| &r.missing)
                    .map(|m| m.code.clone())
                    .collect();
                let detail = format!(
                    "needs, goals, commitments, contacts, plan; left: {}",
                    left.join(", ")
                );
                Ok((h, detail))
            })
            .await?;

        let h = progress
            .step("account manager takes it", async {
                let request = hpb::AssignAccountManagerRequest {
                    request_id: self.request_id("assign"),
                    name: h.name.clone(),
                    account_manager: am.subject.clone(),
                    etag: h.etag.clone(),
                };
                let h = send!(
                    self,
                    am,
                    handoffs.assign_account_manager("AssignAccountManager", request)
                )
                .await?;
                let detail = format!("assigned to {}", h.account_manager);
                Ok((h, detail))
            })
            .await?;

        let h = progress
            .step("rep schedules the introduction and submits", async {
                let attendees = vec![
                    hpb::IntroductionAttendee {
                        contact: Some(contact("Ines Client", &self.client_email("ines"))),
                        side: hpb::PartySide::Client as i32,
                        ..Default::default()
                    },
                    hpb::IntroductionAttendee {
                        contact: Some(contact("Demo AM", "am@closeloop.example")),
                        side: hpb::PartySide::Company as i32,
                        subject: am.subject.clone(),
                    },
                ];
                let request = hpb::ScheduleIntroductionRequest {
                    request_id: self.request_id("schedule"),
                    name: h.name.clone(),
                    kind: hpb::IntroductionKind::JointCall as i32,
                    schedule_time: Some(timestamp(
                        time::OffsetDateTime::now_utc() + time::Duration::days(2),
                    )),
                    attendees,
                    location: "https://meet.example.com/closeloop-demo".into(),
                    etag: h.etag.clone(),
                    ..Default::default()
                };
                let h = send!(
                    self,
                    rep,
                    handoffs.schedule_introduction("ScheduleIntroduction", request)
                )
                .await?;
                let request = hpb::SubmitHandoffRequest {
                    request_id: self.request_id("submit"),
                    name: h.name.clone(),
                    etag: h.etag.clone(),
                };
                let h = send!(self, rep, handoffs.submit_handoff("SubmitHandoff", request)).await?;
                Ok((h, "joint call scheduled, READY".into()))
            })
            .await?;

        let h = progress
            .step("account manager holds the introduction", async {
                let request = hpb::CompleteIntroductionRequest {
                    request_id: self.request_id("introduce"),
                    name: h.name.clone(),
                    notes: "Goals and onboarding agreed".into(),
                    etag: h.etag.clone(),
                    ..Default::default()
                };
                let h = send!(
                    self,
                    am,
                    handoffs.complete_introduction("CompleteIntroduction", request)
                )
                .await?;
                Ok((h, "introduction COMPLETED".into()))
            })
            .await?;

        progress
            .step("account manager accepts the handoff", async {
                let request = hpb::AcceptHandoffRequest {
                    request_id: self.request_id("accept"),
                    name: h.name.clone(),
                    etag: h.etag.clone(),
                };
                let h = send!(self, am, handoffs.accept_handoff("AcceptHandoff", request)).await?;
                if h.status != hpb::HandoffStatus::Accepted as i32 {
                    bail!("{} is not ACCEPTED after AcceptHandoff", h.name);
                }
                let detail = format!("{} ACCEPTED", h.name);
                Ok((h, detail))
            })
            .await
    }

    /// The account the accepted handoff opens, as its account manager finds it.
    async fn handoff_to_account(
        &self,
        progress: &mut Progress,
        accepted: &hpb::Handoff,
        accepted_at: Instant,
    ) -> anyhow::Result<apb::Account> {
        let am = &self.cast.account_manager;
        progress
            .hop(
                "account appears",
                "accept → account",
                accepted_at,
                self.hop_deadline,
                || async move {
                    let request = apb::ListAccountsRequest {
                        customer_account_id: self.customer.clone(),
                        ..Default::default()
                    };
                    let found = self
                        .clients
                        .accounts
                        .clone()
                        .list_accounts(self.call(am, request)?)
                        .await
                        .answer("ListAccounts")?;
                    if let Some(a) = found
                        .accounts
                        .into_iter()
                        .find(|a| a.handoff == accepted.name)
                    {
                        let detail = format!(
                            "{} managed by {}, {} outcome(s)",
                            a.name,
                            a.account_manager,
                            a.outcomes.len()
                        );
                        return Ok(Some((a, detail)));
                    }
                    let request = hpb::GetHandoffRequest {
                        name: accepted.name.clone(),
                    };
                    let h = self
                        .clients
                        .handoffs
                        .clone()
                        .get_handoff(self.call(am, request)?)
                        .await
                        .answer("GetHandoff")?;
                    not_refused(h.open_account_call.as_ref(), "handoff")?;
                    Ok(None)
                },
            )
            .await
    }

    /// A check-in, an operations issue the rep sees in its feed, and an expansion whose
    /// opportunity the rep finds.
    async fn account_life(
        &self,
        progress: &mut Progress,
        account: &apb::Account,
    ) -> anyhow::Result<()> {
        let rep = &self.cast.rep;
        let am = &self.cast.account_manager;
        progress
            .step("account manager checks in", async {
                let outcome_progress = account
                    .outcomes
                    .first()
                    .map(|o| apb::OutcomeProgress {
                        outcome_id: o.outcome_id.clone(),
                        progress_percent: 25,
                        ..Default::default()
                    })
                    .into_iter()
                    .collect();
                let request = apb::RecordCheckInRequest {
                    request_id: self.request_id("check-in"),
                    parent: account.name.clone(),
                    check_in: Some(apb::CheckIn {
                        satisfaction: 8,
                        channel: apb::CheckInChannel::VideoCall as i32,
                        notes: "Onboarding on track".into(),
                        outcome_progress,
                        ..Default::default()
                    }),
                };
                let check_in =
                    send!(self, am, accounts.record_check_in("RecordCheckIn", request)).await?;
                let detail = format!("{}, satisfaction {}", check_in.name, check_in.satisfaction);
                Ok(((), detail))
            })
            .await?;

        let issue = progress
            .step("operations post an issue", async {
                let request = apb::PostOperationsUpdateRequest {
                    request_id: self.request_id("issue"),
                    parent: account.name.clone(),
                    operations_update: Some(apb::OperationsUpdate {
                        kind: apb::OperationsUpdateKind::Issue as i32,
                        severity: apb::Severity::High as i32,
                        title: "Invoice import failing".into(),
                        external_ref: "INC-1".into(),
                        ..Default::default()
                    }),
                };
                let issue = send!(
                    self,
                    &self.cast.operations,
                    accounts.post_operations_update("PostOperationsUpdate", request)
                )
                .await?;
                let detail = format!("{} (HIGH)", issue.name);
                Ok((issue, detail))
            })
            .await?;

        progress
            .step("the rep sees it in its feed", async {
                let feed = send!(
                    self,
                    rep,
                    accounts.list_salesperson_feed(
                        "ListSalespersonFeed",
                        apb::ListSalespersonFeedRequest::default()
                    )
                )
                .await?;
                let Some(entry) = feed.entries.iter().find(|e| {
                    e.operations_update.as_ref().map(|u| u.name.as_str()) == Some(&issue.name)
                }) else {
                    bail!("{} is not in the rep's feed", issue.name);
                };
                let detail = format!("\"{}\" on {}", issue.title, entry.account);
                Ok(((), detail))
            })
            .await?;

        let expansion = progress
            .step("account manager identifies an expansion", async {
                let request = apb::IdentifyExpansionRequest {
                    request_id: self.request_id("expansion"),
                    parent: account.name.clone(),
                    expansion: Some(apb::Expansion {
                        kind: apb::ExpansionKind::Upsell as i32,
                        title: "More seats".into(),
                        description: "Another team wants in".into(),
                        estimated_value: Some(money(500_000)),
                        expected_close_date: Some(self.date(60)),
                        ..Default::default()
                    }),
                };
                let expansion = send!(
                    self,
                    am,
                    accounts.identify_expansion("IdentifyExpansion", request)
                )
                .await?;
                let detail = format!("{} for {}", expansion.name, expansion.owner);
                Ok((expansion, detail))
            })
            .await?;
        let identified_at = Instant::now();
        let listed = pb::ListOpportunitiesRequest {
            account_id: self.customer.clone(),
            kind: pb::OpportunityKind::Expansion as i32,
            ..Default::default()
        };
        let owed = || async {
            let request = apb::GetExpansionRequest {
                name: expansion.name.clone(),
            };
            let expansion = self
                .clients
                .accounts
                .clone()
                .get_expansion(self.call(rep, request)?)
                .await
                .answer("GetExpansion")?;
            Ok(expansion.create_opportunity_call)
        };
        self.opportunity_opened(
            progress,
            (
                "the rep finds the new opportunity",
                "expansion → opportunity",
            ),
            identified_at,
            listed,
            |o| o.title == expansion.title,
            owed,
        )
        .await?;

        let referral = progress
            .step("the customer refers a company", async {
                let request = apb::RecordReferralRequest {
                    request_id: self.request_id("referral"),
                    parent: account.name.clone(),
                    referral: Some(apb::Referral {
                        referred_company: Some(common::Party {
                            account_id: format!("{}-referred", self.customer),
                            display_name: format!("Referred by {}", self.customer),
                        }),
                        contact: Some(contact("Rita Referred", &self.client_email("rita"))),
                        contact_role: pb::StakeholderRole::Champion as i32,
                        notes: "Same invoice pains".into(),
                        ..Default::default()
                    }),
                };
                let referral = send!(
                    self,
                    am,
                    accounts.record_referral("RecordReferral", request)
                )
                .await?;
                let detail = format!("{} for {}", referral.name, referral.owner);
                Ok((referral, detail))
            })
            .await?;
        let referred_at = Instant::now();
        let listed = pb::ListOpportunitiesRequest {
            account_id: referral
                .referred_company
                .as_ref()
                .map_or(String::new(), |c| c.account_id.clone()),
            ..Default::default()
        };
        let owed = || async {
            let request = apb::GetReferralRequest {
                name: referral.name.clone(),
            };
            let referral = self
                .clients
                .accounts
                .clone()
                .get_referral(self.call(rep, request)?)
                .await
                .answer("GetReferral")?;
            Ok(referral.create_opportunity_call)
        };
        self.opportunity_opened(
            progress,
            (
                "the rep finds the referred opportunity",
                "referral → opportunity",
            ),
            referred_at,
            listed,
            |_| true,
            owed,
        )
        .await
    }

    /// The hop from an expansion or a referral to the opportunity it opens: the rep looks among
    /// the opportunities `listed` for the one `pick` accepts; while it is not there, `owed` reads
    /// the call account-management owes, so that a refusal ends the hop at once.
    async fn opportunity_opened<F, Fut>(
        &self,
        progress: &mut Progress,
        (label, hop): (&str, &'static str),
        since: Instant,
        listed: pb::ListOpportunitiesRequest,
        pick: impl Fn(&pb::Opportunity) -> bool,
        owed: F,
    ) -> anyhow::Result<()>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<common::OwedCall>>>,
    {
        let rep = &self.cast.rep;
        let (listed, pick, owed) = (&listed, &pick, &owed);
        progress
            .hop(label, hop, since, self.hop_deadline, || async move {
                let found = self
                    .clients
                    .opportunities
                    .clone()
                    .list_opportunities(self.call(rep, listed.clone())?)
                    .await
                    .answer("ListOpportunities")?;
                if let Some(o) = found.opportunities.into_iter().find(|o| pick(o)) {
                    let kind = o
                        .kind()
                        .as_str_name()
                        .trim_start_matches("OPPORTUNITY_KIND_");
                    let detail = format!("{} ({kind}) owned by {}", o.name, o.owner);
                    return Ok(Some(((), detail)));
                }
                not_refused(owed().await?.as_ref(), "account-management")?;
                Ok(None)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_name_a_host_and_a_base_port() {
        let ok = |t: &str| parse_target(t).unwrap();
        assert_eq!(ok("127.0.0.1:6000"), ("127.0.0.1".into(), 6000));
        assert_eq!(ok("suite.local"), ("suite.local".into(), suite::BASE_PORT));
        assert_eq!(ok("suite.local:7000"), ("suite.local".into(), 7000));
        assert_eq!(ok("[::1]:7000"), ("[::1]".into(), 7000));
        assert_eq!(ok("::1"), ("[::1]".into(), suite::BASE_PORT));
        for bad in [
            "",
            "host:port",
            "host:0",
            "host:70000",
            "a b:1",
            "http://x:1",
        ] {
            assert!(parse_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_refused_owed_call_ends_the_hop_naming_it() {
        let mut call = common::OwedCall {
            state: common::OwedCallState::Pending as i32,
            method: "closeloop.handoff.v1.HandoffService/StartHandoff".into(),
            command_id: "start-handoff-1".into(),
            ..Default::default()
        };
        assert!(not_refused(Some(&call), "contracts-payments").is_ok());
        assert!(not_refused(None, "contracts-payments").is_ok());
        call.state = common::OwedCallState::Refused as i32;
        call.refusal_code = "INVALID_ARGUMENT".into();
        call.refusal_message = "order: required".into();
        let e = not_refused(Some(&call), "contracts-payments")
            .unwrap_err()
            .to_string();
        for part in [
            "StartHandoff",
            "INVALID_ARGUMENT order: required",
            "closeloop outbox contracts-payments retry --id start-handoff-1",
        ] {
            assert!(e.contains(part), "{part} in {e}");
        }
    }

    #[test]
    fn traceparents_share_the_trace_and_not_the_span() {
        let trace = TraceContext::new().unwrap();
        assert_eq!(trace.trace_id.len(), 32);
        let (a, b) = (trace.traceparent().unwrap(), trace.traceparent().unwrap());
        let parts = |v: &AsciiMetadataValue| {
            v.to_str()
                .unwrap()
                .split('-')
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let (a, b) = (parts(&a), parts(&b));
        assert_eq!(a[0], "00");
        assert_eq!(a[1], trace.trace_id);
        assert_eq!(b[1], trace.trace_id);
        assert_eq!(a[2].len(), 16);
        assert_ne!(a[2], b[2]);
        assert_eq!(a[3], "01");
    }
}
