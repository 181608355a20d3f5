//! Settings: built-in defaults, then an optional TOML file, then `CLOSELOOP_…` environment
//! variables, each layer overriding the one before.
//!
//! Environment keys use `__` between levels: `CLOSELOOP_DATABASE__URL` sets `database.url`,
//! `CLOSELOOP_OPPORTUNITIES__MARGIN_FLOOR_BPS` sets `opportunities.margin_floor_bps`.

use std::path::Path;
use std::time::Duration;

use config::{Config, Environment, File, FileFormat};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Deserializes a number given either as a number (TOML) or as text (environment variables,
/// which are always text). Use on every numeric setting.
///
/// # Errors
/// When the value is neither a number nor text that parses as one.
pub fn number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText<T> {
        Number(T),
        Text(String),
    }
    match NumberOrText::<T>::deserialize(deserializer)? {
        NumberOrText::Number(n) => Ok(n),
        NumberOrText::Text(t) => t
            .trim()
            .parse()
            .map_err(|e| serde::de::Error::custom(format!("{t:?} is not a number: {e}"))),
    }
}

/// Deserializes a list of numbers given either as a list (TOML, each a number or text) or as
/// comma-separated text (environment variables: `1,3,7`; empty text is the empty list). Use on
/// every setting that is a list of numbers.
///
/// # Errors
/// When an element is not a number.
pub fn numbers<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
    T::Err: std::fmt::Display,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText<T> {
        Number(T),
        Text(String),
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText<T> {
        List(Vec<NumberOrText<T>>),
        Text(String),
    }
    let parse = |t: &str| {
        t.trim()
            .parse::<T>()
            .map_err(|e| serde::de::Error::custom(format!("{t:?} is not a number: {e}")))
    };
    match ListOrText::<T>::deserialize(deserializer)? {
        ListOrText::List(items) => items
            .into_iter()
            .map(|i| match i {
                NumberOrText::Number(n) => Ok(n),
                NumberOrText::Text(t) => parse(&t),
            })
            .collect(),
        ListOrText::Text(t) if t.trim().is_empty() => Ok(Vec::new()),
        ListOrText::Text(t) => t.split(',').map(parse).collect(),
    }
}

/// Environment variable naming the optional settings file.
pub const CONFIG_FILE_ENV: &str = "CLOSELOOP_CONFIG";

/// Settings shared by every service process. A service's own settings embed these with
/// `#[serde(flatten)]` next to its own section (which is why this level accepts unknown keys;
/// every section below it refuses them).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CommonSettings {
    /// The gRPC server.
    pub server: ServerSettings,
    /// The service's own database.
    pub database: DatabaseSettings,
    /// Logs and traces.
    pub telemetry: TelemetrySettings,
    /// Bearer token verification.
    pub auth: crate::auth::AuthSettings,
    /// Delivery of commands owed to other services.
    pub outbox: OutboxSettings,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on, e.g. `0.0.0.0:50051`. Port 0 picks a free port.
    pub listen: String,
    /// Longest a call may run before it fails with DEADLINE_EXCEEDED (a shorter client
    /// deadline wins).
    #[serde(deserialize_with = "number")]
    pub request_timeout_ms: u64,
    /// Calls served at once; more are refused with RESOURCE_EXHAUSTED instead of queueing.
    #[serde(deserialize_with = "number")]
    pub concurrency_limit: usize,
    /// Largest request or response message, in bytes.
    #[serde(deserialize_with = "number")]
    pub max_message_bytes: usize,
    /// How long a shutdown waits for in-flight calls before it stops anyway.
    #[serde(deserialize_with = "number")]
    pub shutdown_grace_ms: u64,
    /// How long a shutdown keeps accepting calls with health NOT_SERVING before it closes the
    /// listener, so load balancers stop sending new calls first.
    #[serde(deserialize_with = "number")]
    pub drain_delay_ms: u64,
    /// Longest wait for a request's message once its headers arrived; a body that does not
    /// arrive in time answers DEADLINE_EXCEEDED and never holds a concurrency slot.
    #[serde(deserialize_with = "number")]
    pub request_body_timeout_ms: u64,
    /// Bytes of request messages being received at once, over all calls; a call that would
    /// pass it is shed with RESOURCE_EXHAUSTED.
    #[serde(deserialize_with = "number")]
    pub max_request_bytes_in_flight: usize,
    /// Calls one connection may have open at once (HTTP/2 `MAX_CONCURRENT_STREAMS`).
    #[serde(deserialize_with = "number")]
    pub max_concurrent_streams: u32,
    /// Largest request headers (HTTP/2 `MAX_HEADER_LIST_SIZE`), in bytes.
    #[serde(deserialize_with = "number")]
    pub max_header_list_bytes: u32,
    /// Connections open at once; more are closed as they arrive.
    #[serde(deserialize_with = "number")]
    pub max_connections: usize,
    /// How long a new connection has to send the HTTP/2 connection preface.
    #[serde(deserialize_with = "number")]
    pub handshake_timeout_ms: u64,
    /// How long a connection may go without sending a request before it is closed.
    #[serde(deserialize_with = "number")]
    pub idle_timeout_ms: u64,
    /// Field violations one error reports at most; the last says how many more there were.
    #[serde(deserialize_with = "number")]
    pub max_error_violations: usize,
    /// Bytes the violations of one error take at most.
    #[serde(deserialize_with = "number")]
    pub max_error_details_bytes: usize,
}

