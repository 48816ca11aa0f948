//! How a ledger operation fails, and whether trying again later can help.

/// A ledger operation failed. The message never contains database credentials.
#[derive(Debug, Clone, thiserror::Error)]
#[error("record store failed: {message}")]
pub struct StoreError {
    message: String,
    transient: bool,
}

impl StoreError {
    /// A failure that the same operation would meet again (a bad row, a constraint).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            transient: false,
        }
    }

    /// What went wrong, without the "record store failed" prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the database was unavailable or busy rather than refusing the operation
    /// itself: a connection refused or lost, no pooled connection in time, a lock or
    /// serialization conflict. The same operation may succeed later.
    pub fn is_transient(&self) -> bool {
        self.transient
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        let transient = is_transient(&error);
        // sqlx's messages name the failing operation and the server's error, not the URL.
        Self {
            message: error.to_string(),
            transient,
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::new(format!("migration failed: {error}"))
    }
}

fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                sqlite_busy(&code)
            } else {
                postgres_retryable(&code)
            }
        }
        _ => false,
    }
}

/// SQLite reports extended result codes; the primary code is the low byte.
/// SQLITE_BUSY (5): another connection holds the lock; SQLITE_LOCKED (6): a conflict within
/// this process's own connections.
fn sqlite_busy(code: &str) -> bool {
    code.parse::<u32>()
        .is_ok_and(|code| matches!(code & 0xff, 5 | 6))
}

/// SQLSTATEs that say "not now" rather than "never": serialization failure and deadlock
/// (class 40), lock not available (55P03, e.g. `lock_timeout`), a cancelled statement
/// (57014, e.g. `statement_timeout`), the server shutting down or restarting (57P01–57P03),
/// too many connections and other resource limits (class 53), and connection failures
/// (class 08).
fn postgres_retryable(code: &str) -> bool {
    matches!(
        code,
        "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03"
    ) || code.starts_with("08")
        || code.starts_with("53")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_locked_sqlite_codes_are_transient_and_constraints_are_not() {
        assert!(sqlite_busy("5"));
        assert!(sqlite_busy("517"), "SQLITE_BUSY_SNAPSHOT");
        assert!(sqlite_busy("6"));
        assert!(!sqlite_busy("2067"), "SQLITE_CONSTRAINT_UNIQUE");
        assert!(!sqlite_busy(""));
    }

    #[test]
    fn lock_and_connection_sqlstates_are_transient_and_constraints_are_not() {
        for code in ["40001", "40P01", "55P03", "08006", "53300", "57P01"] {
            assert!(postgres_retryable(code), "{code}");
        }
        for code in ["23505", "23503", "42P01", ""] {
            assert!(!postgres_retryable(code), "{code}");
        }
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
    }
}
