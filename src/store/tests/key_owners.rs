//! Idempotency keys read without writing, and claims only their owner can end.

use std::{sync::Arc, time::Duration};

use serde_json::json;

use super::store_tests;
use crate::store::{IdempotencyBegin, PromptStore};

store_tests!(
    a_key_is_read_without_claiming_it,
    only_the_claims_owner_completes_or_frees_it,
);

const TTL: Duration = Duration::from_secs(60);

async fn a_key_is_read_without_claiming_it(store: Arc<dyn PromptStore>) {
    assert_eq!(store.peek_idempotent("s", "k", "h1").await.unwrap(), None);
    // Reading left nothing behind: the key is still free to claim.
    let begun = store.begin_idempotent("s", "k", "h1", TTL, "a").await;
    assert_eq!(begun.unwrap(), IdempotencyBegin::Started);
    let peek = |hash: &'static str| store.peek_idempotent("s", "k", hash);
    assert_eq!(
        peek("h1").await.unwrap(),
        Some(IdempotencyBegin::InProgress)
    );
    assert_eq!(peek("h2").await.unwrap(), Some(IdempotencyBegin::Mismatch));

    let body = json!({"success": true});
    let completed = store.complete_idempotent("s", "k", "a", 200, &body, TTL);
    assert!(completed.await.unwrap());
    let replay = IdempotencyBegin::Completed { status: 200, body };
    assert_eq!(peek("h1").await.unwrap(), Some(replay));

    // A lapsed lease reads as a free key.
    let lapsed = store.begin_idempotent("s", "lapsed", "h1", Duration::ZERO, "a");
    assert_eq!(lapsed.await.unwrap(), IdempotencyBegin::Started);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        store.peek_idempotent("s", "lapsed", "h1").await.unwrap(),
        None
    );
}

async fn only_the_claims_owner_completes_or_frees_it(store: Arc<dyn PromptStore>) {
    let begin = |owner: &'static str, lease: Duration| {
        let store = store.clone();
        async move {
            store
                .begin_idempotent("s", "k", "h", lease, owner)
                .await
                .unwrap()
        }
    };
    // The first request's lease runs out; a retry takes the key over.
    assert_eq!(
        begin("first", Duration::ZERO).await,
        IdempotencyBegin::Started
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(begin("retry", TTL).await, IdempotencyBegin::Started);

    // The first request finishing late changes nothing.
    let late = json!({"promptId": "late"});
    let completed = store.complete_idempotent("s", "k", "first", 200, &late, TTL);
    assert!(!completed.await.unwrap());
    assert!(!store.abandon_idempotent("s", "k", "first").await.unwrap());
    assert_eq!(begin("third", TTL).await, IdempotencyBegin::InProgress);

    let own = json!({"promptId": "retry"});
    let completed = store.complete_idempotent("s", "k", "retry", 200, &own, TTL);
    assert!(completed.await.unwrap());
    let replay = IdempotencyBegin::Completed {
        status: 200,
        body: own,
    };
    assert_eq!(begin("third", TTL).await, replay);
    // A completed key is not freed, even by its owner.
    assert!(!store.abandon_idempotent("s", "k", "retry").await.unwrap());
}
