//! A ledger that cannot commit for a while: the batch writer keeps what it was given and
//! commits it once the database lets it, rather than failing the writes.

use std::time::Duration;

use sqlx::Connection;
use time::OffsetDateTime;

use super::{fixtures::delivered, harness::on_postgres_with};
use crate::store::{BatchWriter, LedgerWrite};

/// `prompts` locked as `CREATE INDEX` locks it, with the store's statements giving up on a
/// lock after 50 ms: each commit fails with a lock timeout until the lock goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_failed_on_a_lock_is_committed_once_the_lock_goes() {
    on_postgres_with(&[("lock_timeout", "50ms")], |store, url| async move {
        let mut lock = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("BEGIN; LOCK TABLE prompts IN SHARE MODE")
            .execute(&mut lock)
            .await
            .unwrap();
        let (writer, task) = BatchWriter::spawn(store.clone());
        let record = delivered("agt_1", OffsetDateTime::now_utc(), 30);
        let write = LedgerWrite::Record {
            record: Box::new(record.clone()),
            job: None,
        };
        let commit = writer.queue(write).await.unwrap();
        // Several commits fail on the lock meanwhile.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(writer.health().failing(), "the failures are reported");
        sqlx::raw_sql("ROLLBACK").execute(&mut lock).await.unwrap();

        tokio::time::timeout(Duration::from_secs(3), commit.committed())
            .await
            .expect("committed soon after the lock went")
            .expect("the write was kept, not failed");
        let stored = store.get(record.prompt_id.as_str()).await.unwrap();
        assert!(stored.is_some(), "the record is in the ledger");
        assert!(!writer.health().failing());
        task.shutdown(Duration::from_secs(1)).await;
    })
    .await;
}
