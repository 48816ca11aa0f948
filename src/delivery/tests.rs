//! The policy against a scripted tenant on tokio's paused clock: what the breaker counts,
//! which failure wins, and how waiters on a cooldown are released.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use tokio::time::Instant;

use super::*;
use crate::{
    circuit_breaker::BreakerState,
    clock::ManualClock,
    domain::{Priority, PromptId},
    tenant::{AttemptOutcome, AttemptReport, CorrelationLookup, CorrelationTarget, TransientKind},
};

/// Answers every POST after `latency`, or times out when the attempt's budget is shorter;
/// remembers when each POST arrived.
struct ScriptedTenant {
    latency: Duration,
    outcome: AttemptOutcome,
    arrivals: Mutex<Vec<Instant>>,
}

impl ScriptedTenant {
    fn new(latency: Duration, outcome: AttemptOutcome) -> Arc<Self> {
        Arc::new(Self {
            latency,
            outcome,
            arrivals: Mutex::default(),
        })
    }

    fn arrivals(&self) -> Vec<Instant> {
        self.arrivals.lock().unwrap().clone()
    }
}

#[async_trait]
impl Tenant for ScriptedTenant {
    async fn send_prompt(&self, _: &OutboundPrompt, timeout: Duration) -> AttemptReport {
        self.arrivals.lock().unwrap().push(Instant::now());
        if timeout < self.latency {
            tokio::time::sleep(timeout).await;
            return AttemptReport {
                status: None,
                outcome: AttemptOutcome::Transient(TransientKind::Timeout),
                receipt: None,
            };
        }
        tokio::time::sleep(self.latency).await;
        let status = match self.outcome {
            AttemptOutcome::Delivered => Some(201),
            _ => None,
        };
        AttemptReport {
            status,
            outcome: self.outcome.clone(),
            receipt: None,
        }
    }

    async fn correlate(&self, _: &CorrelationTarget<'_>, _: Duration) -> CorrelationLookup {
        CorrelationLookup::NotYet
    }

    async fn check_ready(&self, _: Duration) -> Result<(), String> {
        Ok(())
    }
}

const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

fn deliverer(tenant: Arc<ScriptedTenant>, max_posts: usize) -> Arc<Deliverer> {
    Arc::new(Deliverer {
        tenant,
        policy: DeliveryPolicy {
            max_attempts: 3,
            backoff: Backoff {
                base: Duration::from_millis(100),
                max: Duration::from_millis(400),
            },
            retry_after_max: Duration::from_secs(30),
            attempt_timeout: ATTEMPT_TIMEOUT,
        },
        breaker: Arc::new(CircuitBreaker::new(
            10,
            Duration::from_secs(30),
            Arc::new(ManualClock::default()),
        )),
        cooldown: RateLimitCooldown::default(),
        posts: Semaphore::new(max_posts),
        metrics: Arc::new(Metrics::new()),
    })
}

fn prompt(n: u32) -> OutboundPrompt {
    OutboundPrompt {
        prompt_id: PromptId::from_existing(format!("p{n}")),
        interaction_id: "int_1".into(),
        agent_id: "agt_1".into(),
        content: "Offer a loyalty credit".into(),
        priority: Priority::High,
        sentiment: 0.1,
        keywords: Vec::new(),
        request_id: None,
    }
}

async fn deliver(d: &Deliverer, n: u32, deadline: Instant) -> Result<Delivered, Failure> {
    d.deliver(deadline, &prompt(n), &prompt(n + 10_000), &mut Vec::new())
        .await
}

#[test]
fn the_breaker_counts_only_the_tenants_own_faults() {
    use tenant_gate::{verdict, Verdict};
    let timeout = AttemptOutcome::Transient(TransientKind::Timeout);
    assert_eq!(verdict(&timeout, true), Verdict::Failed);
    assert_eq!(
        verdict(&timeout, false),
        Verdict::NotCounted,
        "our deadline"
    );
    let no_token = AttemptOutcome::Transient(TransientKind::TokenUnavailable);
    assert_eq!(
        verdict(&no_token, true),
        Verdict::NotCounted,
        "counted per fetch"
    );
    let server_error = AttemptOutcome::Transient(TransientKind::ServerError);
    assert_eq!(verdict(&server_error, false), Verdict::Failed);
    let limited = AttemptOutcome::RateLimited { retry_after: None };
    assert_eq!(verdict(&limited, true), Verdict::Up);
    assert_eq!(verdict(&AttemptOutcome::Rejected, true), Verdict::Up);
}

