//! The errors closeloop APIs answer with, and the one table that maps them to gRPC status codes
//! with `google.rpc` rich details.
//!
//! Domain code says *what* went wrong as a [`Problem`]; only [`Problem::into_status`] decides how a
//! client sees it. Internal causes are logged here with their whole chain and never sent.

use std::fmt;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// Boxed error used as the cause of an internal problem.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// One invalid request field (`google.rpc.BadRequest.FieldViolation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. `opportunity.line_items[2].quantity`.
    pub field: String,
    /// What is wrong, for a person.
    pub description: String,
}

/// One unmet gate (`google.rpc.PreconditionFailure.Violation`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateViolation {
    /// The gate, a stable lower_snake code such as `qualification` or `discount_approval`.
    pub gate: String,
    /// What the gate is about, e.g. `line_items/3` or `stage`.
    pub subject: String,
    /// What is missing, for a person.
    pub description: String,
}

/// Everything a closeloop API call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The request itself is malformed: INVALID_ARGUMENT with `BadRequest`.
    #[error("invalid argument: {}", first_field(.0))]
    InvalidArgument(Vec<FieldViolation>),
    /// The request is well formed but the resource is not in a state that allows it:
    /// FAILED_PRECONDITION with `PreconditionFailure` naming each unmet gate.
    #[error("failed precondition: {}", first_gate(.0))]
    FailedPrecondition(Vec<GateViolation>),
    /// NOT_FOUND with `ResourceInfo`.
    #[error("{resource} {name} not found")]
    NotFound {
        /// Resource type, e.g. `closeloop.opportunities.v1.Opportunity`.
        resource: &'static str,
        /// Resource name as the client sent it.
        name: String,
    },
    /// ALREADY_EXISTS.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// ABORTED: a concurrent change (etag mismatch, lost optimistic-concurrency race).
    #[error("aborted: {0}")]
    Aborted(String),
    /// PERMISSION_DENIED: authenticated, but this caller may not do this.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// UNAUTHENTICATED: no valid credentials.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// UNAVAILABLE: a dependency (the database, a peer) cannot be reached; retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// RESOURCE_EXHAUSTED: the server sheds load; retry with backoff.
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// INTERNAL: a bug or an unexpected failure. The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

fn first_field(v: &[FieldViolation]) -> String {
    v.first()
        .map(|f| format!("{}: {}", f.field, f.description))
        .unwrap_or_default()
}

fn first_gate(v: &[GateViolation]) -> String {
    v.first()
        .map(|g| format!("{} ({}): {}", g.gate, g.subject, g.description))
        .unwrap_or_default()
}

