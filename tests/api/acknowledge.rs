//! When a delivered prompt is answered relative to its record's commit (`store.acknowledge`).
//! Another connection holds the SQLite ledger's write lock, so the record cannot commit until
//! the test lets it.

use std::time::Duration;

use cxone_assist::config::Acknowledge;
use serde_json::Value;

use crate::{helpers::*, ledgers::SqliteWriteLock as LedgerLock};

async fn prompt_id(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["promptId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn by_default_a_delivered_prompt_is_answered_once_its_record_has_committed() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let lock = LedgerLock::take(app.database_url()).await;

    let body = prompt_body();
    let answer = app.post_prompt(&body);
    tokio::pin!(answer);
    let early = tokio::time::timeout(Duration::from_millis(300), &mut answer).await;
    assert!(early.is_err(), "answered before the record could commit");
    assert_eq!(app.prompts_received().await.len(), 1, "delivered meanwhile");

    lock.release().await;
    let id = prompt_id(answer.await).await;
    // No waiting: the answer itself says the record is there.
    assert_eq!(app.get_prompt(&id).await.status(), 200);
}

#[tokio::test]
async fn queued_acknowledgement_answers_before_the_commit_and_the_record_follows() {
    let app = spawn_app_with(|s| s.store.acknowledge = Acknowledge::Queued).await;
    app.mount_tenant(delivered()).await;
    let lock = LedgerLock::take(app.database_url()).await;

    let answer = tokio::time::timeout(Duration::from_secs(2), app.post_prompt(&prompt_body()))
        .await
        .expect("answered while the ledger is locked");
    let id = prompt_id(answer).await;
    assert_eq!(app.get_prompt(&id).await.status(), 404, "committed already");

    lock.release().await;
    let record = app
        .wait_for_record(&id, |r| r["status"] == "delivered")
        .await;
    assert_eq!(record["status"], "delivered", "{record}");
}

#[tokio::test]
async fn a_graceful_stop_commits_records_whose_prompts_were_already_answered() {
    let mut app = spawn_app_with(|s| s.store.acknowledge = Acknowledge::Queued).await;
    app.mount_tenant(delivered()).await;
    let database_url = app.database_url().to_owned();
    let lock = LedgerLock::take(&database_url).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(prompt_id(app.post_prompt(&prompt_body()).await).await);
    }

    app.begin_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    lock.release().await;
    app.stop().await.expect("a clean stop");

    let store = cxone_assist::store::connect(&database_url, &Default::default())
        .await
        .expect("the ledger opens");
    for id in ids {
        let record = store.get(&id).await.expect("the ledger reads");
        assert!(record.is_some(), "{id} was answered but not recorded");
    }
}
