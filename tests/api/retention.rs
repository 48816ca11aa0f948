//! Retention: records older than the configured period are pruned, at start and in passes.

use std::time::Duration;

use crate::{
    helpers::*,
    ledgers::{stored_record, temp_ledger},
};

#[tokio::test]
async fn retention_deletes_only_old_records() {
    let app = spawn_app_with(|s| s.store.retention_days = 1).await;
    app.mount_tenant(delivered()).await;
    let id = app.deliver(&prompt_body()).await;
    let store = app.store().await;
    let now = time::OffsetDateTime::now_utc();
    // Nothing is older than a day: a pass deletes nothing.
    let stop = tokio_util::sync::CancellationToken::new();
    assert_eq!(
        cxone_assist::retention::prune(store.as_ref(), now - time::Duration::days(1), &stop).await,
        0
    );
    assert_eq!(app.get_prompt(&id).await.status(), 200);
    // With the cut-off moved past it, the record goes (in batches, attempts with it).
    assert_eq!(
        cxone_assist::retention::prune(store.as_ref(), now + time::Duration::minutes(1), &stop)
            .await,
        1
    );
    assert_eq!(app.get_prompt(&id).await.status(), 404);
}

#[tokio::test]
async fn the_retention_task_prunes_old_records_at_start() {
    use cxone_assist::store::{connect, LedgerOptions};
    let ledger = temp_ledger();
    let store = connect(&ledger, &LedgerOptions::default()).await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let old = stored_record("prompt_old", now - time::Duration::days(3));
    store.insert(old).await.unwrap();
    store
        .insert(stored_record("prompt_new", now))
        .await
        .unwrap();

    let app = spawn_app_with(|s| {
        s.store.database_url = ledger.clone();
        s.store.retention_days = 2;
    })
    .await;
    let mut gone = false;
    for _ in 0..100 {
        if app.get_prompt("prompt_old").await.status() == 404 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        gone,
        "the record older than the retention period was pruned"
    );
    assert_eq!(app.get_prompt("prompt_new").await.status(), 200);
}