impl Problem {
    /// One invalid field.
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Problem::InvalidArgument(vec![FieldViolation {
            field: field.into(),
            description: description.into(),
        }])
    }

    /// One unmet gate.
    pub fn gate(
        gate: impl Into<String>,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        Problem::FailedPrecondition(vec![GateViolation {
            gate: gate.into(),
            subject: subject.into(),
            description: description.into(),
        }])
    }

    /// An internal failure with its cause.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        Problem::Internal(cause.into())
    }

    /// An equal problem, for answering many callers from one failure (a batch). An internal
    /// cause is logged here once; the copies carry its message.
    pub fn duplicate(&self) -> Problem {
        match self {
            Problem::InvalidArgument(v) => Problem::InvalidArgument(v.clone()),
            Problem::FailedPrecondition(v) => Problem::FailedPrecondition(v.clone()),
            Problem::NotFound { resource, name } => Problem::NotFound {
                resource,
                name: name.clone(),
            },
            Problem::AlreadyExists(m) => Problem::AlreadyExists(m.clone()),
            Problem::Aborted(m) => Problem::Aborted(m.clone()),
            Problem::PermissionDenied(m) => Problem::PermissionDenied(m.clone()),
            Problem::Unauthenticated(m) => Problem::Unauthenticated(m.clone()),
            Problem::Unavailable(m) => Problem::Unavailable(m.clone()),
            Problem::ResourceExhausted(m) => Problem::ResourceExhausted(m.clone()),
            Problem::Internal(cause) => Problem::Internal(Chain(cause.as_ref()).to_string().into()),
        }
    }

    /// The same problem in the API's words: each field (of a violation) and resource type (of
    /// NOT_FOUND) named by the domain is replaced by its name in the API, from tables of
    /// `(domain name, API name)` pairs. Names not in the tables pass unchanged.
    pub fn rename(self, fields: &[(&str, &str)], resources: &[(&str, &'static str)]) -> Problem {
        match self {
            Problem::InvalidArgument(mut violations) => {
                for v in &mut violations {
                    if let Some((_, api)) = fields.iter().find(|(domain, _)| *domain == v.field) {
                        v.field = (*api).to_owned();
                    }
                }
                Problem::InvalidArgument(violations)
            }
            Problem::NotFound { resource, name } => Problem::NotFound {
                resource: resources
                    .iter()
                    .find(|(domain, _)| *domain == resource)
                    .map_or(resource, |(_, api)| api),
                name,
            },
            other => other,
        }
    }

    /// The gRPC status a client receives. This is the table: each problem kind has exactly one
    /// code, and its details carry what a client needs to act on it.
    ///
    /// What one error reports is bounded, whatever the request held: at most
    /// `server.max_error_violations` violations (the last one says how many more there were),
    /// each field or subject at most [`MAX_NAME_BYTES`] and each description at most
    /// [`MAX_DESCRIPTION_BYTES`], and all of them together at most
    /// `server.max_error_details_bytes` ([`set_limits`]).
    pub fn into_status(self) -> Status {
        let message = clip(&self.to_string(), MAX_DESCRIPTION_BYTES).into_owned();
        match self {
            Problem::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for (field, description) in bounded(
                    violations
                        .into_iter()
                        .map(|v| (v.field, String::new(), v.description)),
                ) {
                    details.add_bad_request_violation(field.0, description);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Problem::FailedPrecondition(violations) => {
                let mut details = ErrorDetails::new();
                for (names, description) in bounded(
                    violations
                        .into_iter()
                        .map(|v| (v.gate, v.subject, v.description)),
                ) {
                    details.add_precondition_failure_violation(names.0, names.1, description);
                }
                Status::with_error_details(Code::FailedPrecondition, message, details)
            }
            Problem::NotFound { resource, name } => Status::with_error_details(
                Code::NotFound,
                message,
                ErrorDetails::with_resource_info(resource, name, "", "not found"),
            ),
            Problem::AlreadyExists(_) => Status::new(Code::AlreadyExists, message),
            Problem::Aborted(_) => Status::new(Code::Aborted, message),
            Problem::PermissionDenied(_) => Status::new(Code::PermissionDenied, message),
            Problem::Unauthenticated(_) => Status::new(Code::Unauthenticated, message),
            Problem::Unavailable(_) => Status::new(Code::Unavailable, message),
            Problem::ResourceExhausted(_) => Status::new(Code::ResourceExhausted, message),
            Problem::Internal(cause) => {
                tracing::error!(error = %Chain(cause.as_ref()), "internal error");
                Status::new(Code::Internal, "internal error")
            }
        }
    }
}

/// Longest field name, gate or subject an error reports, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest description (and status message) an error reports, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 512;

static LIMITS: std::sync::OnceLock<(usize, usize)> = std::sync::OnceLock::new();

/// Sets how many violations one error reports and how many bytes they take together
/// (`server.max_error_violations`, `server.max_error_details_bytes`); the first call wins, for
/// the whole process. Defaults: 50 violations, 8 KiB.
pub fn set_limits(max_violations: usize, max_details_bytes: usize) {
    let _ = LIMITS.set((max_violations.max(1), max_details_bytes.max(1024)));
}

fn limits() -> (usize, usize) {
    *LIMITS.get_or_init(|| (50, 8192))
}

/// `s` cut to at most `max` bytes on a character boundary, saying it was cut.
fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max.saturating_sub(3);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end]).into()
}

/// The violations one error reports: clipped, at most the configured number and bytes, the last
/// saying how many were left out.
fn bounded(
    all: impl ExactSizeIterator<Item = (String, String, String)>,
) -> Vec<((String, String), String)> {
    let (max_count, max_bytes) = limits();
    let total = all.len();
    let mut kept: Vec<((String, String), String)> = Vec::new();
    let mut bytes = 0;
    for (a, b, description) in all {
        let entry = (
            (
                clip(&a, MAX_NAME_BYTES).into_owned(),
                clip(&b, MAX_NAME_BYTES).into_owned(),
            ),
            clip(&description, MAX_DESCRIPTION_BYTES).into_owned(),
        );
        let size = entry.0.0.len() + entry.0.1.len() + entry.1.len();
        if kept.len() == max_count || (bytes + size > max_bytes && !kept.is_empty()) {
            break;
        }
        bytes += size;
        kept.push(entry);
    }
    let (shown, left_out) = (kept.len(), total - kept.len());
    if left_out > 0
        && let Some(last) = kept.last_mut()
    {
        last.1.push_str(&format!(
            " (and {left_out} more not reported: this error reports {shown} of {total})"
        ));
    }
    kept
}

