//! Shutdown is bounded whatever the ledger does, and what is counted until the process exits
//! is flushed.

use std::time::Duration;

use serde_json::json;

use crate::{helpers::*, ledgers::SqliteWriteLock};

#[tokio::test]
async fn refusals_counted_during_the_drain_delay_are_flushed() {
    let mut app = spawn_app_with(|s| s.server.drain_delay_ms = 400).await;
    let store = app.store().await;
    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Connections are still accepted during the drain delay: this one is refused as invalid.
    let mut invalid = prompt_body();
    invalid["priority"] = json!("URGENT");
    assert_eq!(app.post_prompt(&invalid).await.status(), 400);
    app.stop().await.expect("a clean stop");

    let counts = store.refusals(None, None).await.unwrap();
    let invalid: u64 = counts
        .iter()
        .filter(|c| c.kind.as_str() == "invalid")
        .map(|c| c.count)
        .sum();
    assert_eq!(invalid, 1, "{counts:?}");
}

#[tokio::test]
async fn shutdown_is_bounded_while_the_ledger_cannot_commit() {
    let mut app = spawn_app_with(|s| {
        s.server.request_timeout_ms = 300;
        // Records awaiting their commit are deliveries still running: they get the grace
        // period; the writer's last commit, the leases and the refusal flush then get the
        // drain timeout each.
        s.server.shutdown_grace_ms = 300;
        s.correlation.drain_timeout_ms = 300;
    })
    .await;
    app.mount_tenant(delivered()).await;
    let lock = SqliteWriteLock::take(app.database_url()).await;
    let answer = tokio::time::timeout(Duration::from_secs(3), app.post_prompt(&prompt_body()))
        .await
        .expect("answered while the ledger is locked");
    assert_eq!(answer.status(), 200);

    app.begin_shutdown();
    // The grace period and a drain timeout for each step that waits on the ledger or on
    // correlation, with room to spare; a stop that waited for the ledger would not end
    // while the lock is held.
    let stopped = tokio::time::timeout(Duration::from_secs(4), app.stop()).await;
    lock.release().await;
    stopped
        .expect("stopped within the drain timeout")
        .expect("a clean stop");
}
