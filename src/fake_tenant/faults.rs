//! Seeded fault injection: which answer the fake gives each prompt POST and token request.
//!
//! Every draw is keyed by the seed and the request's sequence number (the n-th prompt POST,
//! the n-th token request), not by the order in which concurrent handlers happen to run, so a
//! run with the same seed and rates serves the same answers to the same numbered requests.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rand::{rngs::StdRng, Rng, SeedableRng};

/// Per-kind fault rates for the fake tenant (`[sandbox.tenant.faults]`). All zero by default:
/// no fault is injected. Each rate is the fraction (0.0..=1.0) of prompt POSTs given that
/// answer; together they must not exceed 1.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FakeTenantFaults {
    /// Seed of the draws: the same seed and rates give the n-th prompt POST (and the n-th
    /// token request) the same answer in every run. Default 0.
    pub seed: u64,
    /// Answered 500, 502, 503 or 504 (the kind drawn too). Default 0.0.
    pub server_error_rate: f64,
    /// Answered 429 with `Retry-After: <retry_after_secs>`. Default 0.0.
    pub retry_after_seconds_rate: f64,
    /// Answered 429 with `Retry-After` as an HTTP-date `retry_after_secs` from now (whole
    /// seconds, so the wait it asks for is up to a second shorter). Default 0.0.
    pub retry_after_date_rate: f64,
    /// Answered 429 without a `Retry-After` header. Default 0.0.
    pub rate_limited_without_header_rate: f64,
    /// The connection is closed without an answer (the client sees a broken exchange, not a
    /// status). Default 0.0.
    pub connection_reset_rate: f64,
    /// Answered (as delivered) only after `hang_ms`, longer than a client's deadline.
    /// Default 0.0.
    pub hang_rate: f64,
    /// How long a hanging answer takes, ms. Default 15000 (past the service's default 10 s
    /// request deadline).
    pub hang_ms: u64,
    /// Fraction of token requests answered 503. Default 0.0.
    pub token_unavailable_rate: f64,
}

impl Default for FakeTenantFaults {
    fn default() -> Self {
        Self {
            seed: 0,
            server_error_rate: 0.0,
            retry_after_seconds_rate: 0.0,
            retry_after_date_rate: 0.0,
            rate_limited_without_header_rate: 0.0,
            connection_reset_rate: 0.0,
            hang_rate: 0.0,
            hang_ms: 15_000,
            token_unavailable_rate: 0.0,
        }
    }
}

impl FakeTenantFaults {
    /// The prompt fault kinds with their rates, in the order a draw walks them.
    fn prompt_rates(&self) -> [(PromptFault, f64); 6] {
        [
            (PromptFault::ServerError(0), self.server_error_rate),
            (
                PromptFault::RetryAfterSeconds,
                self.retry_after_seconds_rate,
            ),
            (PromptFault::RetryAfterDate, self.retry_after_date_rate),
            (
                PromptFault::RateLimitedWithoutHeader,
                self.rate_limited_without_header_rate,
            ),
            (PromptFault::ConnectionReset, self.connection_reset_rate),
            (PromptFault::Hang, self.hang_rate),
        ]
    }

    /// Whether every rate is in 0..=1 and the prompt rates add up to at most 1.
    pub fn rates_valid(&self) -> bool {
        let rates = self.prompt_rates().map(|(_, rate)| rate);
        let in_range = |rate: f64| (0.0..=1.0).contains(&rate);
        rates.into_iter().all(in_range)
            && in_range(self.token_unavailable_rate)
            && rates.iter().sum::<f64>() <= 1.0 + f64::EPSILON
    }
}

/// What a prompt POST gets instead of a normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PromptFault {
    /// A 5xx with this status.
    ServerError(u16),
    RetryAfterSeconds,
    RetryAfterDate,
    RateLimitedWithoutHeader,
    ConnectionReset,
    Hang,
}

