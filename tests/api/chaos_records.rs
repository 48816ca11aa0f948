//! The chaos test's look at the ledger: every answered prompt's record, the time a 429 took,
//! and, for a breaker that opened, which failures came before it.

use std::{collections::BTreeMap, time::Duration};

use futures::StreamExt;
use serde_json::Value;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

use crate::{
    against_fake::AppAgainstFake,
    chaos::{Answer, ATTEMPT_TIMEOUT, REQUEST_TIMEOUT},
};

/// The value of the metric `cxone_assist_{name}` (unlabelled) in Prometheus text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    let prefix = format!("cxone_assist_{name} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}

fn at(record: &Value, key: &str) -> OffsetDateTime {
    OffsetDateTime::parse(record[key].as_str().unwrap_or_default(), &Rfc3339)
        .unwrap_or_else(|_| panic!("{key} is RFC 3339 in {record}"))
}

/// Every attempt: when it ended, and what it was (`timeout` split by what cut it short; a
/// delivery or a 429, which the breaker counts as the tenant being up, as `ok`).
fn attempts(record: &Value) -> Vec<(OffsetDateTime, String)> {
    let attempts = record["attempts"].as_array().cloned().unwrap_or_default();
    attempts
        .iter()
        .map(|a| {
            let took = Duration::from_millis(a["durationMs"].as_u64().unwrap_or(0));
            let kind = match a["outcome"].as_str().unwrap_or("?") {
                "delivered" | "rate_limited" => "ok",
                // A few ms of slack: the attempt timeout is measured from a little later.
                "timeout" if took + Duration::from_millis(5) < ATTEMPT_TIMEOUT => {
                    "timeout cut short by the deadline"
                }
                other => other,
            };
            let ended = at(a, "startedAt") + took;
            (ended, format!("{kind} ({}ms)", took.as_millis()))
        })
        .collect()
}

/// Reads the record of every answer that carries a prompt id. Broken checks come back as
/// messages: a 200 whose record is missing or not delivered, an upstream error without a
/// failed record, a 429 `upstream_rate_limited` answered once the deadline was spent (that is
/// a 504 `upstream_timeout`). Beside them a diagnosis: the attempts by kind, and the last
/// ones before the first `upstream_unavailable`, so a breaker that opened shows why.
pub async fn check_records(
    app: &AppAgainstFake,
    answers: &[Answer],
    token_503s: u64,
) -> (Vec<String>, String) {
    let with_ids: Vec<_> = answers.iter().filter(|a| a.prompt_id.is_some()).collect();
    let records: Vec<(&Answer, Option<Value>)> = futures::stream::iter(with_ids)
        .map(|answer| async move {
            let id = answer.prompt_id.as_deref().unwrap_or_default();
            let response = app
                .client
                .get(app.url(&format!("/prompts/{id}")))
                .send()
                .await;
            let record = match response {
                Ok(response) if response.status() == 200 => response.json().await.ok(),
                _ => None,
            };
            (answer, record)
        })
        .buffer_unordered(8)
        .collect()
        .await;

    let (mut unrecorded, mut late_429s) = (Vec::new(), Vec::new());
    let mut timeline = Vec::new();
    let mut first_rejection: Option<OffsetDateTime> = None;
    for (answer, record) in &records {
        let expected = if answer.status == 200 {
            "delivered"
        } else {
            "failed"
        };
        let Some(record) = record.as_ref().filter(|r| r["status"] == expected) else {
            unrecorded.push((answer.status, answer.prompt_id.clone(), record.clone()));
            continue;
        };
        timeline.extend(attempts(record));
        // The deadline starts just after `receivedAt`, and `completedAt` is read microseconds
        // after the answer was decided: a 429 decided in time stays under the timeout.
        let spent = at(record, "completedAt") - at(record, "receivedAt");
        match answer.code.as_deref() {
            Some("upstream_rate_limited") if spent >= REQUEST_TIMEOUT => {
                late_429s.push(format!(
                    "{} after {spent}",
                    answer.prompt_id.as_deref().unwrap_or("?")
                ));
            }
            Some("upstream_unavailable") => {
                // Refused at once when it asked the breaker: its completion is the refusal.
                let refused = at(record, "completedAt");
                first_rejection = Some(first_rejection.map_or(refused, |f| f.min(refused)));
            }
            _ => {}
        }
    }

    let mut broken = Vec::new();
    if !unrecorded.is_empty() {
        broken.push(format!(
            "{} answers without the record they should have (200: delivered; upstream error: failed), e.g. {:?}",
            unrecorded.len(),
            &unrecorded[..unrecorded.len().min(3)]
        ));
    }
    if !late_429s.is_empty() {
        broken.push(format!(
            "{} answers were 429 upstream_rate_limited although the deadline ({REQUEST_TIMEOUT:?}) \
             was already spent (a 504 upstream_timeout), e.g. {:?}",
            late_429s.len(),
            &late_429s[..late_429s.len().min(5)]
        ));
    }
    timeline.sort();
    let mut by_kind = BTreeMap::<&str, usize>::new();
    for (_, kind) in &timeline {
        let kind = kind.split(" (").next().unwrap_or_default();
        *by_kind.entry(kind).or_default() += 1;
    }
    let mut diagnosis = format!(
        "diagnosis: attempts by kind {by_kind:?}; the fake answered {token_503s} token requests 503"
    );
    if let Some(first) = first_rejection {
        let before: Vec<_> = timeline
            .iter()
            .filter(|(ended, _)| *ended <= first)
            .collect();
        let last: Vec<_> = before[before.len().saturating_sub(16)..]
            .iter()
            .map(|(_, kind)| kind)
            .collect();
        diagnosis.push_str(&format!(
            "; the last attempts before the first upstream_unavailable: {last:?}"
        ));
    }
    (broken, diagnosis)
}
