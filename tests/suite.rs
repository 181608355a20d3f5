//! The `closeloop` binary as people run it: `closeloop up` on a scratch data folder, a token from
//! `closeloop token`, calls over gRPC, and a graceful stop on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use closeloop_proto::common::v1 as common;
use closeloop_proto::opportunities::v1 as pb;
use closeloop_proto::opportunities::v1::opportunity_service_client::OpportunityServiceClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

mod support;

use support::{BIN, Running, demo, free_port, start_up, token};

#[tokio::test]
async fn up_serves_the_suite_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = start_up(&data, &[]).await;
    let (port, banner) = (up.port, up.banner.clone());
    let addr = format!("127.0.0.1:{port}");
    let listed = |name: &str, addr: &str| {
        banner
            .lines()
            .any(|l| l.split_whitespace().take(2).eq([name, addr]))
    };
    assert!(listed("opportunities", &addr), "{banner}");
    assert!(banner.contains("closeloop token"), "{banner}");
    let contracts_addr = format!("127.0.0.1:{}", port + 1);
    assert!(listed("contracts-payments", &contracts_addr), "{banner}");
    assert!(
        listed("handoff", &format!("127.0.0.1:{}", port + 2)),
        "{banner}"
    );
    assert!(
        listed("account-management", &format!("127.0.0.1:{}", port + 3)),
        "{banner}"
    );
    assert!(data.join("opportunities.db").exists());
    assert!(data.join("contracts-payments.db").exists());
    assert!(data.join("jwt-secret").exists());

    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let status = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: "closeloop.opportunities.v1.OpportunityService".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(status, ServingStatus::Serving as i32);
    let contracts = tonic::transport::Channel::from_shared(format!("http://{contracts_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    for service in [
        "closeloop.contracts.v1.ContractService",
        "closeloop.contracts.v1.PaymentService",
    ] {
        let status = HealthClient::new(contracts.clone())
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }

    let mut client = OpportunityServiceClient::new(channel);
    let mut request = tonic::Request::new(pb::CreateOpportunityRequest {
        opportunity: Some(pb::Opportunity {
            account: Some(common::Party {
                account_id: "acme".into(),
                display_name: "Acme".into(),
            }),
            title: "Through up".into(),
            kind: pb::OpportunityKind::NewBusiness as i32,
            source: pb::OpportunitySource::Inbound as i32,
            currency_code: "EUR".into(),
            expected_close_date: Some(common::Date {
                year: 2026,
                month: 12,
                day: 1,
            }),
            ..Default::default()
        }),
        ..Default::default()
    });
    let bearer = format!("Bearer {}", token(&data, "alice", "sales_rep"));
    request
        .metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    let created = client
        .create_opportunity(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.owner, "alice");

    // Operators read the outbox of a running suite's service, and retry parked commands.
    let out = Command::new(BIN)
        .args(["outbox", "opportunities", "--data-dir"])
        .arg(&data)
        .arg("list")
        .env_remove("CLOSELOOP_CONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("contracts") && stdout.contains("parked      0"),
        "{stdout}"
    );
    let out = Command::new(BIN)
        .args(["outbox", "opportunities", "--data-dir"])
        .arg(&data)
        .args(["retry", "--id", "no-such-command"])
        .env_remove("CLOSELOOP_CONFIG")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no parked command no-such-command"));

    // `closeloop token` pointed at a folder without a secret fails, says where it looked and how
    // to point it at the suite, and creates no secret there.
    let other = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "token",
            "--subject",
            "alice",
            "--role",
            "sales_rep",
            "--data-dir",
        ])
        .arg(other.path())
        .env_remove("CLOSELOOP_CONFIG")
        .env_remove("CLOSELOOP_AUTH__HS256_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let looked = other.path().join("jwt-secret");
    assert!(stderr.contains(&looked.display().to_string()), "{stderr}");
    assert!(stderr.contains("--data-dir"), "{stderr}");
    assert!(!looked.exists(), "no secret was created");
    assert!(out.stdout.is_empty(), "no token was printed");

    // A token minted with another suite's secret is refused.
    std::fs::write(&looked, "ab".repeat(32)).unwrap();
    let mut request = tonic::Request::new(pb::GetOpportunityRequest {
        name: created.name.clone(),
    });
    let bearer = format!("Bearer {}", token(other.path(), "alice", "sales_rep"));
    request
        .metadata_mut()
        .insert("authorization", bearer.parse().unwrap());
    let err = client.get_opportunity(request).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // SIGTERM drains and exits cleanly.
    let (status, logged) = up.stop().await;
    assert!(status.success(), "{status:?}: {logged}");
}

