//! What the tests of the `closeloop` binary share: `closeloop up` started on free ports, the
//! running process, tokens from `closeloop token`, and `closeloop demo` run as its banner says.
//! Each test binary uses a part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_closeloop");

/// A base port whose next ports are free too: `closeloop up` takes one per service.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = first.local_addr().unwrap().port();
        let rest: Vec<_> = (1..4)
            .map(|i| std::net::TcpListener::bind(("127.0.0.1", base.saturating_add(i))))
            .collect();
        if rest.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("no four consecutive free ports");
}

/// Kills the child if the test fails before stopping it.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A token for `subject` with `role` from `closeloop token`, signed with the secret of the suite
/// whose data folder is `data_dir`.
pub fn token(data_dir: &std::path::Path, subject: &str, role: &str) -> String {
    let out = Command::new(BIN)
        .args(["token", "--subject", subject, "--role", role, "--data-dir"])
        .arg(data_dir)
        .env_remove("CLOSELOOP_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Reads `output` (a child's stderr) to its end on a thread of its own, so that what the child
/// writes never fills the pipe and stalls it; the thread gives all of it back.
pub fn drain(mut output: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = output.read_to_string(&mut text);
        text
    })
}

/// `closeloop up`, running.
pub struct Up {
    /// Its base port: opportunities, then contracts-payments, handoff and account-management.
    pub port: u16,
    pub running: Running,
    /// What it printed once up: where the services listen, how to get a token, run the demo.
    pub banner: String,
    /// What it writes to stderr, all of it once it has stopped.
    log: JoinHandle<String>,
}

/// Starts `closeloop up` on free ports with its data in `data` and, beside a `warn` log filter,
/// the environment `env`.
pub async fn start_up(data: &std::path::Path, env: &[(&str, &str)]) -> Up {
    // Ports found free can be taken by another process before `up` binds them (tests run in
    // parallel): a start that fails on its ports is tried again on others, three times at most.
    for _ in 0..3 {
        let port = free_port();
        let mut child = Command::new(BIN)
            .args(["up", "--base-port", &port.to_string(), "--data-dir"])
            .arg(data)
            .env_remove("CLOSELOOP_CONFIG")
            .env("CLOSELOOP_TELEMETRY__LOG_FILTER", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Drained all along, so that logs never fill the pipe and stall the suite.
        let log = drain(child.stderr.take().unwrap());
        let running = Running(child);

        // The banner says where the services listen; stdout is read to its end after it, so
        // that printing never fails on a closed pipe.
        let (banner_tx, banner_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut banner_tx = Some(banner_tx);
            let mut text = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if banner_tx.is_none() {
                    continue;
                }
                text.push_str(&line);
                text.push('\n');
                if line.starts_with("Ctrl-C")
                    && let Some(tx) = banner_tx.take()
                {
                    let _ = tx.send(std::mem::take(&mut text));
                }
            }
            if let Some(tx) = banner_tx {
                let _ = tx.send(text);
            }
        });
        let banner = banner_rx.await.unwrap_or_default();
        if banner.contains("closeloop is up") {
            return Up {
                port,
                running,
                banner,
                log,
            };
        }
        drop(running);
        let errors = log.join().unwrap_or_default();
        assert!(
            errors.contains("ddress") && errors.contains("in use"),
            "closeloop up did not start: {errors}"
        );
    }
    panic!("closeloop up starts on free ports");
}

impl Up {
    /// The arguments of the `closeloop demo` the banner tells to run.
    pub fn demo_args(&self) -> Vec<String> {
        let Some(command) = self
            .banner
            .lines()
            .find_map(|l| l.trim().strip_prefix("closeloop demo"))
        else {
            panic!("the banner says how to run the demo: {}", self.banner);
        };
        command.split_whitespace().map(str::to_owned).collect()
    }

    /// Stops it as Ctrl-C does (SIGTERM: in-flight calls finish, telemetry is flushed) and waits
    /// for it, thirty seconds at most: its exit status and everything it logged.
    pub async fn stop(self) -> (ExitStatus, String) {
        let Up {
            mut running, log, ..
        } = self;
        let pid = running.0.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        let started = Instant::now();
        let status = loop {
            if let Some(status) = running.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "closeloop up did not stop"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        (status, log.join().unwrap_or_default())
    }
}

/// Runs `closeloop demo` with `args`: its exit status, stdout and stderr.
pub async fn demo(args: Vec<String>) -> (ExitStatus, String, String) {
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .arg("demo")
            .args(args)
            .env_remove("CLOSELOOP_CONFIG")
            .env_remove("CLOSELOOP_AUTH__HS256_SECRET")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
