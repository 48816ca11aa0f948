//! Delivery and feedback statistics, computed by the database.
//!
//! One statement serves both engines; only the day expression differs. Counts and the latency
//! sum come back as integers and the rates and mean are divided here, so both engines give
//! bit-identical figures. The 95th percentile is the nearest rank: the smallest latency whose
//! rank `rn` (1-based, ascending) satisfies `rn >= ceil(0.95 n)`, i.e. `100 rn >= 95 n`.

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::{GroupBy, StatsQuery, StatsRow};

/// The figures of one group as the statement returns them.
#[derive(sqlx::FromRow)]
pub(super) struct StatsAgg {
    grp: String,
    delivered: i64,
    failed: i64,
    fallback: i64,
    latency_sum: i64,
    p95: Option<i64>,
    displayed: i64,
    accepted: i64,
    dismissed: i64,
    ignored: i64,
}

/// The grouping expression over `prompts`; `day_expr` is the engine's UTC-day formatting.
pub(super) fn group_expr(group_by: Option<GroupBy>, day_expr: &'static str) -> &'static str {
    match group_by {
        None => "''",
        Some(GroupBy::Agent) => "agent_id",
        Some(GroupBy::Priority) => "priority",
        Some(GroupBy::Fallback) => "CASE WHEN fallback THEN 'true' ELSE 'false' END",
        Some(GroupBy::Day) => day_expr,
    }
}

/// The statistics statement over `received_at` in `[from, to)`.
pub(super) fn stats_query<'a, DB, T>(
    group: &'static str,
    from: Option<T>,
    to: Option<T>,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    T: 'a + Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new("WITH base AS (SELECT prompt_id, ");
    qb.push(group)
        .push(" AS grp, status, fallback, delivery_latency_ms AS latency FROM prompts WHERE 1 = 1");
    super::sql::push_range(&mut qb, from, to);
    qb.push(
        "), ranked AS (SELECT grp, latency, \
           ROW_NUMBER() OVER (PARTITION BY grp ORDER BY latency) AS rn, \
           COUNT(*) OVER (PARTITION BY grp) AS n \
         FROM base WHERE status = 'delivered'), \
         p95 AS (SELECT grp, MIN(latency) AS p95 FROM ranked WHERE rn * 100 >= n * 95 \
           GROUP BY grp), \
         counts AS (SELECT grp, \
           CAST(SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) AS BIGINT) AS delivered, \
           CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed, \
           CAST(SUM(CASE WHEN status = 'delivered' AND fallback THEN 1 ELSE 0 END) AS BIGINT) \
             AS fallback, \
           CAST(SUM(CASE WHEN status = 'delivered' THEN latency ELSE 0 END) AS BIGINT) \
             AS latency_sum \
           FROM base GROUP BY grp), \
         fb AS (SELECT b.grp, \
           CAST(SUM(CASE WHEN f.outcome = 'displayed' THEN 1 ELSE 0 END) AS BIGINT) AS displayed, \
           CAST(SUM(CASE WHEN f.outcome = 'accepted' THEN 1 ELSE 0 END) AS BIGINT) AS accepted, \
           CAST(SUM(CASE WHEN f.outcome = 'dismissed' THEN 1 ELSE 0 END) AS BIGINT) AS dismissed, \
           CAST(SUM(CASE WHEN f.outcome = 'ignored' THEN 1 ELSE 0 END) AS BIGINT) AS ignored \
           FROM base b JOIN feedback f ON f.prompt_id = b.prompt_id GROUP BY b.grp) \
         SELECT c.grp AS grp, c.delivered, c.failed, c.fallback, c.latency_sum, p.p95, \
           COALESCE(fb.displayed, 0) AS displayed, COALESCE(fb.accepted, 0) AS accepted, \
           COALESCE(fb.dismissed, 0) AS dismissed, COALESCE(fb.ignored, 0) AS ignored \
         FROM counts c LEFT JOIN p95 p ON p.grp = c.grp LEFT JOIN fb ON fb.grp = c.grp",
    );
    qb
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn ratio(numerator: u64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator as f64 / denominator as f64)
}

/// Turns the statement's rows into the API's, ordered by group (byte order, the same in both
/// engines whatever PostgreSQL's collation). Ungrouped statistics always have one row.
pub(super) fn finish(query: &StatsQuery, rows: Vec<StatsAgg>) -> Vec<StatsRow> {
    let mut out: Vec<StatsRow> = rows
        .into_iter()
        .map(|row| {
            let delivered = count(row.delivered);
            let fallback = count(row.fallback);
            let displayed = count(row.displayed);
            let accepted = count(row.accepted);
            StatsRow {
                group: query.group_by.map(|_| row.grp),
                delivered,
                failed: count(row.failed),
                fallback,
                fallback_rate: ratio(fallback, delivered),
                mean_latency_ms: ratio(count(row.latency_sum), delivered),
                p95_latency_ms: row.p95.map(|p| p as f64),
                displayed,
                accepted,
                dismissed: count(row.dismissed),
                ignored: count(row.ignored),
                acceptance_rate_displayed: ratio(accepted, displayed),
                acceptance_rate_delivered: ratio(accepted, delivered),
            }
        })
        .collect();
    out.sort_by(|a, b| a.group.cmp(&b.group));
    if query.group_by.is_none() && out.is_empty() {
        out.push(StatsRow {
            group: None,
            delivered: 0,
            failed: 0,
            fallback: 0,
            fallback_rate: None,
            mean_latency_ms: None,
            p95_latency_ms: None,
            displayed: 0,
            accepted: 0,
            dismissed: 0,
            ignored: 0,
            acceptance_rate_displayed: None,
            acceptance_rate_delivered: None,
        });
    }
    out
}