#[test]
fn token_refuses_unknown_roles_and_empty_subjects() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["token", "--subject", "a", "--role", "admin", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sales_rep"));
    let out = Command::new(BIN)
        .args([
            "token",
            "--subject",
            " ",
            "--role",
            "sales_rep",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn settings_errors_are_reported_not_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[opportunities]\nmargin_floor_bps = \"lots\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "opportunities", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("margin_floor_bps"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A production process without a signing key refuses to start.
    let out = Command::new(BIN)
        .args(["serve", "opportunities"])
        .env("CLOSELOOP_SERVER__LISTEN", "127.0.0.1:0")
        .env(
            "CLOSELOOP_DATABASE__URL",
            format!("sqlite://{}", dir.path().join("x.db").display()),
        )
        .env_remove("CLOSELOOP_AUTH__HS256_SECRET")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("auth"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// CPU ticks (user + system) the process has used, from `/proc/<pid>/stat`.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime 13th.
    let after = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// A process out of file descriptors cannot accept; its accept loop backs off instead of
/// spinning a core, and takes clients again once descriptors are free.
#[tokio::test]
async fn out_of_file_descriptors_the_server_backs_off_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 64 && exec \"$0\" serve opportunities")
        .arg(BIN)
        .env_remove("CLOSELOOP_CONFIG")
        .env("CLOSELOOP_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "CLOSELOOP_DATABASE__URL",
            format!("sqlite://{}", dir.path().join("o.db").display()),
        )
        .env("CLOSELOOP_AUTH__HS256_SECRET", "x".repeat(32))
        .env("CLOSELOOP_TELEMETRY__LOG_FILTER", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(child);
    let pid = running.0.id();
    let addr = format!("127.0.0.1:{port}");
    let health = || async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(1))
            .connect()
            .await
            .ok()?;
        HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .ok()
            .map(|r| r.into_inner().status)
    };
    let started = Instant::now();
    while health().await != Some(ServingStatus::Serving as i32) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // More connections than the process has descriptors: accepts fail with EMFILE.
    let mut flood = Vec::new();
    for _ in 0..120 {
        if let Ok(tcp) = tokio::net::TcpStream::connect(&addr).await {
            flood.push(tcp);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = cpu_ticks(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_ticks(pid) - before;
    // 200 ticks would be a whole core for the two seconds.
    assert!(
        used < 60,
        "the server used {used} ticks in 2 s while out of descriptors"
    );
    drop(flood);
    let freed = Instant::now();
    while health().await != Some(ServingStatus::Serving as i32) {
        assert!(
            freed.elapsed() < Duration::from_secs(10),
            "no new client got through once descriptors were free"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What `closeloop demo` prints for each step of the loop, in order.
const DEMO_STEPS: [&str; 26] = [
    "rep creates the deal",
    "rep qualifies and prices it",
    "manager approves the discount",
    "rep wins the deal",
    "contract appears",
    "rep fills the contract",
    "rep sends the contract",
    "client and company sign",
    "rep places the order",
    "finance records an invoice paid",
    "a payment of the other invoice fails",
    "the rep finds the follow-up",
    "handoff appears",
    "rep completes the handoff",
    "account manager takes it",
    "rep schedules the introduction and submits",
    "account manager holds the introduction",
    "account manager accepts the handoff",
    "account appears",
    "account manager checks in",
    "operations post an issue",
    "the rep sees it in its feed",
    "account manager identifies an expansion",
    "the rep finds the new opportunity",
    "the customer refers a company",
    "the rep finds the referred opportunity",
];

/// The demo the banner of `closeloop up` tells to run drives one whole loop, printing every step
/// and how long each hop took; pointed at a service that does not run, it fails naming the step
/// whose result never arrives. (That its calls and the commands they cause are one trace is
/// tests/telemetry.rs's.)
#[tokio::test]
async fn demo_drives_one_loop_and_names_the_step_that_does_not_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = start_up(&data, &[]).await;
    let port = up.port;
    let args = up.demo_args();
    assert_eq!(
        args[..2],
        ["--target".to_owned(), format!("127.0.0.1:{port}")],
        "{}",
        up.banner
    );

    let (status, stdout, stderr) = demo(args.clone()).await;
    assert!(status.success(), "{stdout}\n{stderr}");
    let mut lines = stdout.lines();
    for (i, step) in DEMO_STEPS.iter().enumerate() {
        let counter = format!("[{:>2}/{}] {step}: ", i + 1, DEMO_STEPS.len());
        assert!(
            lines.any(|l| l.contains(&counter)),
            "step {counter:?} in order:\n{stdout}"
        );
    }
    for hop in [
        "won deal → contract",
        "order → handoff",
        "accept → account",
        "expansion → opportunity",
        "referral → opportunity",
    ] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(hop)),
            "the summary times {hop:?}:\n{stdout}"
        );
    }

    // The handoff service is not where the demo looks: the order's handoff never arrives.
    let nowhere = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere_addr = nowhere.local_addr().unwrap().to_string();
    drop(nowhere);
    let with_handoff = |address: String| {
        let mut args = args.clone();
        args.extend([
            "--handoff".into(),
            address,
            "--timeout-secs".into(),
            "2".into(),
        ]);
        args
    };
    let started = Instant::now();
    let (status, stdout, stderr) = demo(with_handoff(nowhere_addr)).await;
    let unreachable_took = started.elapsed();
    assert!(!status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("step 13/26 \"handoff appears\"") && stderr.contains("order → handoff"),
        "{stderr}"
    );
    // The last look failed, or was still waiting for the connection when the deadline came.
    assert!(
        stderr.contains("Unavailable") || stderr.contains("no answer"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stdout.contains("[12/26] the rep finds the follow-up: "),
        "the steps before it passed:\n{stdout}"
    );

    // Tokens signed with another suite's secret: the first step says so.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("jwt-secret"), "ab".repeat(32)).unwrap();
    let elsewhere = vec![
        "--target".into(),
        format!("127.0.0.1:{port}"),
        "--data-dir".into(),
        other.path().display().to_string(),
    ];
    let (status, _, stderr) = demo(elsewhere).await;
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("step 1/26 \"rep creates the deal\"")
            && stderr.contains("Unauthenticated")
            && stderr.contains("--data-dir"),
        "{stderr}"
    );

    // A handoff service that takes connections and never answers: the hop still ends on time.
    let hangs = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let (status, _, stderr) = demo(with_handoff(hangs.local_addr().unwrap().to_string())).await;
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("step 13/26 \"handoff appears\"") && stderr.contains("no answer"),
        "{stderr}"
    );
    // Each call may take 10 s; the hop's 2 s deadline cuts the one that hangs short.
    assert!(
        started.elapsed() < unreachable_took + Duration::from_secs(5),
        "the 2 s deadline held: {:?}, against {unreachable_took:?} when nothing listens",
        started.elapsed()
    );
}
