//! SQLite's schema changes keep what an older ledger holds.

use std::borrow::Cow;

use sqlx::{sqlite::SqlitePoolOptions, Row};

use crate::store::{connect, LedgerOptions};

/// A ledger file written by the first schema, then opened by the service, which migrates it.
#[tokio::test]
async fn a_ledger_from_the_first_schema_keeps_its_records_jobs_and_feedback() {
    let dir = std::env::temp_dir()
        .join("cxone-assist-store-tests")
        .join(ulid::Ulid::new().to_string());
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}/ledger.db?mode=rwc", dir.display());
    {
        let pool = SqlitePoolOptions::new().connect(&url).await.unwrap();
        let mut first = sqlx::migrate!("./migrations/sqlite");
        first.migrations = Cow::Owned(first.migrations[..1].to_vec());
        first.run(&pool).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO prompts VALUES ('p1', 'p1', 'int_1', 'agt_1', 'HIGH', 0.5, 'text', 'h', \
             'req-1', 'delivered', NULL, 0, 1, 1000000, 1030000, 30, 'pending', NULL, NULL, 0); \
             INSERT INTO prompt_attempts VALUES ('p1', 0, 'p1', 'primary', 1, 'server_error', \
             503, 1000000, 10), ('p1', 1, 'p1', 'primary', 2, 'delivered', 201, 1010000, 20); \
             INSERT INTO correlation_jobs VALUES ('p1', 'int_1', 'agt_1', 'req-1', 0, 1030000, \
             4102444800000000, NULL, NULL); \
             INSERT INTO feedback VALUES ('p1', 'accepted', 'agt_1', 1040000, 1040000);",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }

    let store = connect(&url, &LedgerOptions::default()).await.unwrap();
    let record = store.get("p1").await.unwrap().expect("the record survives");
    assert_eq!(record.attempts.len(), 2);
    assert_eq!(record.attempts[0].outcome, "server_error");
    assert_eq!(record.attempts[1].status, Some(201));
    assert_eq!(store.pending_correlations().await.unwrap(), 1);
    let claims = (store.claim_correlation_jobs("a", std::time::Duration::from_secs(60), 10))
        .await
        .unwrap();
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0].request_id.as_deref(), Some("req-1"));

    // The rebuilt tables still point at prompts, and the CHECKs still refuse bad values.
    let pool = SqlitePoolOptions::new().connect(&url).await.unwrap();
    for child in ["prompt_attempts", "correlation_jobs", "feedback"] {
        let parent: String = sqlx::query(&format!("PRAGMA foreign_key_list({child})"))
            .fetch_one(&pool)
            .await
            .unwrap()
            .get("table");
        assert_eq!(parent, "prompts", "{child}");
    }
    let feedback: i64 = sqlx::query_scalar("SELECT count(*) FROM feedback")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(feedback, 1);
    let bad_priority = sqlx::raw_sql(
        "INSERT INTO prompts VALUES ('p2', 'p2', 'int_1', 'agt_1', 'URGENT', 0.5, NULL, 'h', \
         NULL, 'delivered', NULL, 0, 1, 1, 2, 1, 'pending', NULL, NULL, 0)",
    )
    .execute(&pool)
    .await;
    assert!(bad_priority.is_err());
    let bad_state = sqlx::raw_sql("UPDATE prompts SET correlation = 'lost' WHERE prompt_id = 'p1'")
        .execute(&pool)
        .await;
    assert!(bad_state.is_err());

    // And they are the rebuilt ones: no IN-list CHECKs, attempts and jobs without a rowid.
    let schema: Vec<String> =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&pool)
            .await
            .unwrap();
    let rebuilt = ["prompts", "prompt_attempts", "correlation_jobs", "feedback"];
    let rebuilt = schema.iter().filter(|sql| {
        rebuilt
            .iter()
            .any(|t| sql.contains(&format!("TABLE \"{t}\"")))
    });
    assert_eq!(rebuilt.clone().count(), 4, "{schema:?}");
    assert!(
        rebuilt.clone().all(|sql| !sql.contains(" IN (")),
        "{schema:?}"
    );
    for table in ["prompt_attempts", "correlation_jobs"] {
        let rowid = sqlx::raw_sql(&format!("SELECT rowid FROM {table}"))
            .execute(&pool)
            .await;
        assert!(rowid.is_err(), "{table} has a rowid");
    }
}
