//! How the SQLite engine opens its file, and its checkpoints.

use std::time::Instant;

use super::*;
use crate::store::tests::fixtures::{base_time, delivered};

/// A store on a new file in a directory of its own, and that file.
async fn on_file() -> (SqliteStore, std::path::PathBuf) {
    let file = std::env::temp_dir()
        .join(format!("cxone-wal-{}", ulid::Ulid::new()))
        .join("ledger.db");
    let options = SqliteConnectOptions::new().filename(&file);
    let store = SqliteStore::open(options, &LedgerOptions::default(), false)
        .await
        .unwrap();
    (store, file)
}

fn remove(file: &std::path::Path) {
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}

fn file_len(file: &std::path::Path) -> u64 {
    std::fs::metadata(file).unwrap().len()
}

fn wal_len(file: &std::path::Path) -> u64 {
    let mut wal = file.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test]
async fn a_new_file_is_created_in_wal_mode_with_a_busy_timeout_a_wal_bound_and_caches() {
    let dir = std::env::temp_dir().join(format!("cxone-wal-{}", ulid::Ulid::new()));
    let file = dir.join("data").join("ledger.db");
    let options = SqliteConnectOptions::new().filename(&file);
    let store = SqliteStore::open(options, &LedgerOptions::default(), false)
        .await
        .unwrap();
    assert!(file.is_file(), "the directory and its file are created");
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
        assert_eq!(pages, 4096);
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

/// Commits reach the database file soon after, though none takes the WAL anywhere near the
/// threshold at which commits checkpoint themselves.
#[tokio::test]
async fn commits_are_copied_into_the_database_file_by_the_task_beside_the_writer() {
    let (store, file) = on_file().await;
    let before = file_len(&file);
    let records: Vec<_> = (0..100)
        .map(|i| delivered(&format!("agent_{i}"), base_time(), 40))
        .collect();
    let last = records[99].prompt_id.clone();
    let writes: Vec<_> = records
        .into_iter()
        .map(|record| LedgerWrite::Record {
            record: Box::new(record),
            job: None,
        })
        .collect();
    store.apply(&writes).await.unwrap();
    assert!(
        wal_len(&file) < 4096 * 1024,
        "the WAL is far below the commits' threshold"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while file_len(&file) <= before {
        assert!(
            Instant::now() < deadline,
            "the database file is still {before} bytes 5 s after a commit"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(store.get(last.as_str()).await.unwrap().is_some());
    store.close().await;
    remove(&file);
}

#[tokio::test]
async fn closing_the_store_stops_its_checkpoint_task() {
    let (store, file) = on_file().await;
    let checkpoints = store.checkpoints.as_ref().expect("a file has checkpoints");
    assert!(!checkpoints.is_stopped(), "running until closed");
    store.close().await;
    assert!(checkpoints.is_stopped());
    remove(&file);
}

#[tokio::test]
async fn an_in_memory_database_has_no_checkpoint_task() {
    let store = SqliteStore::connect("sqlite::memory:", &LedgerOptions::default())
        .await
        .unwrap();
    assert!(store.checkpoints.is_none());
}
