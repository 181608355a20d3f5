//! What the benchmark prints: a header (machine, database, data, load), one table row per
//! workload, the pgbench baseline, and each target of the issue with PASS or MISS computed from
//! the measured numbers; or all of it as one JSON document for tracking over time.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::Workload;
use super::load::{ErrorCount, Measurement};
use super::pgbench::Baseline;

/// Targets hold for this data set size.
const FORECAST_TARGET_SCALE: u64 = 1_000_000;
const MIB: f64 = 1024.0 * 1024.0;

/// The service's database engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded.
    Sqlite,
    /// Server.
    Postgres,
}

impl Backend {
    /// How the header names the database: engine, and where unless temporary (passwords
    /// hidden).
    pub fn describe(self, url: &str, temporary: bool) -> String {
        match self {
            Backend::Sqlite if temporary => "SQLite, temporary file".to_owned(),
            Backend::Sqlite => format!("SQLite, {url}"),
            Backend::Postgres => format!("PostgreSQL, {}", hide_password(url)),
        }
    }
}

fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user_info, host)) if user_info.contains(':') => {
            let user = user_info.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_owned(),
    }
}

/// The run's settings, as the header and the JSON show them.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// Engine.
    pub backend: Backend,
    /// Engine and location.
    pub database: String,
    /// Opportunities preloaded.
    pub scale: u64,
    /// Calls in flight.
    pub concurrency: usize,
    /// HTTP/2 connections.
    pub connections: usize,
    /// Seconds of unrecorded load before each workload.
    pub warmup_s: f64,
    /// Seconds measured per workload.
    pub duration_s: f64,
    /// Seconds preloading took.
    pub preload_s: f64,
    /// Mean encoded size of an opportunity; the echo payload and the pgbench row size.
    pub encoded_opportunity_bytes: usize,
    /// How many pages deep the deep-page workload reads (1,000 unless the data set is smaller).
    pub deep_pages: u64,
    /// The contracts-payments data set, when its workloads ran.
    pub payments: Option<PaymentsData>,
    /// The handoff data set, when its workloads ran.
    pub handoff: Option<HandoffData>,
    /// The account-management data set, when its workloads ran.
    pub accounts: Option<AccountsData>,
}

/// What the account-management service was preloaded with.
#[derive(Debug, Clone, Serialize)]
pub struct AccountsData {
    /// Engine and location of its own database.
    pub database: String,
    /// Accounts, one per contracts-payments customer account.
    pub accounts: u64,
    /// Check-ins recorded before the run.
    pub check_ins: u64,
    /// Operations updates posted before the run.
    pub operations_updates: u64,
    /// Seconds preloading took.
    pub preload_s: f64,
}

/// What the handoff service was preloaded with.
#[derive(Debug, Clone, Serialize)]
pub struct HandoffData {
    /// Engine and location of its own database.
    pub database: String,
    /// DRAFT handoffs, prefilled, one per placed order.
    pub handoffs: u64,
    /// Seconds preloading took.
    pub preload_s: f64,
}

/// What contracts-payments was preloaded with.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentsData {
    /// Engine and location of its own database.
    pub database: String,
    /// Customer accounts, each with 12 invoices.
    pub accounts: u64,
    /// ACTIVE contracts with their orders.
    pub contracts: u64,
    /// Invoices.
    pub invoices: u64,
    /// Invoices not settled, which the record-payment workload pays into.
    pub payable_invoices: u64,
    /// Payment attempts recorded before the run.
    pub attempts: u64,
    /// Follow-ups open before the run.
    pub follow_ups: u64,
    /// Seconds preloading took.
    pub preload_s: f64,
}

/// Each service's resident memory once ready, before any load (bytes).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ready {
    /// The opportunities service.
    pub opportunities: Option<u64>,
    /// The contracts-payments service.
    pub contracts_payments: Option<u64>,
    /// The handoff service.
    pub handoff: Option<u64>,
    /// The account-management service.
    pub account_management: Option<u64>,
}

