//! Test support any service reuses: a fresh database per test on the backend the run targets
//! ([`TestDatabase`]), the service itself spawned through the host on port 0 against it
//! ([`TestService`]), clients that send a bearer token ([`Bearer`]), and assertions on the rich
//! error details ([`assert_invalid`], [`assert_gate`], [`assert_not_found`]), and a real OTLP
//! receiver of traces and metrics ([`otlp::Collector`]).
//!
//! The suite runs on SQLite by default. With `CLOSELOOP_TEST_DATABASE_URL=postgres://…` (a
//! server the tests may create databases on), every test gets its own PostgreSQL database
//! instead, dropped when the test ends. A PostgreSQL run that cannot reach the server fails; it
//! never falls back to SQLite.

pub mod otlp;
mod service;
pub mod toy;

pub use service::{Bearer, Stopped, TestService, assert_gate, assert_invalid, assert_not_found};

use std::time::Duration;

use sqlx::Connection;

use crate::auth::{AuthSettings, Role, TokenIssuer};
use crate::db::Backend;
use crate::settings::DatabaseSettings;

/// Names the PostgreSQL server a test run targets.
pub const DATABASE_URL_ENV: &str = "CLOSELOOP_TEST_DATABASE_URL";

/// The HS256 secret test servers and test tokens share.
pub const TEST_SECRET: &str = "closeloop-test-secret-0123456789abcdef";

/// Auth settings of test servers.
pub fn auth_settings() -> AuthSettings {
    AuthSettings {
        hs256_secret: Some(TEST_SECRET.into()),
        ..AuthSettings::default()
    }
}

/// A token for `subject` with `roles`, accepted by test servers.
pub fn token(subject: &str, roles: &[Role]) -> String {
    TokenIssuer::new(&auth_settings())
        .expect("test secret is valid")
        .mint(subject, roles, Duration::from_secs(3600))
}

/// A database that exists for one test.
pub struct TestDatabase {
    /// Settings pointing at it.
    pub settings: DatabaseSettings,
    /// Its backend.
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    drop_from: Option<(String, String)>,
}

impl TestDatabase {
    /// Creates a fresh, empty database on the backend this run targets.
    ///
    /// # Panics
    /// When the PostgreSQL server named by [`DATABASE_URL_ENV`] cannot be reached: a run that
    /// asked for PostgreSQL must not pass without it.
    pub async fn new() -> TestDatabase {
        crate::telemetry::init_for_tests();
        match std::env::var(DATABASE_URL_ENV)
            .ok()
            .filter(|s| !s.is_empty())
        {
            None => {
                let dir = tempfile::tempdir().expect("temporary folder");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDatabase {
                    settings: settings(url),
                    backend: Backend::Sqlite,
                    _dir: Some(dir),
                    drop_from: None,
                }
            }
            Some(admin_url) => {
                assert!(
                    admin_url.starts_with("postgres"),
                    "{DATABASE_URL_ENV} must be a postgres:// URL"
                );
                let name = format!("closeloop_test_{}", uuid::Uuid::now_v7().simple());
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("{DATABASE_URL_ENV}={admin_url}: cannot connect: {e}")
                    });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("creating a test database");
                let _ = admin.close().await;
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(base, _)| base.to_owned())
                    .expect("a postgres URL has a database part");
                TestDatabase {
                    settings: settings(format!("{base}/{name}")),
                    backend: Backend::Postgres,
                    _dir: None,
                    drop_from: Some((admin_url, name)),
                }
            }
        }
    }

    /// Stands in for a database that moved elsewhere: nothing to drop.
    pub(crate) fn placeholder() -> TestDatabase {
        TestDatabase {
            settings: settings(String::new()),
            backend: Backend::Sqlite,
            _dir: None,
            drop_from: None,
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.settings.url
    }
}

fn settings(url: String) -> DatabaseSettings {
    DatabaseSettings {
        url,
        max_connections: 8,
        acquire_timeout_ms: 10_000,
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.drop_from.take() {
            // Drop runs outside async code; use a small runtime of our own on another thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut admin)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}
