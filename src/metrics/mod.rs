//! Prometheus metrics. One registry per `Application`, so several instances in one process
//! (tests) never mix their numbers. Every label comes from a bounded set: route templates,
//! enums and status codes, never ids.

use std::sync::atomic::AtomicU64;

mod labels;

pub use labels::*;
use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Seconds; explicit so replicas' histograms aggregate. Dense below 100 ms, where a healthy
/// delivery sits.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const WAIT_BUCKETS: [f64; 9] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS.iter().copied())
}

type LatencyFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: LatencyFamily<RouteLabels>,
    pub deliveries: Family<OutcomeLabels, Counter>,
    pub delivery_duration: Histogram,
    pub delivery_attempts: Family<AttemptLabels, Counter>,
    pub upstream_responses: Family<UpstreamLabels, Counter>,
    pub upstream_duration: LatencyFamily<EndpointLabels>,
    pub upstream_rate_limited: Counter,
    pub retry_after_wait: Histogram,
    pub token_fetches: Family<ResultLabels, Counter>,
    pub correlations: Family<CorrelationLabels, Counter>,
    pub correlation_queue_depth: Gauge,
    pub rate_limiter_tokens: Gauge<f64, AtomicU64>,
    pub breaker_state: Gauge,
    pub breaker_rejections: Counter,
    pub in_flight: Gauge,
    pub overload_rejections: Counter,
    /// Records of answered prompts still waiting for their commit (the ledger is stalled).
    pub ledger_records_awaiting_commit: Gauge,
    pub ledger_writes_lost: Family<LostLabels, Counter>,
    pub idempotency_claims_lost: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("cxone_assist");
        let m = Self {
            http_requests: Family::default(),
            http_duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            deliveries: Family::default(),
            delivery_duration: latency_histogram(),
            delivery_attempts: Family::default(),
            upstream_responses: Family::default(),
            upstream_duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            upstream_rate_limited: Counter::default(),
            retry_after_wait: Histogram::new(WAIT_BUCKETS.iter().copied()),
            token_fetches: Family::default(),
            correlations: Family::default(),
            correlation_queue_depth: Gauge::default(),
            rate_limiter_tokens: Gauge::default(),
            breaker_state: Gauge::default(),
            breaker_rejections: Counter::default(),
            in_flight: Gauge::default(),
            overload_rejections: Counter::default(),
            ledger_records_awaiting_commit: Gauge::default(),
            ledger_writes_lost: Family::default(),
            idempotency_claims_lost: Counter::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            m.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            m.http_duration.clone(),
        );
        r.register(
            "deliveries",
            "Prompt requests by final outcome",
            m.deliveries.clone(),
        );
        r.register(
            "delivery_duration_seconds",
            "End-to-end time of prompt deliveries that reached the tenant",
            m.delivery_duration.clone(),
        );
        r.register(
            "delivery_attempts",
            "Prompt POSTs to the tenant, by leg and outcome",
            m.delivery_attempts.clone(),
        );
        r.register(
            "upstream_responses",
            "Tenant answers by endpoint and status class",
            m.upstream_responses.clone(),
        );
        r.register(
            "upstream_duration_seconds",
            "Tenant call latency by endpoint",
            m.upstream_duration.clone(),
        );
        r.register(
            "upstream_rate_limited",
            "429 answers from the tenant",
            m.upstream_rate_limited.clone(),
        );
        r.register(
            "upstream_retry_after_wait_seconds",
            "Waits taken for the tenant's Retry-After",
            m.retry_after_wait.clone(),
        );
        r.register(
            "token_fetches",
            "OAuth2 token requests by result",
            m.token_fetches.clone(),
        );
        r.register(
            "correlations",
            "Correlation jobs by outcome",
            m.correlations.clone(),
        );
        r.register(
            "correlation_queue_depth",
            "Correlation jobs in the ledger not yet finished",
            m.correlation_queue_depth.clone(),
        );
        r.register(
            "rate_limiter_tokens",
            "Tokens available in the local rate limiter",
            m.rate_limiter_tokens.clone(),
        );
        r.register(
            "circuit_breaker_state",
            "Tenant circuit breaker: 0 closed, 1 half-open, 2 open",
            m.breaker_state.clone(),
        );
        r.register(
            "circuit_breaker_rejections",
            "Deliveries failed fast by the open breaker",
            m.breaker_rejections.clone(),
        );
        r.register(
            "in_flight_requests",
            "Requests being handled now",
            m.in_flight.clone(),
        );
        r.register(
            "overload_rejections",
            "Requests refused with 503 because too many were in flight",
            m.overload_rejections.clone(),
        );
        r.register(
            "ledger_records_awaiting_commit",
            "Records of prompts already answered whose commit is still pending",
            m.ledger_records_awaiting_commit.clone(),
        );
        r.register(
            "ledger_writes_lost",
            "Ledger writes given up without being committed, by reason",
            m.ledger_writes_lost.clone(),
        );
        r.register(
            "idempotency_claims_lost",
            "Answers not kept for replay: their key's lease ran out and another request took it",
            m.idempotency_claims_lost.clone(),
        );
        Self { registry, ..m }
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub fn upstream(&self, endpoint: Endpoint, status: Option<u16>, elapsed: std::time::Duration) {
        let class = match status {
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(500..=599) => "5xx",
            Some(_) => "other",
            None => "error",
        };
        let endpoint = endpoint.as_str();
        self.upstream_responses
            .get_or_create(&UpstreamLabels { endpoint, class })
            .inc();
        self.upstream_duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(elapsed.as_secs_f64());
        if status == Some(429) {
            self.upstream_rate_limited.inc();
        }
    }

    /// Counts `count` ledger writes given up for `reason` (see [`LostLabels`]).
    pub fn ledger_writes_lost(&self, reason: &'static str, count: u64) {
        self.ledger_writes_lost
            .get_or_create(&LostLabels { reason })
            .inc_by(count);
    }

    pub fn delivery(&self, outcome: DeliveryOutcome) {
        self.deliveries
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }
}