/// How many answers of each fault kind the fake has served (`FakeTenant::faults_served`).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FaultsServed {
    /// 5xx answers to prompt POSTs.
    pub server_errors: u64,
    /// 429s with `Retry-After` in seconds.
    pub retry_after_seconds: u64,
    /// 429s with `Retry-After` as an HTTP-date.
    pub retry_after_dates: u64,
    /// 429s without `Retry-After`.
    pub rate_limited_without_header: u64,
    /// Prompt POSTs whose connection was closed without an answer.
    pub connection_resets: u64,
    /// Prompt POSTs answered only after `hang_ms`.
    pub hangs: u64,
    /// Token requests answered 503.
    pub token_unavailable: u64,
}

/// The faults in force, the sequence counters the draws are keyed by, and what was served.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    pub(crate) settings: FakeTenantFaults,
    /// Set by `heal`: from then on nothing is injected, the legacy rates included.
    healed: AtomicBool,
    prompt_sequence: AtomicU64,
    token_sequence: AtomicU64,
    served: [AtomicU64; 7],
}

/// Keeps the token draws apart from the prompt draws of the same sequence number.
const TOKEN_STREAM: u64 = 0x746f_6b65_6e00_0000;

impl FaultPlan {
    pub(crate) fn new(settings: FakeTenantFaults) -> Self {
        Self {
            settings,
            healed: AtomicBool::new(false),
            prompt_sequence: AtomicU64::new(0),
            token_sequence: AtomicU64::new(0),
            served: Default::default(),
        }
    }

    /// Stops every fault for the rest of the fake's life.
    pub(crate) fn heal(&self) {
        self.healed.store(true, Ordering::Relaxed);
    }

    pub(crate) fn healed(&self) -> bool {
        self.healed.load(Ordering::Relaxed)
    }

    /// The draw for one request: a generator seeded from the seed and the sequence number
    /// (mixed, so neighbouring numbers do not give related streams).
    fn rng(&self, stream: u64, sequence: u64) -> StdRng {
        let mixed = sequence
            .wrapping_add(stream)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        StdRng::seed_from_u64(self.settings.seed ^ mixed)
    }

    /// The fault for the next prompt POST, if any. Every POST takes a sequence number, healed
    /// or not, so healing does not shift the numbering.
    pub(crate) fn next_prompt_fault(&self) -> Option<PromptFault> {
        let sequence = self.prompt_sequence.fetch_add(1, Ordering::Relaxed);
        if self.healed() {
            return None;
        }
        let mut rng = self.rng(0, sequence);
        let draw: f64 = rng.random();
        let mut bound = 0.0;
        let fault = self
            .settings
            .prompt_rates()
            .into_iter()
            .find_map(|(fault, rate)| {
                bound += rate;
                (draw < bound).then_some(fault)
            })?;
        let fault = match fault {
            PromptFault::ServerError(_) => {
                PromptFault::ServerError([500, 502, 503, 504][rng.random_range(0..4)])
            }
            other => other,
        };
        self.count(served_index(fault));
        Some(fault)
    }

    /// Whether the next token request is answered 503.
    pub(crate) fn next_token_unavailable(&self) -> bool {
        let sequence = self.token_sequence.fetch_add(1, Ordering::Relaxed);
        if self.healed() {
            return false;
        }
        let draw: f64 = self.rng(TOKEN_STREAM, sequence).random();
        let unavailable = draw < self.settings.token_unavailable_rate;
        if unavailable {
            self.count(6);
        }
        unavailable
    }

    fn count(&self, index: usize) {
        self.served[index].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn served(&self) -> FaultsServed {
        let [server_errors, retry_after_seconds, retry_after_dates, rate_limited_without_header, connection_resets, hangs, token_unavailable] =
            self.served
                .each_ref()
                .map(|count| count.load(Ordering::Relaxed));
        FaultsServed {
            server_errors,
            retry_after_seconds,
            retry_after_dates,
            rate_limited_without_header,
            connection_resets,
            hangs,
            token_unavailable,
        }
    }
}

/// Where a prompt fault is counted in `FaultPlan::served`.
fn served_index(fault: PromptFault) -> usize {
    match fault {
        PromptFault::ServerError(_) => 0,
        PromptFault::RetryAfterSeconds => 1,
        PromptFault::RetryAfterDate => 2,
        PromptFault::RateLimitedWithoutHeader => 3,
        PromptFault::ConnectionReset => 4,
        PromptFault::Hang => 5,
    }
}
