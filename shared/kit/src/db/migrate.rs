//! Schemas embedded in the binary and applied on start: the kit's own first, then the service's,
//! each written once per backend.

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use super::{Backend, Db, DbError};

/// One migration: version, description, SQL.
pub type EmbeddedMigration = (i64, &'static str, &'static str);

/// A schema, written once per backend. Kit versions are below 100; services number theirs from
/// 100.
#[derive(Debug, Clone, Copy)]
pub struct Migrations {
    /// Applied on SQLite.
    pub sqlite: &'static [EmbeddedMigration],
    /// Applied on PostgreSQL.
    pub postgres: &'static [EmbeddedMigration],
}

impl Migrations {
    fn of(&self, backend: Backend) -> &'static [EmbeddedMigration] {
        match backend {
            Backend::Sqlite => self.sqlite,
            Backend::Postgres => self.postgres,
        }
    }
}

#[derive(Debug)]
struct Embedded(Vec<EmbeddedMigration>);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> std::pin::Pin<
        Box<
            dyn Future<Output = Result<Vec<Migration>, Box<dyn std::error::Error + Send + Sync>>>
                + Send,
        >,
    > {
        Box::pin(async move {
            Ok(self
                .0
                .into_iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        version,
                        description.into(),
                        MigrationType::Simple,
                        SqlStr::from_static(sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Applies the kit's migrations and then `migrations`, those not applied yet, on the writer.
pub(super) async fn run(db: &Db, migrations: &Migrations) -> Result<(), DbError> {
    let source: Vec<EmbeddedMigration> = crate::KIT_MIGRATIONS
        .of(db.backend)
        .iter()
        .chain(migrations.of(db.backend))
        .copied()
        .collect();
    let migrator = Migrator::new(Embedded(source))
        .await
        .map_err(DbError::Migrate)?;
    migrator.run(&db.writes).await.map_err(DbError::Migrate)
}
