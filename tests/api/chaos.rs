//! Issue 27's chaos test: a seeded fake tenant answers at random (5xx, 429 with `Retry-After`
//! in seconds, as a date and without it, resets, hangs past the deadline, token 503s) under
//! ten seconds of concurrent load, then heals.

use std::time::Duration;

use cxone_assist::fake_tenant::{FakeTenantFaults, FakeTenantSettings};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{
    against_fake::{spawn_app_against_fake, AppAgainstFake},
    chaos_records::{check_records, metric},
    helpers::with_interaction,
};

/// Picked so the first 60 prompt POSTs meet every kind and the second token request a 503:
/// what the run must exercise does not depend on how many requests it gets through.
const SEED: u64 = 63;
const CALLERS: usize = 16;
/// The load stops at whichever comes first.
const LOAD_FOR: Duration = Duration::from_secs(10);
const MAX_REQUESTS_PER_CALLER: usize = 300;
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(1_000);
/// Below the deadline, so a hang on a first try is the tenant's failure, not our deadline's.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(500);
/// What may follow the deadline before the answer arrives: writing the record to the ledger
/// and the trip back, on a loaded two-core machine.
const ANSWER_MARGIN: Duration = Duration::from_secs(1);
/// The wait the fake's 429s ask for; equal to the deadline, so a 429's cooldown outlasts
/// every request that arrives after it (they wait it out) and meets one that arrived before
/// (answered 429 at once).
const RETRY_AFTER_SECS: u64 = 1;

/// `/simulate-prompt`'s answers, from the README's API table: status and `code`.
const DOCUMENTED: [(u16, Option<&str>); 21] = [
    (200, None),
    (400, Some("malformed_json")),
    (400, Some("invalid_field")),
    (401, Some("unauthorized")),
    (403, Some("ineligible")),
    (404, Some("not_found")),
    (405, Some("method_not_allowed")),
    (408, Some("request_timeout")),
    (409, Some("idempotency_in_progress")),
    (413, Some("payload_too_large")),
    (415, Some("unsupported_media_type")),
    (422, Some("idempotency_key_reused")),
    (429, Some("rate_limited")),
    (429, Some("upstream_rate_limited")),
    (502, Some("upstream_failed")),
    (502, Some("upstream_auth")),
    (502, Some("upstream_forbidden")),
    (502, Some("upstream_unavailable")),
    (503, Some("overloaded")),
    (504, Some("upstream_timeout")),
    (500, Some("internal")),
];

/// One `/simulate-prompt` answer as the caller saw it; `status` 0 when none arrived.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub code: Option<String>,
    pub prompt_id: Option<String>,
    pub took: Duration,
}

/// The tenant's failures (5xx, resets, hangs: about 10 % of prompt POSTs) stay far below what
/// opens the breaker (10 in a row: about 1e-10 per POST); 30 % of token requests fail.
fn chaotic_tenant() -> FakeTenantSettings {
    FakeTenantSettings {
        latency_ms: 50,
        retry_after_secs: RETRY_AFTER_SECS,
        // Tokens expire every 1.8 s, so token 503s meet callers throughout the load; a fetch
        // that takes 100 ms is shared by every caller that finds the token expired meanwhile.
        token_lifetime_secs: 2,
        token_latency_ms: 100,
        transcript_delay_ms: 50,
        faults: FakeTenantFaults {
            seed: SEED,
            server_error_rate: 0.04,
            retry_after_seconds_rate: 0.01,
            retry_after_date_rate: 0.01,
            rate_limited_without_header_rate: 0.02,
            connection_reset_rate: 0.03,
            hang_rate: 0.03,
            hang_ms: 3 * REQUEST_TIMEOUT.as_millis() as u64,
            token_unavailable_rate: 0.3,
        },
        ..FakeTenantSettings::default()
    }
}

async fn post_prompt(app: &AppAgainstFake, body: &Value) -> Answer {
    let started = Instant::now();
    // Only a backstop, so a stuck service fails the lateness check instead of the test hanging.
    let patience = REQUEST_TIMEOUT + ANSWER_MARGIN + Duration::from_secs(5);
    let request = app.client.post(app.url("/simulate-prompt")).json(body);
    let (status, body) = match request.timeout(patience).send().await {
        Ok(response) => (
            response.status().as_u16(),
            response.json::<Value>().await.unwrap_or(Value::Null),
        ),
        Err(_) => (0, Value::Null),
    };
    let text = |key: &str| body[key].as_str().map(str::to_owned);
    Answer {
        status,
        code: text("code"),
        prompt_id: text("promptId"),
        took: started.elapsed(),
    }
}

/// One caller: prompt after prompt, each for a new interaction, until `until` or its quota.
async fn caller(app: &AppAgainstFake, caller: usize, until: Instant) -> Vec<Answer> {
    let mut answers = Vec::new();
    for n in 0..MAX_REQUESTS_PER_CALLER {
        if Instant::now() >= until {
            break;
        }
        let body = with_interaction(&format!("int_chaos_{caller}_{n}"));
        answers.push(post_prompt(app, &body).await);
    }
    answers
}