impl ServerSettings {
    /// `request_timeout_ms` as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path/to/file.db` (created if missing) or `postgres://user@host/db`.
    pub url: String,
    /// Pool size; 0 picks the backend's default (4 on SQLite, 8 on PostgreSQL).
    #[serde(deserialize_with = "number")]
    pub max_connections: u32,
    /// How long a call waits for a pooled connection before UNAVAILABLE.
    #[serde(deserialize_with = "number")]
    pub acquire_timeout_ms: u64,
}

/// `[telemetry]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// OTLP/gRPC collector endpoint, e.g. `http://otel-collector:4317`. Empty: no export.
    #[serde(default)]
    pub otlp_endpoint: String,
    /// How often metrics are exported to the endpoint (and the outbox gauges read).
    #[serde(deserialize_with = "number")]
    pub metrics_interval_ms: u64,
    /// `human` or `json`.
    pub log_format: LogFormat,
    /// `tracing` filter directive, e.g. `info` or `info,closeloop_kit=debug`. `RUST_LOG` wins.
    pub log_filter: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[outbox]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxSettings {
    /// How often the relay looks for due commands when idle.
    #[serde(deserialize_with = "number")]
    pub poll_interval_ms: u64,
    /// Commands claimed per round.
    #[serde(deserialize_with = "number")]
    pub batch_size: u32,
    /// First retry delay; doubles per failed attempt.
    #[serde(deserialize_with = "number")]
    pub initial_backoff_ms: u64,
    /// Longest retry delay.
    #[serde(deserialize_with = "number")]
    pub max_backoff_ms: u64,
    /// How long a claimed command stays reserved by one relay replica.
    #[serde(deserialize_with = "number")]
    pub lease_ms: u64,
    /// Deadline of each delivery call.
    #[serde(deserialize_with = "number")]
    pub call_timeout_ms: u64,
}

/// Defaults every service starts from, as TOML (the same shape a settings file has).
pub const COMMON_DEFAULTS: &str = r#"
[server]
listen = "127.0.0.1:0"
request_timeout_ms = 10000
concurrency_limit = 512
max_message_bytes = 4194304
shutdown_grace_ms = 20000
drain_delay_ms = 2000
request_body_timeout_ms = 5000
max_request_bytes_in_flight = 67108864
max_concurrent_streams = 100
max_header_list_bytes = 16384
max_connections = 1000
handshake_timeout_ms = 5000
idle_timeout_ms = 300000
max_error_violations = 50
max_error_details_bytes = 8192

[database]
url = "sqlite://data/closeloop.db"
max_connections = 0
acquire_timeout_ms = 5000

[telemetry]
otlp_endpoint = ""
metrics_interval_ms = 10000
log_format = "human"
log_filter = "info"

[auth]
issuer = "closeloop"
audience = "closeloop"

[outbox]
poll_interval_ms = 500
batch_size = 32
initial_backoff_ms = 500
max_backoff_ms = 300000
lease_ms = 30000
call_timeout_ms = 5000
"#;

/// Loads settings of type `S`: `COMMON_DEFAULTS`, then `service_defaults`, then the file (the
/// `file` argument, else `$CLOSELOOP_CONFIG` when set), then the environment.
///
/// # Errors
/// When the file is missing or malformed, or a value does not fit `S`.
pub fn load<S: DeserializeOwned>(
    service_defaults: &str,
    file: Option<&Path>,
) -> Result<S, config::ConfigError> {
    layered(&[service_defaults], file, None)?.try_deserialize()
}

