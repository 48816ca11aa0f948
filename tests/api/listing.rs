//! Reading the ledger back: pages of records, newest first.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn listing_pages_newest_first_and_is_stable_under_inserts() {
    let app = spawn_app().await;
    app.mount_tenant(delivered()).await;
    let mut delivered_ids = Vec::new();
    for i in 0..5 {
        delivered_ids.push(app.deliver(&with_interaction(&format!("int_{i}"))).await);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/prompts?limit=2&cursor={c}"),
            None => "/prompts?limit=2".to_owned(),
        };
        let page: Value = app.get(&url).await.json().await.unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["promptId"].as_str().unwrap().to_owned()),
        );
        // A newer record arriving mid-walk must not shift or repeat later pages.
        app.deliver(&with_interaction("int_late")).await;
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    delivered_ids.reverse();
    assert_eq!(seen, delivered_ids, "every record once, newest first");

    let filtered: Value = app
        .get("/prompts?interactionId=int_3")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    assert_eq!(app.get("/prompts?cursor=zzz").await.status(), 400);
    assert_eq!(app.get("/prompts?limit=0").await.status(), 400);
}
