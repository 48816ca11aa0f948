//! Fresh databases for tests.

use std::{future::Future, path::PathBuf, str::FromStr, sync::Arc};

use sqlx::{postgres::PgConnectOptions, sqlite::SqliteConnectOptions, Connection, PgConnection};

use crate::store::{LedgerOptions, PostgresStore, PromptStore, SqliteStore};

/// Removes a test's SQLite directory even when the test panics.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let dir = std::env::temp_dir()
            .join("cxone-assist-store-tests")
            .join(ulid::Ulid::new().to_string());
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `test` against a new SQLite file.
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn PromptStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = TempDir::new();
    let options = SqliteConnectOptions::new().filename(dir.0.join("ledger.db"));
    let store = SqliteStore::open(options, &LedgerOptions::default(), false)
        .await
        .unwrap();
    test(Arc::new(store)).await;
}

/// Runs `test` against a new schema of `TEST_DATABASE_URL`, or says why not.
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Arc<dyn PromptStore>) -> Fut,
    Fut: Future<Output = ()>,
{
    on_postgres_with(&[], |store, _| test(store)).await;
}

/// [`on_postgres`] with extra session settings (`lock_timeout`, say); `test` also gets the
/// schema's URL, to connect beside the store.
pub async fn on_postgres_with<F, Fut>(settings: &[(&str, &str)], test: F)
where
    F: FnOnce(Arc<dyn PromptStore>, String) -> Fut,
    Fut: Future<Output = ()>,
{
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        eprintln!("skipping PostgreSQL: TEST_DATABASE_URL is not set");
        return;
    };
    // A generated name, never input, so it is safe to splice into the DDL.
    let schema = format!("test_{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut admin = PgConnection::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let options = PgConnectOptions::from_str(&url)
        .unwrap()
        .options([("search_path", schema.as_str())])
        .options(settings.iter().copied());
    let store = PostgresStore::open(options, &LedgerOptions::default())
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let schema_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    test(Arc::new(store), schema_url).await;
    // Best effort: a failed test leaves its schema behind for inspection.
    let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&mut admin)
        .await;
    let _ = admin.close().await;
}
