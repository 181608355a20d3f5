//! The database baseline on PostgreSQL: `pgbench` running one single-row INSERT per transaction
//! into a scratch table, at the benchmark's concurrency, for as long as a workload is measured.
//! No service can create rows faster than its database inserts them.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use closeloop_kit::db::Db;
use closeloop_kit::settings::DatabaseSettings;
use serde::Serialize;

/// The scratch table, created and dropped by the benchmark.
const TABLE: &str = "closeloop_bench_pgbench";

/// What pgbench measured, or why it did not.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Baseline {
    /// Transactions (single-row inserts) per second.
    Measured {
        /// `tps = …` as pgbench printed it.
        tps: f64,
        /// The command line run.
        command: String,
    },
    /// Not on PostgreSQL: nothing to compare with.
    NotApplicable,
    /// `pgbench` is not on PATH.
    Missing,
    /// pgbench ran and failed.
    Failed {
        /// Why.
        reason: String,
    },
}

/// Where `pgbench` is on PATH, if it is.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("pgbench"))
        .find(|candidate| candidate.is_file())
}

/// Runs pgbench against `url` with `concurrency` clients for `duration` (rounded up to whole
/// seconds, pgbench's unit), inserting rows of `row_bytes` bytes; the script and its output go
/// to `dir`. The scratch table is dropped whatever happens.
pub async fn run(
    pgbench: &Path,
    url: &str,
    concurrency: usize,
    duration: Duration,
    row_bytes: usize,
    dir: &Path,
) -> Baseline {
    let settings = DatabaseSettings {
        url: url.to_owned(),
        max_connections: 1,
        acquire_timeout_ms: 10_000,
    };
    let db = match Db::connect(&settings).await {
        Ok(db) => db,
        Err(e) => {
            return Baseline::Failed {
                reason: format!("{e:#}"),
            };
        }
    };
    let result = measure(&db, pgbench, url, concurrency, duration, row_bytes, dir).await;
    let dropped = sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE IF EXISTS {TABLE}")))
        .execute(db.writes())
        .await;
    db.close().await;
    match (result, dropped) {
        (Ok((tps, command)), Ok(_)) => Baseline::Measured { tps, command },
        (Ok(_), Err(e)) => Baseline::Failed {
            reason: format!("dropping {TABLE}: {e}"),
        },
        (Err(e), _) => Baseline::Failed {
            reason: format!("{e:#}"),
        },
    }
}

async fn measure(
    db: &Db,
    pgbench: &Path,
    url: &str,
    concurrency: usize,
    duration: Duration,
    row_bytes: usize,
    dir: &Path,
) -> anyhow::Result<(f64, String)> {
    for sql in [
        format!("DROP TABLE IF EXISTS {TABLE}"),
        format!("CREATE TABLE {TABLE} (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(db.writes())
            .await
            .with_context(|| format!("creating {TABLE}"))?;
    }
    // The row is as large as an opportunity, so the insert moves what a create moves.
    let script = dir.join("pgbench-insert.sql");
    std::fs::write(
        &script,
        format!(
            "INSERT INTO {TABLE} (body) VALUES ('{}');\n",
            "x".repeat(row_bytes.max(1))
        ),
    )
    .context("writing the pgbench script")?;
    let seconds = duration.as_secs_f64().ceil().max(1.0) as u64;
    let clients = concurrency.max(1);
    let threads = clients.min(2);
    let args = [
        "-n".to_owned(),
        "-M".to_owned(),
        "prepared".to_owned(),
        "-f".to_owned(),
        script.display().to_string(),
        "-c".to_owned(),
        clients.to_string(),
        "-j".to_owned(),
        threads.to_string(),
        "-T".to_owned(),
        seconds.to_string(),
        url.to_owned(),
    ];
    let command = format!(
        "pgbench -n -M prepared -f <single-row INSERT> -c {clients} -j {threads} -T {seconds}"
    );
    let program = pgbench.to_owned();
    let output = tokio::task::spawn_blocking(move || Command::new(program).args(args).output())
        .await
        .context("pgbench task")?
        .context("starting pgbench")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let tps = parse_tps(&stdout).with_context(|| format!("no `tps = …` in:\n{stdout}"))?;
    Ok((tps, command))
}

/// The `tps = 1234.5 (without initial connection time)` figure of pgbench's report.
fn parse_tps(report: &str) -> Option<f64> {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_is_read_from_the_report() {
        let report = "number of failed transactions: 0 (0.000%)\nlatency average = 0.430 ms\n\
                      initial connection time = 14.623 ms\n\
                      tps = 9300.700740 (without initial connection time)\n";
        assert_eq!(parse_tps(report), Some(9300.70074));
        assert_eq!(parse_tps("nothing"), None);
    }
}
