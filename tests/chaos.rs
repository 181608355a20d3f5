//! `closeloop chaos`, short: the four services as processes of their own, ten kills (SIGKILL)
//! and restarts under loops running three at a time, then contracts-payments down past the
//! relays' backoff cap. Nothing is lost, nothing is made twice, no loop fails, and the figures
//! it prints say so — on SQLite, and on PostgreSQL when `CLOSELOOP_TEST_DATABASE_URL` names a
//! server (the run creates its databases there and drops them).

use std::process::Command;

use closeloop_kit::testing::DATABASE_URL_ENV;
use sqlx::Connection;

mod support;

use support::BIN;

const KILLS: u64 = 10;
const LOOPS: u64 = 6;
/// The relays' backoff cap in the run, in seconds.
const CAP_SECS: f64 = 1.0;

/// The number after `label` on the line that starts with it.
fn figure(stdout: &str, label: &str) -> f64 {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("a line starting {label:?}:\n{stdout}"));
    let number = line.split_whitespace().next().unwrap_or_default();
    number
        .parse()
        .unwrap_or_else(|_| panic!("{label:?} is followed by a number: {line:?}"))
}

/// The numbers in `text`, in order.
fn numbers(text: &str) -> Vec<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|n| n.trim_matches('.').parse().ok())
        .collect()
}

#[test]
fn killed_and_restarted_services_lose_nothing_and_do_nothing_twice() {
    let postgres = std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|s| !s.is_empty());
    let mut chaos = Command::new(BIN);
    chaos
        .args(["chaos", "--loops", &LOOPS.to_string(), "--concurrency", "3"])
        .args(["--kills", &KILLS.to_string(), "--kill-every-ms", "500"])
        .args(["--max-backoff-ms", &(CAP_SECS * 1000.0).to_string()])
        .args(["--timeout-secs", "90"])
        .env_remove("CLOSELOOP_CONFIG")
        .env_remove("CLOSELOOP_AUTH__HS256_SECRET");
    if let Some(url) = &postgres {
        chaos.args(["--postgres", url]);
    }
    let out = chaos.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");

    for k in 1..=KILLS {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("kill {k}/{KILLS}: "))
                    && l.contains(" killed, serving again after ")),
            "kill {k} and its restart:\n{stdout}"
        );
    }
    assert_eq!(figure(&stdout, "kills "), KILLS as f64, "{stdout}");
    assert_eq!(figure(&stdout, "lost "), 0.0, "{stdout}");
    assert_eq!(figure(&stdout, "duplicated "), 0.0, "{stdout}");
    assert_eq!(figure(&stdout, "parked "), 0.0, "{stdout}");
    let loops = figure(&stdout, "loops ");
    assert!(loops >= LOOPS as f64, "{stdout}");
    assert!(
        stdout.contains(&format!("({loops} closed, 0 failed)")),
        "{stdout}"
    );
    assert!(figure(&stdout, "slowest hop ") > 0.0, "{stdout}");

    // Every loop's steps are counted: one contract per won deal, one handoff per order, one
    // account per accepted handoff, one opportunity per expansion and per referral.
    let counted = stdout
        .lines()
        .find_map(|l| l.split_once("Counted over gRPC: ").map(|(_, c)| c))
        .unwrap_or_else(|| panic!("the counts:\n{stdout}"));
    let each = vec![loops; 8];
    assert_eq!(
        numbers(counted),
        [each, vec![2.0 * loops]].concat(),
        "{counted}"
    );

    // contracts-payments was down past the cap, owed calls piled up and drained once it was back.
    let outage = stdout
        .lines()
        .find_map(|l| l.strip_prefix("outage "))
        .unwrap_or_else(|| panic!("the outage:\n{stdout}"));
    let [down, owed, _oldest, _drained] = numbers(outage)[..] else {
        panic!("down, owed, oldest, drained: {outage}");
    };
    assert!(down > CAP_SECS && owed >= 1.0, "{outage}");

    // On PostgreSQL the run's databases are gone.
    if let Some(url) = postgres {
        let run = stdout
            .split_once(": run ")
            .and_then(|(_, rest)| rest.split(':').next())
            .unwrap_or_else(|| panic!("the run id:\n{stdout}"));
        let left: Vec<(String,)> = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE $1")
                    .bind(format!("closeloop_chaos_{run}_%"))
                    .fetch_all(&mut admin)
                    .await
                    .unwrap()
            });
        assert!(left.is_empty(), "the run's databases are dropped: {left:?}");
    }
}
