//! `closeloop`: runs the whole suite locally (`up`), mints tokens (`token`), runs one service in
//! the foreground (`serve`), probes a service's health (`health`, for containers), and measures
//! the opportunities and contracts-payments services (`bench`), drives loops through a running
//! suite (`demo`) or through one it kills and restarts as it goes (`chaos`).

#![forbid(unsafe_code)]

mod bench;
mod chaos;
mod demo;
mod health;
mod suite;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use closeloop_kit::Role;

#[derive(Parser)]
#[command(
    name = "closeloop",
    version,
    about = "The closeloop suite: opportunities to contracts to handoff to accounts"
)]
struct Cli {
    /// Settings file (TOML) applied to every service (default: `$CLOSELOOP_CONFIG`);
    /// `CLOSELOOP_…` variables override it.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Starts every service in this process, each with its own SQLite database under the data
    /// folder, on its default port.
    Up {
        /// Where the databases and the local signing secret live.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
        /// Host the services listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port of the first service; the others follow it (opportunities 50051, contracts
        /// 50052, handoff 50053, accounts 50054 by default).
        #[arg(long, default_value_t = suite::BASE_PORT)]
        base_port: u16,
    },
    /// Prints a bearer token the running suite accepts.
    Token {
        /// The token's subject (who the caller is), e.g. `alice`.
        #[arg(long)]
        subject: String,
        /// A role: sales_rep, sales_manager, finance, account_manager, operations, service.
        /// Repeat for several.
        #[arg(long = "role", required = true, value_parser = parse_role)]
        roles: Vec<Role>,
        /// How long the token is valid, in hours (at most a year).
        #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=8760))]
        hours: u64,
        /// The data folder of `closeloop up` (holds the local signing secret).
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Runs one service in the foreground with its production settings (what the per-service
    /// binaries and containers run).
    Serve {
        /// The service, e.g. `opportunities`.
        service: String,
    },
    /// Shows and retries what a service owes its peers: the commands waiting in its outbox and
    /// those a peer refused (parked until an operator retries them after a fix).
    Outbox {
        /// The service, e.g. `opportunities`.
        service: String,
        /// The data folder of `closeloop up` (its database is `<data-dir>/<service>.db`).
        /// Without it, the service's `database.url` setting.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[command(subcommand)]
        action: OutboxAction,
    },
    /// Asks a running service's gRPC health service whether it is SERVING, like
    /// `grpc_health_probe`: exit 0 when it is; otherwise a message on stderr and exit 1 (bad
    /// arguments), 2 (no connection), 3 (the call failed, e.g. an unknown service) or 4 (not
    /// SERVING). For container health checks.
    Health {
        /// `HOST:PORT` to probe. Default: `$CLOSELOOP_SERVER__LISTEN` (the address the service
        /// in the same container listens on; `0.0.0.0` is probed on 127.0.0.1).
        #[arg(long)]
        addr: Option<String>,
        /// The gRPC service to ask about, e.g. `closeloop.opportunities.v1.OpportunityService`;
        /// empty: the server as a whole.
        #[arg(long, default_value = "")]
        service: String,
        /// Longest the connection and the call may take, each.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
        timeout_ms: u64,
    },
    /// Measures the opportunities and contracts-payments services against a bare tonic echo
    /// server and, on PostgreSQL, against pgbench. See the README.
    Bench(bench::Args),
    /// Drives one whole loop through a running suite as the real roles would, printing each
    /// step, how long each hop between services took, and the trace id. See the README.
    Demo(demo::Args),
    /// Runs the four services as processes of their own, drives loops through them while it
    /// kills and restarts them, and counts that no step was lost or made twice. See the README.
    Chaos(chaos::Args),
}

#[derive(Subcommand)]
enum OutboxAction {
    /// Prints the backlog per peer and every parked command with the peer's answer.
    List,
    /// Puts parked commands back in line for delivery now.
    Retry {
        /// The command to retry (its id, as `list` shows it).
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        id: Option<String>,
        /// Every parked command.
        #[arg(long)]
        all: bool,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| {
        format!(
            "unknown role {s:?}; one of: {}",
            Role::ALL.map(Role::as_str).join(", ")
        )
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("closeloop: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Up {
                data_dir,
                host,
                base_port,
            } => suite::up(cli.config.as_deref(), &data_dir, &host, base_port).await,
            Command::Token {
                subject,
                roles,
                hours,
                data_dir,
            } => suite::token(
                cli.config.as_deref(),
                &data_dir,
                &subject,
                &roles,
                Duration::from_secs(hours * 3600),
            ),
            Command::Serve { service } => suite::serve(cli.config.as_deref(), &service).await,
            Command::Outbox {
                service,
                data_dir,
                action,
            } => {
                let retry = match action {
                    OutboxAction::List => None,
                    OutboxAction::Retry { id, .. } => Some(id),
                };
                suite::outbox(cli.config.as_deref(), &service, data_dir.as_deref(), retry).await
            }
            Command::Bench(args) => bench::run(args).await,
            Command::Health {
                addr,
                service,
                timeout_ms,
            } => health::run(addr.as_deref(), &service, Duration::from_millis(timeout_ms)).await,
            Command::Demo(args) => demo::run(cli.config.as_deref(), args).await,
            Command::Chaos(args) => chaos::run(cli.config.as_deref(), args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match e.downcast_ref::<health::Unhealthy>() {
            Some(unhealthy) => {
                eprintln!("closeloop health: {unhealthy}");
                unhealthy.exit_code()
            }
            None => {
                eprintln!("closeloop: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
