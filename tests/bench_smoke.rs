//! Smoke test of `closeloop bench`: the built binary preloads a few hundred opportunities, a few
//! dozen contracts-payments accounts and a few dozen handoffs, drives every workload for a second at low concurrency,
//! and prints its report. Nothing here asserts
//! speed; it checks that every workload ran, answered without errors, and was reported.

use std::process::Command;

/// In the order they run: creates last, so the reads see exactly the preloaded data; then the
/// contracts-payments service, balances before payments; then the handoff service.
const WORKLOADS: [&str; 12] = [
    "echo",
    "get",
    "list-first",
    "list-deep",
    "forecast",
    "create",
    "balance",
    "record-payment",
    "get-handoff",
    "update-handoff",
    "get-account-health",
    "list-salesperson-feed",
];

fn bench(extra: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_closeloop"))
        .args([
            "bench",
            "--scale",
            "300",
            "--accounts",
            "40",
            "--handoffs",
            "30",
            "--warmup",
            "0.2",
            "--duration",
            "1",
            "--concurrency",
            "4",
            "--connections",
            "2",
        ])
        .args(extra)
        .output()
        .expect("running closeloop bench");
    assert!(
        output.status.success(),
        "closeloop bench failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the report is UTF-8")
}

#[test]
fn the_table_names_every_workload_and_target() {
    let table = bench(&[]);
    for expected in [
        "requests/s",
        "p99.9 ms",
        "echo (bare tonic)",
        "GetOpportunity",
        "CreateOpportunity",
        "ListOpportunities p. 1 ",
        // 300 opportunities hold 6 pages of 50: the deepest page with items is the sixth.
        "ListOpportunities p. 6 ",
        "GetForecast, all data",
        "GetAccountBalance",
        "RecordPaymentAttempt",
        "GetHandoff",
        "UpdateHandoff",
        "GetAccountHealth",
        "ListSalespersonFeed p. 1",
        "40 accounts",
        "30 DRAFT handoffs",
        "480 invoices",
        "pgbench",
        "targets",
        "peak RSS of the opportunities service",
        "peak RSS of the contracts-payments service",
        "peak RSS of the handoff service",
        "peak RSS of the account-management service",
    ] {
        assert!(
            table.contains(expected),
            "{expected:?} missing from:\n{table}"
        );
    }
}

#[test]
fn json_reports_every_workload_with_figures() {
    let json = bench(&["--json"]);
    let report: serde_json::Value = serde_json::from_str(&json).expect("one JSON document");
    let rows = report["workloads"].as_array().expect("a workloads array");
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["workload"].as_str().expect("a workload name"))
        .collect();
    assert_eq!(names, WORKLOADS);
    for row in rows {
        assert!(row["requests"].as_u64().unwrap() > 0, "no calls: {row}");
        assert_eq!(row["failed"].as_u64(), Some(0), "failed calls: {row}");
        assert!(row["p50_ms"].is_number(), "{row}");
        assert!(row["p999_ms"].is_number(), "{row}");
        assert!(row["peak_rss_mib"].is_number(), "{row}");
    }
    assert!(rows[1]["ratio_to_echo"].is_number());
    // Each service workload is paired with an echo measurement taken just before it.
    assert!(
        rows[1..]
            .iter()
            .all(|r| r["paired_echo_per_s"].as_f64().unwrap() > 0.0)
    );
    assert_eq!(report["run"]["deep_pages"], 5);
    assert_eq!(report["run"]["payments"]["invoices"], 480);
    assert_eq!(report["run"]["handoff"]["handoffs"], 30);
    assert_eq!(report["targets"].as_array().unwrap().len(), 15);
    assert_eq!(report["pgbench"]["status"], "not_applicable");
}
