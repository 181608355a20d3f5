//! The servers under test run as child processes of the benchmark, so what `/proc` says about a
//! child's memory is that server's alone; `closeloop chaos` runs the suite's services the same
//! way, to kill them. A [`Child`] is killed when dropped, on every path out
//! of the benchmark, errors included.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// How long a child may take to answer its first health check.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A free port on 127.0.0.1: bound, read and released for the child to bind. Another process
/// could take it in between; on a benchmark machine that is unlikely enough.
///
/// # Errors
/// When no port can be bound.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// A running server process.
pub struct Child {
    name: &'static str,
    process: std::process::Child,
    log: PathBuf,
}

impl Child {
    /// Starts this executable with `args` and `envs`; its output goes to the end of `log` (a
    /// process started again on the same log keeps what the one before wrote).
    ///
    /// # Errors
    /// When the executable or the log file cannot be opened.
    pub fn spawn(
        name: &'static str,
        args: &[&str],
        envs: &[(impl AsRef<OsStr>, impl AsRef<OsStr>)],
        log: PathBuf,
    ) -> anyhow::Result<Child> {
        let exe = std::env::current_exe().context("locating the closeloop executable")?;
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone()?;
        let process = Command::new(exe)
            .args(args)
            // The child reads its settings from these variables only: a settings file or a
            // log filter meant for something else would change what is measured.
            .env_remove("CLOSELOOP_CONFIG")
            .env_remove("RUST_LOG")
            .envs(envs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting the {name} process"))?;
        Ok(Child { name, process, log })
    }

    /// Waits until the child's health service reports `service` SERVING on `addr`.
    ///
    /// # Errors
    /// When the child exits or is not ready within a minute; the error carries its log.
    pub async fn wait_ready(&mut self, addr: SocketAddr, service: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5));
        loop {
            if let Some(status) = self.process.try_wait()? {
                bail!(
                    "the {} process exited ({status}) before it was ready:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if let Ok(channel) = endpoint.connect().await {
                let answer = HealthClient::new(channel)
                    .check(HealthCheckRequest {
                        service: service.to_owned(),
                    })
                    .await;
                if answer.is_ok_and(|a| a.get_ref().status == ServingStatus::Serving as i32) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the {} process was not ready after {} s:\n{}",
                    self.name,
                    READY_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Makes the peak resident set size start again from the current one (Linux
    /// `clear_refs` 5), so the next reading is the peak of what follows. False when the kernel
    /// refuses; readings are then peaks since the start.
    pub fn reset_peak_rss(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.process.id()), "5").is_ok()
    }

    /// The peak resident set size in bytes (`VmHWM`), when `/proc` tells.
    pub fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kib: u64 = line
            .trim_start_matches("VmHWM:")
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kib * 1024)
    }

    /// Whether the child is still running.
    ///
    /// # Errors
    /// When the process cannot be queried.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.process.try_wait()? {
            bail!(
                "the {} process exited ({status}) during the benchmark:\n{}",
                self.name,
                self.log_tail()
            );
        }
        Ok(())
    }

    /// The last lines the child wrote.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        // The data is scratch and the measurement is over: no need for a graceful drain.
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
