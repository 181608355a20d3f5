//! `closeloop health`: a gRPC health probe for container health checks, answering like
//! `grpc_health_probe` so an image needs no extra binary (and no shell) to be probed.
//!
//! It asks `grpc.health.v1.Health/Check` once and exits 0 only when the answer is SERVING.
//! The other exit codes are `grpc_health_probe`'s, so tooling written for it reads ours alike:
//! 1 bad arguments, 2 nothing to connect to, 3 the call failed (an unknown service is
//! NOT_FOUND), 4 an answer other than SERVING.

use std::process::ExitCode;
use std::time::Duration;

use tonic::transport::Endpoint;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// Where the probe looks when `--addr` is not given: the address the service itself was told
/// to listen on, so one image-wide `HEALTHCHECK` fits all four services.
pub const LISTEN_ENV: &str = "CLOSELOOP_SERVER__LISTEN";

/// Why a probe did not find the service SERVING, with `grpc_health_probe`'s exit code.
#[derive(Debug)]
pub enum Unhealthy {
    /// The address is not usable (exit 1).
    Arguments(String),
    /// Nothing answered at the address within the timeout (exit 2).
    Connect(String),
    /// The health call failed, e.g. NOT_FOUND for a service the server does not know (exit 3).
    Call(tonic::Status),
    /// The server answered with another status (exit 4).
    Status(ServingStatus),
}

impl Unhealthy {
    /// `grpc_health_probe`'s exit code for this outcome.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Unhealthy::Arguments(_) => 1,
            Unhealthy::Connect(_) => 2,
            Unhealthy::Call(_) => 3,
            Unhealthy::Status(_) => 4,
        })
    }
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unhealthy::Arguments(m) => write!(f, "{m}"),
            Unhealthy::Connect(m) => write!(f, "{m}"),
            Unhealthy::Call(status) if status.code() == tonic::Code::NotFound => {
                write!(
                    f,
                    "the server does not know this service: {}",
                    status.message()
                )
            }
            Unhealthy::Call(status) => write!(
                f,
                "the health call failed: {:?} {}",
                status.code(),
                status.message()
            ),
            Unhealthy::Status(status) => write!(f, "service unhealthy: {}", status.as_str_name()),
        }
    }
}

impl std::error::Error for Unhealthy {}

/// `closeloop health`: probes [`target`]`(addr)` and prints `status: SERVING` when it is.
///
/// # Errors
/// [`Unhealthy`] (inside the `anyhow::Error`) saying why it is not.
pub async fn run(addr: Option<&str>, service: &str, timeout: Duration) -> anyhow::Result<()> {
    let addr = target(addr)?;
    check(&addr, service, timeout).await?;
    println!("status: SERVING");
    Ok(())
}

/// The address to probe: `--addr`, else the listen address from the environment with an
/// unspecified host (`0.0.0.0`, `[::]`) replaced by loopback.
///
/// # Errors
/// [`Unhealthy::Arguments`] when neither is given.
pub fn target(addr: Option<&str>) -> Result<String, Unhealthy> {
    if let Some(addr) = addr {
        return Ok(addr.to_owned());
    }
    let listen = std::env::var(LISTEN_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            Unhealthy::Arguments(format!(
                "no address to probe: give --addr HOST:PORT or set {LISTEN_ENV}"
            ))
        })?;
    Ok(loopback_for_unspecified(&listen))
}

fn loopback_for_unspecified(listen: &str) -> String {
    if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        listen.to_owned()
    }
}

/// Asks `addr` (`HOST:PORT`, or a `http://` URI) whether `service` is SERVING (`""`: the server
/// as a whole), connecting and calling within `timeout`.
///
/// # Errors
/// [`Unhealthy`] saying why it is not.
pub async fn check(addr: &str, service: &str, timeout: Duration) -> Result<(), Unhealthy> {
    let uri = if addr.contains("://") {
        addr.to_owned()
    } else {
        format!("http://{addr}")
    };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|e| Unhealthy::Arguments(format!("--addr {addr:?} is not an address: {e}")))?
        .connect_timeout(timeout)
        .timeout(timeout);
    let channel = tokio::time::timeout(timeout, endpoint.connect())
        .await
        .map_err(|_| {
            Unhealthy::Connect(format!(
                "timeout: no connection to {addr} within {} ms",
                timeout.as_millis()
            ))
        })?
        .map_err(|e| {
            Unhealthy::Connect(format!(
                "error: cannot connect to {addr}: {}",
                closeloop_kit::error::Chain(&e)
            ))
        })?;
    let answer = tokio::time::timeout(
        timeout,
        HealthClient::new(channel).check(HealthCheckRequest {
            service: service.to_owned(),
        }),
    )
    .await
    .map_err(|_| Unhealthy::Call(tonic::Status::deadline_exceeded("no answer in time")))?
    .map_err(Unhealthy::Call)?;
    match ServingStatus::try_from(answer.get_ref().status) {
        Ok(ServingStatus::Serving) => Ok(()),
        Ok(other) => Err(Unhealthy::Status(other)),
        Err(_) => Err(Unhealthy::Status(ServingStatus::Unknown)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_host_is_probed_on_loopback() {
        assert_eq!(loopback_for_unspecified("0.0.0.0:50051"), "127.0.0.1:50051");
        assert_eq!(loopback_for_unspecified("[::]:50052"), "[::1]:50052");
        assert_eq!(loopback_for_unspecified("10.1.2.3:50053"), "10.1.2.3:50053");
    }
}
