//! The closed-loop load generator: `concurrency` callers, each sending its next call as soon as
//! the previous one answers. Calls that complete during the warm-up are not recorded; calls that
//! complete within the measured window are, by status: OK ones as a latency, the others as an
//! error count per gRPC code. Latencies are kept exactly (microseconds, one per call) and sorted
//! once at the end.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tonic::transport::{Channel, Endpoint};

/// How long and how hard to drive a server.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Load before the measured window, not recorded.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
}

/// Calls that failed with one gRPC code.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorCount {
    /// How many.
    pub count: u64,
    /// The message of the first one, to tell what went wrong.
    pub example: String,
}

/// What one workload measured.
#[derive(Debug, Clone, Default)]
pub struct Measurement {
    /// Latencies of the OK calls, in µs, ascending.
    pub latencies_us: Vec<u32>,
    /// Failed calls by gRPC code name.
    pub errors: BTreeMap<String, ErrorCount>,
    /// The measured window.
    pub window: Duration,
}

impl Measurement {
    /// OK calls per second over the window.
    pub fn rate(&self) -> f64 {
        self.latencies_us.len() as f64 / self.window.as_secs_f64()
    }

    /// The latency that `quantile` (0–1) of the OK calls did not exceed (nearest rank), in ms.
    pub fn percentile_ms(&self, quantile: f64) -> Option<f64> {
        let n = self.latencies_us.len();
        if n == 0 {
            return None;
        }
        let rank = ((quantile * n as f64).ceil() as usize).clamp(1, n);
        Some(f64::from(self.latencies_us[rank - 1]) / 1000.0)
    }

    /// All failed calls.
    pub fn error_total(&self) -> u64 {
        self.errors.values().map(|e| e.count).sum()
    }

    /// Several measurements of the same thing as one: every call, over all their windows.
    pub fn merge(parts: Vec<Measurement>) -> Measurement {
        let mut merged = Measurement::default();
        for part in parts {
            merged.latencies_us.extend(part.latencies_us);
            merged.window += part.window;
            for (code, e) in part.errors {
                merged
                    .errors
                    .entry(code)
                    .or_insert(ErrorCount {
                        count: 0,
                        example: e.example,
                    })
                    .count += e.count;
            }
        }
        merged.latencies_us.sort_unstable();
        merged
    }
}

/// Opens `count` HTTP/2 connections to `addr` with the options the services' own clients use
/// (`closeloop_kit::client`), connected before any call so connecting is not measured.
///
/// # Errors
/// When a connection cannot be made.
pub async fn connect(addr: std::net::SocketAddr, count: usize) -> anyhow::Result<Vec<Channel>> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30));
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        channels.push(
            endpoint
                .connect()
                .await
                .with_context(|| format!("connecting to {addr}"))?,
        );
    }
    Ok(channels)
}

/// Drives `call` in a closed loop shaped by `shape`. `call(caller, seq)` makes the `seq`-th call
/// of caller number `caller`; callers pick their connection and vary their requests from these.
///
/// # Errors
/// When a caller task panics.
pub async fn drive<F, Fut>(shape: Shape, call: F) -> anyhow::Result<Measurement>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), tonic::Status>> + Send + 'static,
{
    let call = Arc::new(call);
    let started = Instant::now();
    let record_from = started + shape.warmup;
    let stop_at = record_from + shape.duration;
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..shape.concurrency.max(1) {
        let call = call.clone();
        callers.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors: BTreeMap<String, ErrorCount> = BTreeMap::new();
            let mut seq = 0;
            loop {
                let sent = Instant::now();
                if sent >= stop_at {
                    break;
                }
                let result = call(caller, seq).await;
                seq += 1;
                let done = Instant::now();
                if done < record_from || done > stop_at {
                    continue;
                }
                match result {
                    Ok(()) => {
                        latencies.push(u32::try_from((done - sent).as_micros()).unwrap_or(u32::MAX))
                    }
                    Err(status) => {
                        let entry =
                            errors
                                .entry(format!("{:?}", status.code()))
                                .or_insert_with(|| ErrorCount {
                                    count: 0,
                                    example: status.message().to_owned(),
                                });
                        entry.count += 1;
                    }
                }
            }
            (latencies, errors)
        });
    }
    let mut measurement = Measurement {
        window: shape.duration,
        ..Measurement::default()
    };
    while let Some(done) = callers.join_next().await {
        let (latencies, errors) = done.context("a load caller failed")?;
        measurement.latencies_us.extend(latencies);
        for (code, e) in errors {
            let entry = measurement.errors.entry(code).or_insert(ErrorCount {
                count: 0,
                example: e.example,
            });
            entry.count += e.count;
        }
    }
    measurement.latencies_us.sort_unstable();
    Ok(measurement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let m = Measurement {
            latencies_us: (1..=1000).map(|i| i * 1000).collect(),
            window: Duration::from_secs(2),
            ..Measurement::default()
        };
        assert_eq!(m.percentile_ms(0.5), Some(500.0));
        assert_eq!(m.percentile_ms(0.99), Some(990.0));
        assert_eq!(m.percentile_ms(0.999), Some(999.0));
        assert_eq!(m.percentile_ms(1.0), Some(1000.0));
        assert_eq!(m.rate(), 500.0);
        assert_eq!(Measurement::default().percentile_ms(0.5), None);
    }

    #[test]
    fn merged_measurements_pool_calls_windows_and_errors() {
        let part = |latencies: Vec<u32>, failed: u64| Measurement {
            latencies_us: latencies,
            errors: BTreeMap::from([(
                "Unavailable".to_owned(),
                ErrorCount {
                    count: failed,
                    example: "down".to_owned(),
                },
            )]),
            window: Duration::from_secs(1),
        };
        let m = Measurement::merge(vec![part(vec![3000, 5000], 1), part(vec![1000], 2)]);
        assert_eq!(m.latencies_us, [1000, 3000, 5000]);
        assert_eq!(m.rate(), 1.5);
        assert_eq!(m.error_total(), 3);
        assert_eq!(m.percentile_ms(0.5), Some(3.0));
    }

    #[tokio::test]
    async fn a_closed_loop_records_only_the_window_and_counts_errors() {
        let shape = Shape {
            concurrency: 4,
            warmup: Duration::from_millis(50),
            duration: Duration::from_millis(200),
        };
        let m = drive(shape, |caller, seq| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if caller == 0 && seq % 2 == 0 {
                Err(tonic::Status::unavailable("down"))
            } else {
                Ok(())
            }
        })
        .await
        .unwrap();
        // 4 callers × 200 ms / 5 ms ≈ 160 calls, an eighth of them failing.
        let total = m.latencies_us.len() as u64 + m.error_total();
        assert!((80..=170).contains(&total), "{total}");
        assert_eq!(m.errors["Unavailable"].example, "down");
        assert!(m.latencies_us.windows(2).all(|w| w[0] <= w[1]));
        assert!(m.percentile_ms(0.5).unwrap() >= 5.0);
    }
}