impl From<Problem> for Status {
    fn from(problem: Problem) -> Self {
        problem.into_status()
    }
}

impl From<sqlx::Error> for Problem {
    fn from(err: sqlx::Error) -> Self {
        if crate::db::is_transient(&err) {
            tracing::warn!(error = %Chain(&err), "database unavailable");
            Problem::Unavailable("the database is unavailable, retry later".into())
        } else {
            Problem::Internal(err.into())
        }
    }
}

impl From<rusqlite::Error> for Problem {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked};
        match err.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked | CannotOpen) => {
                tracing::warn!(error = %Chain(&err), "database unavailable");
                Problem::Unavailable("the database is unavailable, retry later".into())
            }
            _ => Problem::Internal(err.into()),
        }
    }
}

/// Displays an error with all its sources: `outer: inner: root`.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(err) = source {
            write!(f, ": {err}")?;
            source = err.source();
        }
        Ok(())
    }
}

/// Collects field violations while a request is converted, so the client hears about every bad
/// field at once instead of one per round trip.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

/// A field's name for [`Violations::check`], built only when the field is in violation.
pub trait FieldName {
    /// The name.
    fn name(self) -> String;
}

impl FieldName for &str {
    fn name(self) -> String {
        self.to_owned()
    }
}

impl FieldName for String {
    fn name(self) -> String {
        self
    }
}

impl<F: FnOnce() -> String> FieldName for F {
    fn name(self) -> String {
        self()
    }
}

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one violation.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Keeps the value of a parse, or records its error against `field` (a name, or a closure
    /// that builds it, for names such as `items[3].price` that cost an allocation to build).
    pub fn check<T, E: fmt::Display>(
        &mut self,
        field: impl FieldName,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field.name(), e.to_string());
                None
            }
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ends collection: `Ok(value)` when clean.
    ///
    /// # Errors
    /// [`Problem::InvalidArgument`] listing every recorded violation.
    pub fn finish<T>(self, value: impl FnOnce() -> T) -> Result<T, Problem> {
        if self.0.is_empty() {
            Ok(value())
        } else {
            Err(Problem::InvalidArgument(self.0))
        }
    }

    /// Ends collection with the values parsed along the way, a tuple of `Option`s (up to 16):
    /// all of them when nothing was recorded.
    ///
    /// # Errors
    /// [`Problem::InvalidArgument`] listing every recorded violation; INTERNAL when a value is
    /// missing although nothing was recorded (a parser that forgot to record its failure).
    pub fn values<T: AllSome>(self, values: T) -> Result<T::Output, Problem> {
        self.into_result()?;
        values.all_some().ok_or_else(|| {
            Problem::internal("a parsed value is missing, yet no violation says why")
        })
    }

    /// Ends collection when there is no value to build.
    ///
    /// # Errors
    /// [`Problem::InvalidArgument`] listing every recorded violation.
    pub fn into_result(self) -> Result<(), Problem> {
        self.finish(|| ())
    }
}

/// A tuple of `Option`s that is whole when every element is `Some` ([`Violations::values`]).
pub trait AllSome {
    /// The tuple of the values.
    type Output;
    /// The values, when all are present.
    fn all_some(self) -> Option<Self::Output>;
}

macro_rules! all_some {
    ($($t:ident),+) => {
        impl<$($t),+> AllSome for ($(Option<$t>,)+) {
            type Output = ($($t,)+);
            #[allow(non_snake_case)]
            fn all_some(self) -> Option<Self::Output> {
                let ($($t,)+) = self;
                Some(($($t?,)+))
            }
        }
    };
}

all_some!(A);
all_some!(A, B);
all_some!(A, B, C);
all_some!(A, B, C, D);
all_some!(A, B, C, D, E);
all_some!(A, B, C, D, E, F);
all_some!(A, B, C, D, E, F, G);
all_some!(A, B, C, D, E, F, G, H);
all_some!(A, B, C, D, E, F, G, H, I);
all_some!(A, B, C, D, E, F, G, H, I, J);
all_some!(A, B, C, D, E, F, G, H, I, J, K);
all_some!(A, B, C, D, E, F, G, H, I, J, K, L);
all_some!(A, B, C, D, E, F, G, H, I, J, K, L, M);
all_some!(A, B, C, D, E, F, G, H, I, J, K, L, M, N);
all_some!(A, B, C, D, E, F, G, H, I, J, K, L, M, N, O);
all_some!(A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P);