/// The machine the run shared between client and servers.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs this process may use.
    pub cpus: usize,
    /// `model name` of /proc/cpuinfo.
    pub cpu_model: String,
}

impl Machine {
    fn this() -> Machine {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
        }
    }
}

/// One workload's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Which.
    pub workload: Workload,
    /// What the table calls it.
    pub label: String,
    /// OK calls in the window.
    pub requests: u64,
    /// OK calls per second.
    pub requests_per_s: f64,
    /// Median latency.
    pub p50_ms: Option<f64>,
    /// 99th percentile.
    pub p99_ms: Option<f64>,
    /// 99.9th percentile.
    pub p999_ms: Option<f64>,
    /// requests/s over the echo server's: the measurement just before this workload's
    /// (`paired_echo_per_s`) when there is one, else the echo row's.
    pub ratio_to_echo: Option<f64>,
    /// The echo server's requests/s measured just before this workload.
    pub paired_echo_per_s: Option<f64>,
    /// Peak resident memory of the server process during the workload (the echo server's on
    /// the echo row, the service's on the others).
    pub peak_rss_mib: Option<f64>,
    /// True when the peak could not be reset and counts from the process's start.
    pub peak_rss_since_start: bool,
    /// Failed calls in the window.
    pub failed: u64,
    /// Failed calls by gRPC code.
    pub errors: BTreeMap<String, ErrorCount>,
}

impl Row {
    /// The row of `measured`.
    pub fn new(
        workload: Workload,
        measured: &Measurement,
        peak_rss: Option<u64>,
        peak_rss_since_start: bool,
    ) -> Row {
        Row {
            workload,
            label: String::new(),
            requests: measured.latencies_us.len() as u64,
            requests_per_s: measured.rate(),
            p50_ms: measured.percentile_ms(0.5),
            p99_ms: measured.percentile_ms(0.99),
            p999_ms: measured.percentile_ms(0.999),
            ratio_to_echo: None,
            paired_echo_per_s: None,
            peak_rss_mib: peak_rss.map(|b| b as f64 / MIB),
            peak_rss_since_start,
            failed: measured.error_total(),
            errors: measured.errors.clone(),
        }
    }
}

/// Whether a target is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Met.
    Pass,
    /// Missed.
    Miss,
    /// Does not apply to this run (other backend, smaller data set) or was not measured.
    NotApplicable,
}

impl Verdict {
    fn of(met: bool) -> Verdict {
        if met { Verdict::Pass } else { Verdict::Miss }
    }

    fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Miss => "MISS",
            Verdict::NotApplicable => "n/a",
        }
    }
}

/// One target of the issue and how this run fared.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// The target.
    pub goal: &'static str,
    /// What was measured.
    pub measured: String,
    /// Met or not.
    pub verdict: Verdict,
}

/// Everything the run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where it ran.
    pub machine: Machine,
    /// How it ran.
    pub run: Run,
    /// The opportunities service's resident memory once ready, before any load.
    pub service_ready_rss_mib: Option<f64>,
    /// The contracts-payments service's resident memory once ready, before any load.
    pub payments_ready_rss_mib: Option<f64>,
    /// The handoff service's resident memory once ready, before any load.
    pub handoff_ready_rss_mib: Option<f64>,
    /// The account-management service's resident memory once ready, before any load.
    pub accounts_ready_rss_mib: Option<f64>,
    /// One per workload run.
    pub workloads: Vec<Row>,
    /// Median GetForecast latency with no other call in flight.
    pub forecast_alone_ms: Option<f64>,
    /// PostgreSQL's own insert rate.
    pub pgbench: Baseline,
    /// CreateOpportunity requests/s over pgbench's.
    pub create_over_pgbench: Option<f64>,
    /// The targets.
    pub targets: Vec<Target>,
}

