//! The SQL that differs between SQLite and PostgreSQL, behind names that say what it is for.
//! Everything else is written once, with `$1`-style parameters.

use std::sync::OnceLock;

use super::Backend;

/// The dialect of one database.
#[derive(Debug, Clone, Copy)]
pub struct Sql {
    backend: Backend,
}

impl Sql {
    pub(super) fn new(backend: Backend) -> Sql {
        Sql { backend }
    }

    /// Appended to a `SELECT` inside a write transaction to keep the rows it read from changing
    /// until commit: `FOR UPDATE` on PostgreSQL; nothing on SQLite, whose write transactions
    /// hold the database's write lock from their first statement.
    pub fn lock_rows(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    /// Appended to a `SELECT` that claims rows for one worker among several replicas: rows
    /// another replica holds are skipped (`FOR UPDATE SKIP LOCKED`) on PostgreSQL; nothing on
    /// SQLite, where one process writes.
    pub fn claim_rows(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        }
    }

    /// `count` parameters bound in order, numbered from `first`, comma separated: `$3, $4` on
    /// PostgreSQL, `?, ?` on SQLite. Only for statements whose parameters are all bound in
    /// order: sqlx looks each named SQLite parameter up by name in a list of all of them, so a
    /// statement with a few hundred spent its time there (measured: a tenth of the writer's time
    /// inserting 16 rows at once).
    pub fn params(&self, first: usize, count: usize) -> String {
        match self.backend {
            Backend::Sqlite => vec!["?"; count].join(", "),
            Backend::Postgres => (first..first + count)
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    fn index(&self) -> usize {
        match self.backend {
            Backend::Sqlite => 0,
            Backend::Postgres => 1,
        }
    }
}

/// `INSERT` statements of one to `max_rows` rows into one table, each text built once per
/// backend on first use: creations that commit together go in one statement (one round trip).
#[derive(Debug)]
pub struct MultiRowInsert {
    table: &'static str,
    columns: &'static [&'static str],
    max_rows: usize,
    texts: [OnceLock<Vec<String>>; 2],
}

impl MultiRowInsert {
    /// Statements inserting `columns` of `table`, up to `max_rows` rows at once.
    pub const fn new(
        table: &'static str,
        columns: &'static [&'static str],
        max_rows: usize,
    ) -> MultiRowInsert {
        MultiRowInsert {
            table,
            columns,
            max_rows,
            texts: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The most rows one statement inserts.
    pub fn max_rows(&self) -> usize {
        self.max_rows
    }

    /// The statement inserting `rows` rows (1 to [`MultiRowInsert::max_rows`]), parameters
    /// bound row by row in column order.
    ///
    /// # Panics
    /// When `rows` is 0 or more than `max_rows`: the caller splits its rows.
    pub fn statement(&self, sql: Sql, rows: usize) -> &str {
        assert!(
            (1..=self.max_rows).contains(&rows),
            "{rows} rows do not fit one insert into {}",
            self.table
        );
        let texts = self.texts[sql.index()].get_or_init(|| {
            let width = self.columns.len();
            let columns = self.columns.join(", ");
            (1..=self.max_rows)
                .map(|n| {
                    let values = (0..n)
                        .map(|r| format!("({})", sql.params(r * width + 1, width)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!("INSERT INTO {} ({columns}) VALUES {values}", self.table)
                })
                .collect()
        });
        &texts[rows - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_number_their_parameters_per_backend() {
        static INSERT: MultiRowInsert = MultiRowInsert::new("t", &["a", "b"], 3);
        let pg = Sql::new(Backend::Postgres);
        let lite = Sql::new(Backend::Sqlite);
        assert_eq!(
            INSERT.statement(pg, 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            INSERT.statement(lite, 1),
            "INSERT INTO t (a, b) VALUES (?, ?)"
        );
        assert_eq!(pg.params(3, 2), "$3, $4");
        assert_eq!(lite.lock_rows(), "");
        assert_eq!(pg.lock_rows(), " FOR UPDATE");
    }
}
