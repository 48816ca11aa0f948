//! Writing, reading, listing, exporting and pruning records.

use std::{collections::HashSet, sync::Arc, time::Duration as StdDuration};

use futures::TryStreamExt;
use time::{Duration, OffsetDateTime};

use super::{
    fixtures::{base_time, delivered, failed, json, stored, via_fallback},
    store_tests,
};
use crate::store::{
    Cursor, Feedback, FeedbackKind, FeedbackOutcome, ListQuery, PromptStore, RefusalKind,
};

store_tests!(
    round_trip_with_attempts,
    pagination_is_stable_under_inserts,
    list_filters,
    export_streams_the_range_in_order,
    prune_deletes_old_records_and_cascades,
);

async fn round_trip_with_attempts(store: Arc<dyn PromptStore>) {
    store.ping().await.unwrap();
    let mut record = via_fallback(delivered("agt_1", base_time(), 250));
    record.content = None;
    record.request_id = None;
    record.sentiment = -0.125;
    store.insert(record.clone()).await.unwrap();

    let by_id = store.get(record.prompt_id.as_str()).await.unwrap().unwrap();
    assert_eq!(json(&by_id), stored(record.clone()));
    assert_eq!(by_id.attempts.len(), 2);
    assert_eq!(by_id.attempts[1].prompt_id, record.prompt_id);

    let by_primary = store
        .get(record.primary_prompt_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(json(&by_primary), stored(record.clone()));

    let refused = failed(delivered("agt_2", base_time(), 40));
    store.insert(refused.clone()).await.unwrap();
    let read = store
        .get(refused.prompt_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(json(&read), stored(refused));
    assert_eq!(read.failure, Some("upstream_failed"));

    assert!(store.get("prompt_unknown").await.unwrap().is_none());
    // The same id twice is refused, not silently overwritten.
    assert!(store.insert(record).await.is_err());
}

/// Ten records (two pairs share a `received_at`, so the id breaks ties) walked three at a
/// time while newer records keep arriving: each original appears once, in order.
async fn pagination_is_stable_under_inserts(store: Arc<dyn PromptStore>) {
    let mut originals = Vec::new();
    for i in 0..10 {
        let at = base_time() + Duration::seconds(i / 2 * 2 + i64::from(i >= 6));
        let record = delivered("agt_1", at, 10);
        store.insert(record.clone()).await.unwrap();
        originals.push(record);
    }
    let mut expected: Vec<(OffsetDateTime, String)> = originals
        .iter()
        .map(|r| (r.received_at, r.prompt_id.to_string()))
        .collect();
    expected.sort();
    expected.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<Cursor> = None;
    for page_number in 0.. {
        assert!(page_number < 10, "pagination does not end");
        let page = store
            .list_prompts(&ListQuery {
                limit: 3,
                cursor: cursor.clone(),
                ..ListQuery::default()
            })
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|r| r.prompt_id.to_string()));
        // Newer than everything listed so far: it must not shift the pages still to come.
        let newer = delivered("agt_1", base_time() + Duration::hours(1), 10);
        store.insert(newer).await.unwrap();
        // The encoded form survives the round trip through a URL.
        cursor = page
            .next_cursor
            .map(|c| Cursor::decode(&c.encode()).unwrap());
        if cursor.is_none() {
            break;
        }
    }
    let seen_originals: Vec<String> = seen
        .iter()
        .filter(|id| originals.iter().any(|r| r.prompt_id.as_str() == *id))
        .cloned()
        .collect();
    assert_eq!(seen_originals.len(), 10, "{seen:?}");
    let expected_ids: Vec<String> = expected.into_iter().map(|(_, id)| id).collect();
    assert_eq!(seen_originals, expected_ids);
    assert_eq!(
        seen.len(),
        10,
        "only the originals were older than the first page"
    );
}

