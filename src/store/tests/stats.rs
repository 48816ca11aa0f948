//! Statistics against a hand-computed data set.
//!
//! | record | agent | priority | UTC day    | status    | fallback | latency | feedback             |
//! |--------|-------|----------|------------|-----------|----------|---------|----------------------|
//! | r1     | a1    | HIGH     | 2026-03-01 | delivered | no       | 100     | displayed, accepted  |
//! | r2     | a1    | HIGH     | 2026-03-01 | delivered | yes      | 300     | displayed, dismissed |
//! | r3     | a1    | LOW      | 2026-03-02 | failed    | no       | 5000    |                      |
//! | r4     | a2    | MEDIUM   | 2026-03-01 | delivered | no       | 200     | displayed            |
//! | r5     | a2    | MEDIUM   | 2026-03-02 | delivered | no       | 400     | ignored              |
//! | r6     | a2    | LOW      | 2026-03-02 | delivered | yes      | 1000    | displayed, accepted  |
//! | 21×    | a3    | MEDIUM   | 2026-03-02 | delivered | no       | 10..210 |                      |
//!
//! Plus two records just outside `[from, to)` that must not count. Nearest-rank p95 of n
//! latencies is the ceil(0.95 n)-th smallest: for all 26 delivered, the 25th (400).

use std::sync::Arc;

use time::{Duration, OffsetDateTime, UtcOffset};

use super::{
    fixtures::{base_time, delivered, failed, via_fallback},
    store_tests,
};
use crate::{
    domain::Priority,
    store::{Feedback, FeedbackKind, GroupBy, PromptRecord, PromptStore, StatsQuery, StatsRow},
};

store_tests!(stats_match_hand_computed_figures);

fn day_start(day: u8) -> OffsetDateTime {
    base_time().replace_time(time::Time::MIDNIGHT) + Duration::days(i64::from(day) - 1)
}

async fn add(
    store: &Arc<dyn PromptStore>,
    record: PromptRecord,
    priority: Priority,
    feedback: &[FeedbackKind],
) {
    let record = PromptRecord { priority, ..record };
    store.insert(record.clone()).await.unwrap();
    for &outcome in feedback {
        let feedback = Feedback {
            outcome,
            at: record.completed_at,
            agent_id: None,
        };
        store
            .record_feedback(record.prompt_id.as_str(), &feedback)
            .await
            .unwrap();
    }
}

/// The expected row; rates follow from the counts.
fn row(
    group: Option<&str>,
    counts: [u64; 3],
    latency_sum: u64,
    p95: u64,
    fb: [u64; 4],
) -> StatsRow {
    let [delivered, failed, fallback] = counts;
    let [displayed, accepted, dismissed, ignored] = fb;
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    StatsRow {
        group: group.map(str::to_owned),
        delivered,
        failed,
        fallback,
        fallback_rate: ratio(fallback, delivered),
        mean_latency_ms: ratio(latency_sum, delivered),
        p95_latency_ms: Some(p95 as f64),
        displayed,
        accepted,
        dismissed,
        ignored,
        acceptance_rate_displayed: ratio(accepted, displayed),
        acceptance_rate_delivered: ratio(accepted, delivered),
    }
}

async fn stats_match_hand_computed_figures(store: Arc<dyn PromptStore>) {
    use FeedbackKind::*;
    use Priority::*;
    let d1 = base_time();
    let d2 = day_start(2) + Duration::hours(12);
    let s = Duration::seconds;
    add(
        &store,
        delivered("a1", d1, 100),
        High,
        &[Displayed, Accepted],
    )
    .await;
    add(
        &store,
        via_fallback(delivered("a1", d1 + s(1), 300)),
        High,
        &[Displayed, Dismissed],
    )
    .await;
    add(&store, failed(delivered("a1", d2, 5000)), Low, &[]).await;
    add(
        &store,
        delivered("a2", d1 + s(2), 200),
        Medium,
        &[Displayed],
    )
    .await;
    // 23:30 UTC on day 2, written in UTC+2 (already day 3 there).
    let late =
        (day_start(3) - Duration::minutes(30)).to_offset(UtcOffset::from_hms(2, 0, 0).unwrap());
    add(&store, delivered("a2", late, 400), Medium, &[Ignored]).await;
    add(
        &store,
        via_fallback(delivered("a2", d2 + s(1), 1000)),
        Low,
        &[Displayed, Accepted],
    )
    .await;
    for i in 1..=21 {
        add(&store, delivered("a3", d2 + s(10 + i), 10 * i), Medium, &[]).await;
    }
    // Outside [from, to): just before and exactly at the ends.
    let before = day_start(1) - Duration::microseconds(1);
    add(&store, delivered("a1", before, 99_999), High, &[Accepted]).await;
    add(
        &store,
        delivered("a1", day_start(3), 88_888),
        High,
        &[Displayed],
    )
    .await;

    let stats = |group_by| {
        let store = store.clone();
        async move {
            let query = StatsQuery {
                from: Some(day_start(1)),
                to: Some(day_start(3)),
                group_by,
            };
            store.stats(&query).await.unwrap()
        }
    };
    assert_eq!(
        stats(None).await,
        [row(None, [26, 1, 2], 4310, 400, [4, 2, 1, 1])]
    );
    assert_eq!(
        stats(Some(GroupBy::Agent)).await,
        [
            row(Some("a1"), [2, 1, 1], 400, 300, [2, 1, 1, 0]),
            row(Some("a2"), [3, 0, 1], 1600, 1000, [2, 1, 0, 1]),
            row(Some("a3"), [21, 0, 0], 2310, 200, [0, 0, 0, 0]),
        ]
    );
    assert_eq!(
        stats(Some(GroupBy::Priority)).await,
        [
            row(Some("HIGH"), [2, 0, 1], 400, 300, [2, 1, 1, 0]),
            row(Some("LOW"), [1, 1, 1], 1000, 1000, [1, 1, 0, 0]),
            row(Some("MEDIUM"), [23, 0, 0], 2910, 210, [1, 0, 0, 1]),
        ]
    );
    assert_eq!(
        stats(Some(GroupBy::Fallback)).await,
        [
            row(Some("false"), [24, 1, 0], 3010, 210, [2, 1, 0, 1]),
            row(Some("true"), [2, 0, 2], 1300, 1000, [2, 1, 1, 0]),
        ]
    );
    assert_eq!(
        stats(Some(GroupBy::Day)).await,
        [
            row(Some("2026-03-01"), [3, 0, 1], 600, 300, [3, 1, 1, 0]),
            row(Some("2026-03-02"), [23, 1, 1], 3710, 400, [1, 1, 0, 1]),
        ]
    );

    // Unbounded: the two outsiders count too.
    let all = store.stats(&StatsQuery::default()).await.unwrap();
    assert_eq!((all[0].delivered, all[0].accepted), (28, 3));

    // Nothing in range: one empty row ungrouped, no rows grouped.
    let empty = StatsQuery {
        from: Some(day_start(10)),
        to: None,
        group_by: None,
    };
    let rows = store.stats(&empty).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].delivered, rows[0].p95_latency_ms), (0, None));
    let grouped = StatsQuery {
        group_by: Some(GroupBy::Day),
        ..empty
    };
    assert!(store.stats(&grouped).await.unwrap().is_empty());
}
