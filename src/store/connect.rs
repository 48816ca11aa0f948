//! Opening a ledger: the engine chosen by the URL's scheme, and URLs made safe to print.

use std::{sync::Arc, time::Duration};

use super::{PostgresStore, PromptStore, SqliteStore, StoreError};

/// How a store is built by [`connect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerOptions {
    /// Pool size. SQLite serialises writers anyway, so a few connections are plenty there.
    pub max_connections: u32,
    /// How long an operation waits for a connection (and [`connect`] for the database to
    /// accept one) before failing, so a readiness probe answers promptly while the database
    /// is down.
    pub acquire_timeout: Duration,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        Self {
            max_connections: 5,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Opens the ledger at `database_url` and brings its schema up to date.
///
/// `sqlite://path` or `sqlite:path` (the file and its directory are created when missing) or
/// `postgres://...` / `postgresql://...`. Anything else is refused, naming the scheme.
pub async fn connect(
    database_url: &str,
    options: &LedgerOptions,
) -> Result<Arc<dyn PromptStore>, StoreError> {
    // Name the database (never the credentials) so the operator sees which one failed.
    let context = |error: StoreError| {
        StoreError::new(format!(
            "cannot open {}: {}",
            redact(database_url),
            error.message()
        ))
    };
    let scheme = database_url.split_once(':').map(|(scheme, _)| scheme);
    match scheme {
        Some("sqlite") => Ok(Arc::new(
            SqliteStore::connect(database_url, options)
                .await
                .map_err(context)?,
        )),
        Some("postgres" | "postgresql") => Ok(Arc::new(
            PostgresStore::connect(database_url, options)
                .await
                .map_err(context)?,
        )),
        Some(other) => Err(StoreError::new(format!(
            "unsupported database URL scheme {other:?} in {}: use sqlite:// or postgres://",
            redact(database_url)
        ))),
        None => Err(StoreError::new(format!(
            "database URL {} has no scheme: use sqlite:// or postgres://",
            redact(database_url)
        ))),
    }
}

/// `url` without its user name and password (including a `password` query parameter, which
/// PostgreSQL URLs accept), for messages.
pub fn redact(url: &str) -> String {
    if let Ok(mut parsed) = url::Url::parse(url) {
        if parsed.has_host() {
            let _ = parsed.set_password(None);
            let _ = parsed.set_username("");
            if parsed.query().is_some() {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k == "password" {
                            "<redacted>".into()
                        } else {
                            v
                        };
                        (k.into_owned(), v.into_owned())
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            return parsed.to_string();
        }
    }
    // No host to keep credentials apart: show nothing before an `@`, where they would sit.
    match url.rsplit_once('@') {
        Some((_, rest)) => format!("<redacted>@{rest}"),
        None => url.to_owned(),
    }
}