/// The table's name for a workload.
pub fn label(workload: Workload, deep_pages: u64) -> String {
    match workload {
        Workload::Echo => "echo (bare tonic)".to_owned(),
        Workload::Get => "GetOpportunity".to_owned(),
        Workload::Create => "CreateOpportunity".to_owned(),
        Workload::ListFirst => "ListOpportunities p. 1".to_owned(),
        Workload::ListDeep => {
            format!("ListOpportunities p. {}", group((deep_pages + 1) as f64, 0))
        }
        Workload::Forecast => "GetForecast, all data".to_owned(),
        Workload::Balance => "GetAccountBalance".to_owned(),
        Workload::RecordPayment => "RecordPaymentAttempt".to_owned(),
        Workload::GetHandoff => "GetHandoff".to_owned(),
        Workload::UpdateHandoff => "UpdateHandoff".to_owned(),
        Workload::GetAccountHealth => "GetAccountHealth".to_owned(),
        Workload::ListSalespersonFeed => "ListSalespersonFeed p. 1".to_owned(),
    }
}

impl Report {
    /// Puts the figures together and judges the targets.
    pub fn new(
        run: Run,
        mut workloads: Vec<Row>,
        ready: Ready,
        forecast_alone_ms: Option<f64>,
        pgbench: Baseline,
    ) -> Report {
        let echo = workloads
            .iter()
            .find(|r| r.workload == Workload::Echo)
            .map(|r| r.requests_per_s)
            .filter(|rate| *rate > 0.0);
        for row in &mut workloads {
            row.label = label(row.workload, run.deep_pages);
            row.ratio_to_echo = row
                .paired_echo_per_s
                .filter(|rate| *rate > 0.0)
                .or(echo)
                .map(|e| row.requests_per_s / e);
        }
        let rate = |w| {
            workloads
                .iter()
                .find(|r| r.workload == w)
                .map(|r| r.requests_per_s)
        };
        let create_over_pgbench = match (&pgbench, rate(Workload::Create)) {
            (Baseline::Measured { tps, .. }, Some(create)) if *tps > 0.0 => Some(create / tps),
            _ => None,
        };
        let mut report = Report {
            machine: Machine::this(),
            run,
            service_ready_rss_mib: ready.opportunities.map(|b| b as f64 / MIB),
            payments_ready_rss_mib: ready.contracts_payments.map(|b| b as f64 / MIB),
            handoff_ready_rss_mib: ready.handoff.map(|b| b as f64 / MIB),
            accounts_ready_rss_mib: ready.account_management.map(|b| b as f64 / MIB),
            workloads,
            forecast_alone_ms,
            pgbench,
            create_over_pgbench,
            targets: Vec::new(),
        };
        report.targets = report.judge();
        report
    }

    fn row(&self, workload: Workload) -> Option<&Row> {
        self.workloads.iter().find(|r| r.workload == workload)
    }

