//! Database errors classified the same way on both backends: worth retrying later, or a
//! constraint the request broke.

/// Whether a database error is worth retrying later (the database is down, busy, or the pool is
/// exhausted) rather than a bug.
pub fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => {
            // SQLITE_BUSY (5) / SQLITE_LOCKED (6); PostgreSQL class 08 (connection) and 57P0x
            // (shutdown), 40001/40P01 (serialization failure, deadlock).
            let code = db.code().unwrap_or_default();
            matches!(code.as_ref(), "5" | "6" | "40001" | "40P01")
                || code.starts_with("08")
                || code.starts_with("57P0")
        }
        _ => false,
    }
}

/// Whether the error is a unique or primary key violation, on either backend.
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