async fn list_filters(store: Arc<dyn PromptStore>) {
    let mut other_interaction = delivered("agt_1", base_time(), 10);
    other_interaction.interaction_id = "int_2".into();
    let other_agent = delivered("agt_2", base_time() + Duration::seconds(1), 10);
    let late = delivered("agt_1", base_time() + Duration::seconds(2), 10);
    for record in [&other_interaction, &other_agent, &late] {
        store.insert(record.clone()).await.unwrap();
    }
    let ids = |page: crate::store::PromptPage| -> Vec<String> {
        page.items.iter().map(|r| r.prompt_id.to_string()).collect()
    };
    let query = |f: &dyn Fn(&mut ListQuery)| {
        let mut q = ListQuery {
            limit: 10,
            ..ListQuery::default()
        };
        f(&mut q);
        q
    };
    let page = store
        .list_prompts(&query(&|q| q.interaction_id = Some("int_2".into())))
        .await
        .unwrap();
    assert_eq!(ids(page), [other_interaction.prompt_id.to_string()]);
    let page = store
        .list_prompts(&query(&|q| q.agent_id = Some("agt_1".into())))
        .await
        .unwrap();
    assert_eq!(
        ids(page),
        [
            late.prompt_id.to_string(),
            other_interaction.prompt_id.to_string()
        ]
    );
    let page = store
        .list_prompts(&query(&|q| {
            q.from = Some(base_time() + Duration::seconds(1));
            q.to = Some(late.received_at);
        }))
        .await
        .unwrap();
    assert!(page.next_cursor.is_none());
    assert_eq!(ids(page), [other_agent.prompt_id.to_string()]);
    let page = store.list_prompts(&query(&|q| q.limit = 2)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert!(page.next_cursor.is_some());
}

/// More records than one export batch, so batches must join seamlessly.
async fn export_streams_the_range_in_order(store: Arc<dyn PromptStore>) {
    let from = base_time();
    let to = base_time() + Duration::seconds(600);
    let mut inside = Vec::new();
    for i in -3..603 {
        // Every third shares its time with the previous one.
        let at = from + Duration::seconds(i - i64::from(i % 3 == 2));
        let record = delivered("agt_1", at, 10);
        store.insert(record.clone()).await.unwrap();
        if at >= from && at < to {
            inside.push(record);
        }
    }
    inside.sort_by(|a, b| {
        (a.received_at, a.prompt_id.as_str()).cmp(&(b.received_at, b.prompt_id.as_str()))
    });
    let exported: Vec<_> = store
        .export(Some(from), Some(to))
        .try_collect()
        .await
        .unwrap();
    assert!(inside.len() > 500);
    assert_eq!(exported.len(), inside.len());
    for (got, want) in exported.iter().zip(&inside) {
        assert_eq!(json(got), stored(want.clone()));
    }
    let all: Vec<_> = store.export(None, None).try_collect().await.unwrap();
    assert_eq!(all.len(), 606);
}

async fn prune_deletes_old_records_and_cascades(store: Arc<dyn PromptStore>) {
    let cutoff = base_time();
    let give_up = StdDuration::from_secs(60);
    let mut old = Vec::new();
    for i in 1..=5 {
        let record = delivered("agt_1", cutoff - Duration::days(i), 10);
        store
            .insert_with_job(record.clone(), give_up)
            .await
            .unwrap();
        let feedback = Feedback {
            outcome: FeedbackKind::Displayed,
            at: record.received_at,
            agent_id: None,
        };
        store
            .record_feedback(record.prompt_id.as_str(), &feedback)
            .await
            .unwrap();
        old.push(record);
    }
    let recent = delivered("agt_1", cutoff, 10);
    store
        .insert_with_job(recent.clone(), give_up)
        .await
        .unwrap();
    let old_day = cutoff - Duration::days(2);
    store
        .count_refusals(RefusalKind::Invalid, old_day, 1)
        .await
        .unwrap();
    store
        .count_refusals(RefusalKind::Invalid, cutoff, 1)
        .await
        .unwrap();

    assert_eq!(store.prune(cutoff, 2).await.unwrap().records, 2);
    // The oldest went first.
    assert!(store
        .get(old[4].prompt_id.as_str())
        .await
        .unwrap()
        .is_none());
    assert!(store
        .get(old[0].prompt_id.as_str())
        .await
        .unwrap()
        .is_some());
    assert_eq!(store.prune(cutoff, 2).await.unwrap().records, 2);
    assert_eq!(store.prune(cutoff, 2).await.unwrap().records, 1);
    assert_eq!(store.prune(cutoff, 2).await.unwrap().records, 0);

    assert!(store
        .get(recent.prompt_id.as_str())
        .await
        .unwrap()
        .is_some());
    let refusals = store.refusals(None, None).await.unwrap();
    assert_eq!(refusals.len(), 1);
    assert_eq!(refusals[0].day, "2026-03-01");
    // Only the recent record's job is left to claim.
    let claims = store
        .claim_correlation_jobs("w", StdDuration::from_secs(30), 10)
        .await
        .unwrap();
    let claimed: HashSet<_> = claims.iter().map(|c| c.prompt_id.to_string()).collect();
    assert_eq!(claimed, HashSet::from([recent.prompt_id.to_string()]));
    // Attempts, jobs and feedback went with their records: the same ids store afresh.
    for record in &old {
        store
            .insert_with_job(record.clone(), give_up)
            .await
            .unwrap();
        let feedback = Feedback {
            outcome: FeedbackKind::Displayed,
            at: record.received_at,
            agent_id: None,
        };
        let outcome = store
            .record_feedback(record.prompt_id.as_str(), &feedback)
            .await
            .unwrap();
        assert_eq!(outcome, FeedbackOutcome::Recorded);
    }
}