    fn judge(&self) -> Vec<Target> {
        let sqlite = self.run.backend == Backend::Sqlite;
        let not_measured = |goal| Target {
            goal,
            measured: "not measured in this run".to_owned(),
            verdict: Verdict::NotApplicable,
        };
        let echo_ratio = |goal, workload, floor: f64| {
            if !sqlite {
                return Target {
                    goal,
                    measured: "the target is set for SQLite".to_owned(),
                    verdict: Verdict::NotApplicable,
                };
            }
            match self.row(workload).and_then(|r| r.ratio_to_echo) {
                Some(ratio) => Target {
                    goal,
                    measured: format!("{ratio:.2} × echo"),
                    verdict: Verdict::of(ratio >= floor),
                },
                None => not_measured(goal),
            }
        };
        let mut targets = vec![
            echo_ratio(
                "GetOpportunity ≥ 0.5 × echo req/s (SQLite)",
                Workload::Get,
                0.5,
            ),
            echo_ratio(
                "CreateOpportunity ≥ 0.2 × echo req/s (SQLite)",
                Workload::Create,
                0.2,
            ),
            echo_ratio(
                "RecordPaymentAttempt ≥ 0.2 × echo req/s (SQLite)",
                Workload::RecordPayment,
                0.2,
            ),
            echo_ratio(
                "GetAccountBalance ≥ 0.4 × echo req/s (SQLite)",
                Workload::Balance,
                0.4,
            ),
            echo_ratio(
                "GetHandoff ≥ 0.5 × echo req/s (SQLite)",
                Workload::GetHandoff,
                0.5,
            ),
            echo_ratio(
                "UpdateHandoff ≥ 0.2 × echo req/s (SQLite)",
                Workload::UpdateHandoff,
                0.2,
            ),
            echo_ratio(
                "GetAccountHealth ≥ 0.25 × echo req/s (SQLite)",
                Workload::GetAccountHealth,
                0.25,
            ),
            echo_ratio(
                "ListSalespersonFeed p. 1 ≥ 0.1 × echo req/s (SQLite)",
                Workload::ListSalespersonFeed,
                0.1,
            ),
        ];

        let goal = "CreateOpportunity ≥ 0.5 × pgbench inserts/s (PostgreSQL)";
        targets.push(match (&self.pgbench, self.create_over_pgbench) {
            (Baseline::NotApplicable, _) => Target {
                goal,
                measured: "the target is set for PostgreSQL".to_owned(),
                verdict: Verdict::NotApplicable,
            },
            (_, Some(ratio)) => Target {
                goal,
                measured: format!("{ratio:.2} × pgbench"),
                verdict: Verdict::of(ratio >= 0.5),
            },
            (Baseline::Missing, _) => Target {
                goal,
                measured: "pgbench is not on PATH".to_owned(),
                verdict: Verdict::NotApplicable,
            },
            (Baseline::Failed { .. }, _) => Target {
                goal,
                measured: "pgbench failed".to_owned(),
                verdict: Verdict::NotApplicable,
            },
            _ => not_measured(goal),
        });

        let goal = "ListOpportunities p50 1,000 pages deep ≤ 1.5 × first page p50";
        targets.push(
            match (
                self.row(Workload::ListFirst).and_then(|r| r.p50_ms),
                self.row(Workload::ListDeep).and_then(|r| r.p50_ms),
            ) {
                (Some(first), Some(deep)) => {
                    let ratio = deep / first;
                    let shallow = if self.run.deep_pages < super::DEEP_PAGES {
                        format!(
                            " (only {} pages deep: the data set is smaller)",
                            self.run.deep_pages
                        )
                    } else {
                        String::new()
                    };
                    Target {
                        goal,
                        measured: format!("{ratio:.2} × first page{shallow}"),
                        verdict: Verdict::of(ratio <= 1.5),
                    }
                }
                _ => not_measured(goal),
            },
        );

        let goal = "GetForecast over 1,000,000 opportunities < 1 s";
        targets.push(match self.forecast_alone_ms {
            Some(ms) => {
                let loaded = self
                    .row(Workload::Forecast)
                    .and_then(|r| r.p50_ms)
                    .map(|p50| format!(", p50 under load {:.3} s", p50 / 1000.0))
                    .unwrap_or_default();
                let measured = format!(
                    "{:.3} s alone over {} opportunities{loaded}",
                    ms / 1000.0,
                    group(self.run.scale as f64, 0)
                );
                // Below the target's size a miss still counts (more data is not faster), a
                // pass does not.
                let verdict = if self.run.scale >= FORECAST_TARGET_SCALE || ms >= 1000.0 {
                    Verdict::of(ms < 1000.0)
                } else {
                    Verdict::NotApplicable
                };
                Target {
                    goal,
                    measured,
                    verdict,
                }
            }
            None => not_measured(goal),
        });

        let opportunities = |w: Workload| {
            w != Workload::Echo && !w.is_payments() && !w.is_handoff() && !w.is_accounts()
        };
        // Each service's target, the workloads it serves, and its RSS once ready.
        type Serves<'a> = &'a dyn Fn(Workload) -> bool;
        let served: [(&'static str, Serves, Option<f64>); 4] = [
            (
                "peak RSS of the opportunities service < 64 MiB",
                &opportunities,
                self.service_ready_rss_mib,
            ),
            (
                "peak RSS of the contracts-payments service < 64 MiB",
                &Workload::is_payments,
                self.payments_ready_rss_mib,
            ),
            (
                "peak RSS of the handoff service < 64 MiB",
                &Workload::is_handoff,
                self.handoff_ready_rss_mib,
            ),
            (
                "peak RSS of the account-management service < 64 MiB",
                &Workload::is_accounts,
                self.accounts_ready_rss_mib,
            ),
        ];
        for (goal, serves, ready) in served {
            let peak = self
                .workloads
                .iter()
                .filter(|r| serves(r.workload))
                .filter_map(|r| r.peak_rss_mib)
                .chain(ready)
                .reduce(f64::max);
            targets.push(match peak {
                Some(mib) => Target {
                    goal,
                    measured: format!("{mib:.1} MiB"),
                    verdict: Verdict::of(mib < 64.0),
                },
                None => not_measured(goal),
            });
        }
        targets
    }

    /// The human-readable report.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let r = &self.run;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "closeloop bench · {} CPUs · {}",
            self.machine.cpus, self.machine.cpu_model
        );
        let _ = writeln!(out, "database  {}", r.database);
        let _ = writeln!(
            out,
            "data      {} opportunities, preloaded in {:.1} s ({}/s); one encodes to {} bytes",
            group(r.scale as f64, 0),
            r.preload_s,
            group(r.scale as f64 / r.preload_s.max(1e-9), 0),
            group(r.encoded_opportunity_bytes as f64, 0)
        );
        if let Some(p) = &r.payments {
            let _ = writeln!(
                out,
                "payments  {} accounts ({}): {} contracts, {} invoices ({} unsettled), {} payment \
                 attempts, {} open follow-ups, preloaded in {:.1} s",
                group(p.accounts as f64, 0),
                p.database,
                group(p.contracts as f64, 0),
                group(p.invoices as f64, 0),
                group(p.payable_invoices as f64, 0),
                group(p.attempts as f64, 0),
                group(p.follow_ups as f64, 0),
                p.preload_s
            );
        }
        if let Some(h) = &r.handoff {
            let _ = writeln!(
                out,
                "handoffs  {} DRAFT handoffs, prefilled ({}), preloaded in {:.1} s",
                group(h.handoffs as f64, 0),
                h.database,
                h.preload_s
            );
        }
        if let Some(a) = &r.accounts {
            let _ = writeln!(
                out,
                "accounts  {} accounts ({}): {} check-ins, {} operations updates, preloaded in \
                 {:.1} s; health reads contracts-payments' balances",
                group(a.accounts as f64, 0),
                a.database,
                group(a.check_ins as f64, 0),
                group(a.operations_updates as f64, 0),
                a.preload_s
            );
        }
        let _ = writeln!(
            out,
            "load      {} calls in flight over {} connections; {} s warm-up, then {} s per workload",
            r.concurrency, r.connections, r.warmup_s, r.duration_s
        );
        let ready: Vec<String> = [
            ("opportunities", self.service_ready_rss_mib),
            ("contracts-payments", self.payments_ready_rss_mib),
            ("handoff", self.handoff_ready_rss_mib),
            ("account-management", self.accounts_ready_rss_mib),
        ]
        .into_iter()
        .filter_map(|(name, mib)| mib.map(|mib| format!("{name} {mib:.1} MiB")))
        .collect();
        if !ready.is_empty() {
            let _ = writeln!(
                out,
                "service   {} resident when ready; peak RSS: the row's server, reset before each \
                 workload",
                ready.join(", ")
            );
        }
        if self.workloads.iter().any(|r| r.paired_echo_per_s.is_some()) {
            let _ = writeln!(
                out,
                "× echo    over the echo server measured just before the workload; the echo \
                 row pools those measurements"
            );
        }
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "{:<26} {:>11} {:>9} {:>9} {:>9} {:>7} {:>9} {:>7}",
            "workload",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "p99.9 ms",
            "× echo",
            "peak RSS",
            "errors"
        );
        let ms = |v: Option<f64>| v.map_or("–".to_owned(), |v| group(v, 2));
        for row in &self.workloads {
            let rss = row.peak_rss_mib.map_or("–".to_owned(), |m| {
                format!(
                    "{m:.1} MiB{}",
                    if row.peak_rss_since_start { "*" } else { "" }
                )
            });
            let _ = writeln!(
                out,
                "{:<26} {:>11} {:>9} {:>9} {:>9} {:>7} {:>9} {:>7}",
                row.label,
                group(row.requests_per_s, 1),
                ms(row.p50_ms),
                ms(row.p99_ms),
                ms(row.p999_ms),
                row.ratio_to_echo
                    .map_or("–".to_owned(), |x| format!("{x:.2}")),
                rss,
                group(row.failed as f64, 0),
            );
        }
        if self.workloads.iter().any(|r| r.peak_rss_since_start) {
            let _ = writeln!(
                out,
                "* peak since the process started (the kernel refused to reset it)"
            );
        }
        for row in &self.workloads {
            for (code, e) in &row.errors {
                let _ = writeln!(
                    out,
                    "  {}: {} × {code}, e.g. {:?}",
                    row.label,
                    group(e.count as f64, 0),
                    e.example
                );
            }
        }
        if r.deep_pages < super::DEEP_PAGES && self.row(Workload::ListDeep).is_some() {
            let _ = writeln!(
                out,
                "  the deep page is {} pages deep, not {}: the data set has fewer pages",
                r.deep_pages,
                super::DEEP_PAGES
            );
        }
        if let Some(ms) = self.forecast_alone_ms {
            let _ = writeln!(
                out,
                "  GetForecast alone (median of {} calls, one at a time): {:.3} s",
                super::FORECAST_PROBES,
                ms / 1000.0
            );
        }
        let _ = writeln!(out);

        match &self.pgbench {
            Baseline::Measured { tps, command } => {
                let ratio = self
                    .create_over_pgbench
                    .map(|x| format!("; CreateOpportunity / pgbench = {x:.2}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "pgbench   {} single-row inserts/s ({command}){ratio}",
                    group(*tps, 1)
                );
            }
            Baseline::Missing => {
                let _ = writeln!(
                    out,
                    "pgbench   not on PATH: no database baseline (install postgresql-client)"
                );
            }
            Baseline::Failed { reason } => {
                let _ = writeln!(out, "pgbench   failed: {reason}");
            }
            Baseline::NotApplicable => {
                let _ = writeln!(out, "pgbench   not run: the database is SQLite");
            }
        }
        let _ = writeln!(out);

        let _ = writeln!(
            out,
            "targets (set for 64 calls in flight, client and server sharing 2 cores)"
        );
        for t in &self.targets {
            let _ = writeln!(
                out,
                "  {:<4}  {:<63} {}",
                t.verdict.word(),
                t.goal,
                t.measured
            );
        }
        out
    }
}

/// `value` with `decimals` decimals and thousands separated by commas.
pub fn group(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{out}")
    } else {
        format!("{sign}{out}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_group_by_thousands() {
        assert_eq!(group(1_234_567.891, 2), "1,234,567.89");
        assert_eq!(group(999.0, 0), "999");
        assert_eq!(group(-1000.0, 1), "-1,000.0");
    }

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            hide_password("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(hide_password("postgres://u@h/db"), "postgres://u@h/db");
    }
}
