//! `closeloop health` against a real served service (`closeloop serve opportunities`), as a
//! container health check runs it: exit 0 only while SERVING, and `grpc_health_probe`'s codes
//! with a message otherwise.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_closeloop");
const OPPORTUNITIES: &str = "closeloop.opportunities.v1.OpportunityService";

/// Kills the child if the test fails before it stops.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn health(args: &[&str], listen_env: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command
        .arg("health")
        .args(args)
        .env_remove("CLOSELOOP_SERVER__LISTEN");
    if let Some(listen) = listen_env {
        command.env("CLOSELOOP_SERVER__LISTEN", listen);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `closeloop serve opportunities` on a free port with a scratch SQLite database, SERVING.
fn serve(dir: &std::path::Path) -> (Running, String) {
    // A port found free may be taken before the service binds it: try again on another.
    for _ in 0..3 {
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new(BIN)
            .args(["serve", "opportunities"])
            .env_remove("CLOSELOOP_CONFIG")
            .env("CLOSELOOP_SERVER__LISTEN", &addr)
            .env(
                "CLOSELOOP_DATABASE__URL",
                format!("sqlite://{}", dir.join("opportunities.db").display()),
            )
            .env(
                "CLOSELOOP_AUTH__HS256_SECRET",
                format!("{}{}", uuid::Uuid::now_v7(), uuid::Uuid::now_v7()),
            )
            // Long enough to probe a draining service.
            .env("CLOSELOOP_SERVER__DRAIN_DELAY_MS", "10000")
            .env("CLOSELOOP_TELEMETRY__LOG_FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut running = Running(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if health(&["--addr", &addr], None).status.success() {
                return (running, addr);
            }
            if running.0.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    panic!("closeloop serve opportunities did not become SERVING");
}

#[test]
fn health_exits_zero_only_while_the_service_is_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (mut running, addr) = serve(dir.path());
    let port = addr.rsplit(':').next().unwrap().to_owned();

    let serving = health(&["--addr", &addr], None);
    assert!(serving.status.success(), "{}", text(&serving));
    assert!(
        String::from_utf8_lossy(&serving.stdout).contains("SERVING"),
        "{}",
        text(&serving)
    );
    let named = health(&["--addr", &addr, "--service", OPPORTUNITIES], None);
    assert!(named.status.success(), "{}", text(&named));

    // Without --addr, the address the service was told to listen on, on loopback.
    let from_env = health(&[], Some(&format!("0.0.0.0:{port}")));
    assert!(from_env.status.success(), "{}", text(&from_env));

    let unknown = health(
        &["--addr", &addr, "--service", "closeloop.nothing.v1.Nothing"],
        None,
    );
    assert_eq!(unknown.status.code(), Some(3), "{}", text(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("does not know"),
        "{}",
        text(&unknown)
    );

    // SIGTERM: health turns NOT_SERVING while the service drains.
    let killed = Command::new("kill")
        .args(["-TERM", &running.0.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let draining = loop {
        let answer = health(&["--addr", &addr], None);
        if answer.status.code() == Some(4) || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(draining.status.code(), Some(4), "{}", text(&draining));
    assert!(
        String::from_utf8_lossy(&draining.stderr).contains("NOT_SERVING"),
        "{}",
        text(&draining)
    );
    let exited = running.0.wait().unwrap();
    assert!(exited.success(), "serve exited with {exited}");

    // Nothing listening any more.
    let gone = health(&["--addr", &addr, "--timeout-ms", "500"], None);
    assert_eq!(gone.status.code(), Some(2), "{}", text(&gone));
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains(&addr),
        "{}",
        text(&gone)
    );
}

#[test]
fn health_without_an_address_says_how_to_give_one() {
    let out = health(&[], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--addr") && stderr.contains("CLOSELOOP_SERVER__LISTEN"),
        "{}",
        text(&out)
    );
}
