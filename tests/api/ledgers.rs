//! Ledgers for tests: a fresh SQLite file or PostgreSQL schema, and records written straight
//! to one, for tests that start from a given state.

/// A fresh PostgreSQL schema on `TEST_DATABASE_URL`, as a URL whose connections use it;
/// `None` when the variable is unset.
pub async fn postgres_schema() -> Option<String> {
    use sqlx::Connection;
    let base = std::env::var("TEST_DATABASE_URL").ok()?;
    let schema = format!("test_api_{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut connection = sqlx::PgConnection::connect(&base)
        .await
        .expect("TEST_DATABASE_URL connects");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut connection)
        .await
        .expect("schema created");
    let separator = if base.contains('?') { '&' } else { '?' };
    Some(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}

/// A fresh SQLite ledger file for one test.
pub fn temp_ledger() -> String {
    let dir = std::env::temp_dir().join(format!("cxone-assist-ledger-{}", ulid::Ulid::new()));
    format!("sqlite://{}/ledger.db", dir.display())
}

/// A delivered record received at `received_at`, written straight to the ledger.
pub fn stored_record(
    id: &str,
    received_at: time::OffsetDateTime,
) -> cxone_assist::store::PromptRecord {
    use cxone_assist::{
        domain::{Priority, PromptId},
        store::{CorrelationState, DeliveryStatus, PromptRecord},
    };
    let id = PromptId::from_existing(id);
    PromptRecord {
        tenant_message_id: None,
        correlation_detail: None,
        retracted_at: None,
        prompt_id: id.clone(),
        primary_prompt_id: id,
        interaction_id: "int_98765432".into(),
        agent_id: "agt_12345678".into(),
        priority: Priority::High,
        sentiment: 0.1,
        content: None,
        content_hash: "0".repeat(64),
        request_id: None,
        status: DeliveryStatus::Delivered,
        failure: None,
        fallback: false,
        attempt: Some(1),
        attempts: Vec::new(),
        received_at,
        completed_at: received_at,
        correlation: CorrelationState::Pending,
        transcript_id: None,
        correlated_at: None,
        correlation_attempts: 0,
    }
}

/// A SQLite ledger's write lock, held by a connection of the test's own (`BEGIN IMMEDIATE`),
/// so nothing the service writes can commit until the test lets it.
pub struct SqliteWriteLock(sqlx::SqliteConnection);

impl SqliteWriteLock {
    pub async fn take(database_url: &str) -> Self {
        use sqlx::ConnectOptions;
        use std::str::FromStr;
        let mut conn = sqlx::sqlite::SqliteConnectOptions::from_str(database_url)
            .expect("a SQLite URL")
            .connect()
            .await
            .expect("the ledger opens");
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .expect("the write lock is free");
        Self(conn)
    }

    pub async fn release(mut self) {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut self.0)
            .await
            .expect("the lock is released");
    }
}

/// `prompts` locked `IN SHARE MODE` by an open transaction of the test's own, as a plain
/// `CREATE INDEX` locks it: reads go on, and every insert into it waits.
pub struct PromptsTableLock(sqlx::PgConnection);

impl PromptsTableLock {
    pub async fn take(database_url: &str) -> Self {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(database_url)
            .await
            .expect("the ledger connects");
        sqlx::raw_sql("BEGIN; LOCK TABLE prompts IN SHARE MODE")
            .execute(&mut conn)
            .await
            .expect("the table lock is taken");
        Self(conn)
    }

    pub async fn release(mut self) {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut self.0)
            .await
            .expect("the lock is released");
    }
}