/// Issue 27, defect 2: one POST slot, a tenant that always answers 201 in 300 ms, prompts
/// every 50 ms with a 1 s deadline. Late ones time out waiting their turn; that is our
/// deadline, not the tenant failing, so the breaker stays closed and no later prompt is
/// told the tenant is unavailable.
#[tokio::test(start_paused = true)]
async fn our_own_deadline_never_opens_the_breaker() {
    let tenant = ScriptedTenant::new(Duration::from_millis(300), AttemptOutcome::Delivered);
    let d = deliverer(tenant, 1);
    let mut running = Vec::new();
    for n in 0..16 {
        let d = d.clone();
        let deadline = Instant::now() + Duration::from_secs(1);
        running.push(tokio::spawn(async move { deliver(&d, n, deadline).await }));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut timeouts = 0;
    for result in futures::future::join_all(running).await {
        match result.unwrap() {
            Ok(_) => {}
            Err(Failure::Timeout) => timeouts += 1,
            Err(other) => panic!("a tenant that never failed was reported as {other:?}"),
        }
    }
    assert!(timeouts > 0, "the slot must have been saturated");
    assert_eq!(d.breaker.state(), BreakerState::Closed);
}

/// Issue 27, defect 3: a prompt whose POST hung to its deadline while another prompt's 429
/// started a 30 s cooldown is a 504, not a 429 "retry in 29 s".
#[tokio::test(start_paused = true)]
async fn a_spent_deadline_is_a_timeout_whatever_the_cooldown() {
    let tenant = ScriptedTenant::new(Duration::from_secs(60), AttemptOutcome::Delivered);
    let d = deliverer(tenant, 4);
    let deadline = Instant::now() + Duration::from_secs(2);
    let hung = deliver(&d, 1, deadline);
    let throttled = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        d.cooldown.note(Duration::from_secs(30));
    };
    let (result, ()) = tokio::join!(hung, throttled);
    assert_eq!(result, Err(Failure::Timeout));
}

/// Once a prompt has been sent, a breaker that opened meanwhile does not make its answer say
/// "nothing was sent".
#[tokio::test(start_paused = true)]
async fn a_breaker_that_opens_after_a_post_is_not_reported_as_nothing_sent() {
    let server_error = AttemptOutcome::Transient(TransientKind::ServerError);
    let d = deliverer(ScriptedTenant::new(Duration::ZERO, server_error), 4);
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = deliver(&d, 1, deadline);
    let opener = async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        (0..10).for_each(|_| d.breaker.record_failure());
    };
    let (result, ()) = tokio::join!(first, opener);
    assert_eq!(result, Err(Failure::Exhausted));
    let untried = deliver(&d, 2, deadline).await;
    assert!(
        matches!(untried, Err(Failure::Unavailable { .. })),
        "{untried:?}"
    );
}

/// Waiters on one cooldown reach the tenant spread over up to a tenth of the wait, not all
/// in the instant it ends.
#[tokio::test(start_paused = true)]
async fn waiters_on_a_cooldown_are_released_with_jitter() {
    let tenant = ScriptedTenant::new(Duration::ZERO, AttemptOutcome::Delivered);
    let d = deliverer(tenant.clone(), 64);
    let start = Instant::now();
    let cooldown = Duration::from_secs(2);
    d.cooldown.note(cooldown);
    let waiters = (0..20).map(|n| {
        let d = d.clone();
        tokio::spawn(async move { deliver(&d, n, start + Duration::from_secs(10)).await })
    });
    for result in futures::future::join_all(waiters).await {
        assert!(result.unwrap().is_ok());
    }
    let mut arrivals: Vec<Duration> = tenant.arrivals().iter().map(|t| *t - start).collect();
    arrivals.sort();
    assert!(arrivals
        .iter()
        .all(|a| *a >= cooldown && *a <= cooldown * 11 / 10));
    arrivals.dedup();
    assert!(arrivals.len() >= 10, "released together: {arrivals:?}");
}