/// The highest `circuit_breaker_state` seen, sampled every 50 ms until `stop`.
async fn watch_breaker(app: &AppAgainstFake, stop: CancellationToken) -> f64 {
    let mut highest = 0.0_f64;
    loop {
        let text = app.client.get(app.url("/metrics")).send().await;
        if let Ok(text) = text {
            let state = metric(
                &text.text().await.unwrap_or_default(),
                "circuit_breaker_state",
            );
            highest = highest.max(state.unwrap_or(0.0));
        }
        tokio::select! {
            _ = stop.cancelled() => return highest,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}

/// After healing: the first prompt delivered within the longest cooldown a 429 can have left
/// plus one deadline and the margin, and the five after it delivered too.
async fn recovery(app: &AppAgainstFake) -> Result<(), String> {
    app.fake.heal();
    let healed = Instant::now();
    let bound = Duration::from_secs(RETRY_AFTER_SECS) + REQUEST_TIMEOUT + ANSWER_MARGIN;
    let mut last = std::collections::VecDeque::new();
    while healed.elapsed() < bound {
        let answer = post_prompt(app, &with_interaction("int_chaos_healed")).await;
        if answer.status == 200 {
            break;
        }
        if last.len() == 3 {
            last.pop_front();
        }
        last.push_back((answer.status, answer.code));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if healed.elapsed() >= bound {
        return Err(format!(
            "no 200 within {bound:?} of healing; the last answers: {last:?}"
        ));
    }
    for n in 0..5 {
        let answer = post_prompt(app, &with_interaction(&format!("int_chaos_healed_{n}"))).await;
        if answer.status != 200 {
            return Err(format!("a healed tenant's prompt was answered {answer:?}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chaotic_tenant_gets_documented_answers_on_time_and_a_closed_breaker_then_recovers() {
    let app = spawn_app_against_fake(chaotic_tenant(), |s| {
        s.server.request_timeout_ms = REQUEST_TIMEOUT.as_millis() as u64;
        s.tenant.attempt_timeout_ms = ATTEMPT_TIMEOUT.as_millis() as u64;
        s.delivery.backoff_base_ms = 20;
        s.delivery.backoff_max_ms = 80;
    })
    .await;
    let stop_watching = CancellationToken::new();
    let until = Instant::now() + LOAD_FOR;
    let callers = futures::future::join_all((0..CALLERS).map(|n| caller(&app, n, until)));
    let (highest_breaker_state, (answers, recovered)) =
        tokio::join!(watch_breaker(&app, stop_watching.clone()), async {
            let answers: Vec<Answer> = callers.await.into_iter().flatten().collect();
            let recovered = recovery(&app).await;
            stop_watching.cancel();
            (answers, recovered)
        },);
    let mut broken = Vec::new();

    // The seed must really have served every kind, or the run proves less than it claims.
    let served = app.fake.faults_served();
    let kinds = [
        served.server_errors,
        served.retry_after_seconds,
        served.retry_after_dates,
        served.rate_limited_without_header,
        served.connection_resets,
        served.hangs,
        served.token_unavailable,
    ];
    if kinds.contains(&0) {
        broken.push(format!("a fault kind was never served: {served:?}"));
    }
    let delivered = answers.iter().filter(|a| a.status == 200).count();
    if delivered == 0 {
        broken.push("no prompt was delivered under load".into());
    }
    let undocumented: Vec<_> = answers
        .iter()
        .filter(|a| !DOCUMENTED.contains(&(a.status, a.code.as_deref())))
        .collect();
    if !undocumented.is_empty() {
        broken.push(format!(
            "{} undocumented answers, e.g. {:?}",
            undocumented.len(),
            &undocumented[..undocumented.len().min(5)]
        ));
    }
    let late: Vec<_> = answers
        .iter()
        .filter(|a| a.took > REQUEST_TIMEOUT + ANSWER_MARGIN)
        .collect();
    if !late.is_empty() {
        broken.push(format!(
            "{} answers later than the deadline plus {ANSWER_MARGIN:?}, e.g. {:?}",
            late.len(),
            &late[..late.len().min(5)]
        ));
    }
    let unavailable = answers
        .iter()
        .filter(|a| a.code.as_deref() == Some("upstream_unavailable"))
        .count();
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rejections = metric(&metrics, "circuit_breaker_rejections_total").unwrap_or(0.0);
    if highest_breaker_state > 0.0 || unavailable > 0 || rejections > 0.0 {
        broken.push(format!(
            "the breaker opened (highest state {highest_breaker_state}, {rejections} rejections, \
             {unavailable} upstream_unavailable answers) at a tenant failure rate far below its threshold"
        ));
    }
    let (from_records, diagnosis) = check_records(&app, &answers, served.token_unavailable).await;
    broken.extend(from_records);
    if let Err(why) = &recovered {
        broken.push(format!("no recovery after healing: {why}"));
    }
    let mut tally = std::collections::BTreeMap::<_, usize>::new();
    for answer in &answers {
        *tally
            .entry((answer.status, answer.code.clone()))
            .or_default() += 1;
    }
    assert!(
        broken.is_empty(),
        "seed {SEED}, {} answers {tally:?}, faults served {served:?}:\n- {}\n{diagnosis}",
        answers.len(),
        broken.join("\n- ")
    );
    app.stop().await;
}