/// The layered settings source: `COMMON_DEFAULTS`, then each of `defaults` in order, then the
/// file (the `file` argument, else `$CLOSELOOP_CONFIG` when set), then the environment (`None`:
/// the process environment).
///
/// # Errors
/// When the file is missing or malformed.
pub fn layered(
    defaults: &[&str],
    file: Option<&Path>,
    environment: Option<config::Map<String, String>>,
) -> Result<Config, config::ConfigError> {
    let mut builder =
        Config::builder().add_source(File::from_str(COMMON_DEFAULTS, FileFormat::Toml));
    for d in defaults {
        builder = builder.add_source(File::from_str(d, FileFormat::Toml));
    }
    let env_file = std::env::var(CONFIG_FILE_ENV)
        .ok()
        .filter(|s| !s.is_empty());
    if let Some(path) = file.map(|p| p.to_string_lossy().into_owned()).or(env_file) {
        builder = builder.add_source(File::new(&path, FileFormat::Toml).required(true));
    }
    builder
        .add_source(
            Environment::with_prefix("CLOSELOOP")
                .prefix_separator("_")
                .separator("__")
                .ignore_empty(true)
                // Values stay text here: numeric settings parse text themselves
                // ([`number`]), so a secret or name that looks like a number stays intact.
                .source(environment),
        )
        .build()
}

/// [`load`] with the environment given explicitly.
#[cfg(test)]
fn load_from<S: DeserializeOwned>(
    service_defaults: &str,
    file: Option<&Path>,
    environment: Option<config::Map<String, String>>,
) -> Result<S, config::ConfigError> {
    layered(&[service_defaults], file, environment)?.try_deserialize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct S {
        #[serde(flatten)]
        common: CommonSettings,
        demo: Demo,
    }

    #[derive(Deserialize)]
    struct Demo {
        #[serde(deserialize_with = "number")]
        knob: u32,
    }

    #[test]
    fn file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[server]\nlisten = \"0.0.0.0:1\"\n[demo]\nknob = 7\n[auth]\nissuer = \"x\"\naudience = \"y\"\n",
        )
        .unwrap();
        let s: S = load("[demo]\nknob = 1\n", Some(&path)).unwrap();
        assert_eq!(s.common.server.listen, "0.0.0.0:1");
        assert_eq!(s.common.auth.issuer, "x");
        assert_eq!(s.demo.knob, 7);
        assert_eq!(s.common.server.concurrency_limit, 512);
    }

    #[test]
    fn environment_overrides_numbers_booleans_and_text() {
        let env: config::Map<String, String> = [
            ("CLOSELOOP_SERVER__CONCURRENCY_LIMIT", "1024"),
            ("CLOSELOOP_DATABASE__URL", "postgres://u:p@h/db"),
            (
                "CLOSELOOP_AUTH__HS256_SECRET",
                "3f9c0a56b1e74a0e9d642f4b8f0e6c11",
            ),
            ("CLOSELOOP_AUTH__ISSUER", "12345"),
            ("CLOSELOOP_DEMO__KNOB", "9"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let s: S = load_from("[demo]\nknob = 1\n", None, Some(env)).unwrap();
        assert_eq!(s.common.server.concurrency_limit, 1024);
        assert_eq!(s.common.database.url, "postgres://u:p@h/db");
        assert_eq!(
            s.common.auth.hs256_secret.as_deref(),
            Some("3f9c0a56b1e74a0e9d642f4b8f0e6c11")
        );
        assert_eq!(s.common.auth.issuer, "12345");
        assert_eq!(s.demo.knob, 9);
    }

    #[test]
    fn a_non_number_is_refused_naming_the_value() {
        let env: config::Map<String, String> = [(
            "CLOSELOOP_SERVER__CONCURRENCY_LIMIT".to_owned(),
            "lots".to_owned(),
        )]
        .into();
        let err = load_from::<S>("[demo]\nknob = 1\n", None, Some(env))
            .err()
            .unwrap();
        assert!(err.to_string().contains("lots"), "{err}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let r: Result<S, _> = load("[demo]\nknob = 1\n", Some(Path::new("/nonexistent.toml")));
        assert!(r.is_err());
    }

    #[test]
    fn lists_of_numbers_come_from_toml_or_comma_separated_text() {
        #[derive(Deserialize)]
        struct Days {
            #[serde(deserialize_with = "numbers")]
            days: Vec<i32>,
        }
        let from = |source: config::Config| source.try_deserialize::<Days>().map(|d| d.days);
        let toml = config::Config::builder()
            .add_source(File::from_str("days = [1, 3, 7]", FileFormat::Toml))
            .build()
            .unwrap();
        assert_eq!(from(toml).unwrap(), [1, 3, 7]);
        let text = |t: &str| {
            config::Config::builder()
                .set_override("days", t)
                .unwrap()
                .build()
                .unwrap()
        };
        assert_eq!(from(text("2, 4")).unwrap(), [2, 4]);
        assert_eq!(from(text("")).unwrap(), Vec::<i32>::new());
        assert!(from(text("1,x")).is_err());
    }
}
