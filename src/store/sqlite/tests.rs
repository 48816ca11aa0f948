//! The SQLite engine's own settings.

use super::*;

#[tokio::test]
async fn a_new_file_is_created_in_wal_mode_with_a_busy_timeout_small_checkpoints_and_caches() {
    let dir = std::env::temp_dir().join(format!("cxone-wal-{}", ulid::Ulid::new()));
    let file = dir.join("data").join("ledger.db");
    let options = SqliteConnectOptions::new().filename(&file);
    let store = SqliteStore::open(options, &LedgerOptions::default(), false)
        .await
        .unwrap();
    assert!(file.is_file(), "the directory and file are created");
    for pool in [&store.pool, &store.writer] {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(timeout, 5_000);
        // Checkpoints small and often: no commit waits long behind one.
        let pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(pages, 250);
        // Statement journals and temporary tables never touch the disk (2 = MEMORY).
        let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(temp_store, 2);
    }
    // A small cache where commits by others make it stale, a larger one for the writer.
    for (pool, kib) in [(&store.pool, -256), (&store.writer, -512)] {
        let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(cache, kib);
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}
