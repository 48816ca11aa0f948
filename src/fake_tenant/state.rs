//! Settings, counters and the shared state behind the fake tenant's handlers.

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, MutexGuard,
    },
};

use time::OffsetDateTime;
use tokio::time::Instant;

use super::cxone::{Dialect, FakeCxoneSettings};
use super::faults::{FakeTenantFaults, FaultPlan};

/// Most tokens (and, separately, interactions) remembered at once, so that a fake left
/// running under a benchmark for hours keeps a flat memory profile.
pub(crate) const MAX_ENTRIES: usize = 100_000;

/// Knobs for the fake tenant. Deserialisable from TOML (`[sandbox]` table) with every field
/// defaulted.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FakeTenantSettings {
    /// Added latency before each prompt/transcript answer, in milliseconds. Default 20.
    pub latency_ms: u64,
    /// Fraction (0.0..=1.0) of prompt POSTs (in the cxone dialect: agent-message POSTs and
    /// custom-event PUTs) answered 503. Default 0.0.
    pub failure_rate: f64,
    /// Fraction (0.0..=1.0) of those same calls answered 429 with Retry-After. Default 0.0.
    pub rate_limited_rate: f64,
    /// Retry-After value (seconds) sent with simulated 429s. Default 1. The cxone dialect
    /// sends no Retry-After when this is 0, as CXone may not.
    pub retry_after_secs: u64,
    /// Added latency before each token answer, in milliseconds, so concurrent callers can
    /// be seen sharing one fetch. Default 0.
    pub token_latency_ms: u64,
    /// `expires_in` of issued access tokens, seconds. Default 3600.
    pub token_lifetime_secs: u64,
    /// How long after the first prompt for an interaction its transcript becomes available
    /// (404 before), ms. Default 500.
    pub transcript_delay_ms: u64,
    /// Seeded fault injection (`[sandbox.tenant.faults]`); none by default.
    pub faults: FakeTenantFaults,
    /// The API spoken: `tutorial` (default) or `cxone`.
    pub dialect: Dialect,
    /// The tenant the `cxone` dialect plays (`[sandbox.tenant.cxone]`).
    pub cxone: FakeCxoneSettings,
}

impl Default for FakeTenantSettings {
    /// The defaults approximate a healthy tenant: a little latency, no faults, hour-long
    /// tokens and transcripts that appear half a second after the first prompt.
    fn default() -> Self {
        Self {
            latency_ms: 20,
            failure_rate: 0.0,
            rate_limited_rate: 0.0,
            retry_after_secs: 1,
            token_latency_ms: 0,
            token_lifetime_secs: 3600,
            transcript_delay_ms: 500,
            faults: FakeTenantFaults::default(),
            dialect: Dialect::default(),
            cxone: FakeCxoneSettings::default(),
        }
    }
}

/// Counters a benchmark or test can read (also served as JSON at `GET /_fake/stats`, camelCase
/// keys).
#[derive(Debug, Clone, Copy, Default, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FakeTenantStats {
    /// Every `POST /api/v2/oauth/token`, granted or not.
    pub token_requests: u64,
    /// Every prompt POST that passed the bearer check, whatever it was answered.
    pub prompts: u64,
    /// Every transcript GET that passed the bearer check, found or not.
    pub transcripts: u64,
    /// Accepted TCP connections; shows whether the client reuses connections.
    pub connections: u64,
    /// cxone: every agent-message POST that passed the bearer and Accept checks.
    pub agent_message_posts: u64,
    /// cxone: agent messages stored (one POST may carry several).
    pub agent_messages_delivered: u64,
    /// cxone: agent messages removed by DELETE.
    pub agent_messages_deleted: u64,
    /// cxone: every agent-message list GET that passed the checks.
    pub agent_message_lists: u64,
    /// cxone: every custom-event PUT that passed the checks, whatever it was answered.
    pub custom_events: u64,
    /// cxone: every `/contacts/active` GET that passed the checks, found or not.
    pub contact_lookups: u64,
}

/// Counters kept as atomics so handlers never contend on a lock just to count.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) token_requests: AtomicU64,
    pub(crate) prompts: AtomicU64,
    pub(crate) transcripts: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) agent_message_posts: AtomicU64,
    pub(crate) agent_messages_delivered: AtomicU64,
    pub(crate) agent_messages_deleted: AtomicU64,
    pub(crate) agent_message_lists: AtomicU64,
    pub(crate) custom_events: AtomicU64,
    pub(crate) contact_lookups: AtomicU64,
}

impl Counters {
    /// Adds one to `counter`; relaxed is enough because the counters order nothing.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> FakeTenantStats {
        FakeTenantStats {
            token_requests: self.token_requests.load(Ordering::Relaxed),
            prompts: self.prompts.load(Ordering::Relaxed),
            transcripts: self.transcripts.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            agent_message_posts: self.agent_message_posts.load(Ordering::Relaxed),
            agent_messages_delivered: self.agent_messages_delivered.load(Ordering::Relaxed),
            agent_messages_deleted: self.agent_messages_deleted.load(Ordering::Relaxed),
            agent_message_lists: self.agent_message_lists.load(Ordering::Relaxed),
            custom_events: self.custom_events.load(Ordering::Relaxed),
            contact_lookups: self.contact_lookups.load(Ordering::Relaxed),
        }
    }
}

/// When an interaction first had a prompt delivered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivery {
    /// Monotonic (and, in tests, pausable) time the transcript delay is measured from.
    pub(crate) at: Instant,
    /// Wall-clock time, so the transcript's `createdAt` can be reported.
    pub(crate) at_utc: OffsetDateTime,
}

/// A map that keeps at most `capacity` entries, evicting the oldest insertion first.
///
/// Keys are never re-inserted while present, so the insertion queue and the map stay in
/// step and eviction is O(1) rather than a scan for the oldest entry.
#[derive(Debug)]
pub(crate) struct BoundedMap<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
    capacity: usize,
}

impl<V> BoundedMap<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Drops entries from the oldest end while `stale` says so; stops at the first fresh one.
    pub(crate) fn prune_front(&mut self, mut stale: impl FnMut(&V) -> bool) {
        while let Some(key) = self.order.front() {
            match self.map.get(key) {
                Some(value) if !stale(value) => break,
                _ => {
                    if let Some(key) = self.order.pop_front() {
                        self.map.remove(&key);
                    }
                }
            }
        }
    }

    /// Inserts `value` under `key` unless the key is already present (first write wins).
    pub(crate) fn insert_if_absent(&mut self, key: &str, value: V) {
        if self.map.contains_key(key) {
            return;
        }
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.map.remove(&oldest);
                }
                None => break,
            }
        }
        self.map.insert(key.to_owned(), value);
        self.order.push_back(key.to_owned());
    }
}

/// Everything the handlers share; lives in an `Arc`.
#[derive(Debug)]
pub(crate) struct SharedState {
    pub(crate) settings: FakeTenantSettings,
    pub(crate) counters: Counters,
    pub(crate) faults: FaultPlan,
    /// Issued access token → its expiry.
    tokens: Mutex<BoundedMap<Instant>>,
    /// Interaction id → its first delivery.
    interactions: Mutex<BoundedMap<Delivery>>,
}

impl SharedState {
    pub(crate) fn new(settings: FakeTenantSettings) -> Self {
        Self {
            faults: FaultPlan::new(settings.faults.clone()),
            settings,
            counters: Counters::default(),
            tokens: Mutex::new(BoundedMap::new(MAX_ENTRIES)),
            interactions: Mutex::new(BoundedMap::new(MAX_ENTRIES)),
        }
    }

    /// Remembers an issued token. Every token gets the same lifetime, so the oldest insertion
    /// is also the first to expire and expired ones can be dropped from the front.
    pub(crate) fn issue_token(&self, token: &str, expires_at: Instant) {
        let now = Instant::now();
        let mut tokens = lock(&self.tokens);
        tokens.prune_front(|expiry| *expiry <= now);
        tokens.insert_if_absent(token, expires_at);
    }

    /// Whether `token` was issued here and has not yet expired.
    pub(crate) fn token_valid(&self, token: &str) -> bool {
        let now = Instant::now();
        lock(&self.tokens)
            .get(token)
            .is_some_and(|expiry| *expiry > now)
    }

    /// Records the first delivery for an interaction; later deliveries leave it unchanged so
    /// the transcript delay runs from the first prompt, as the settings describe.
    pub(crate) fn record_delivery(&self, interaction_id: &str, delivery: Delivery) {
        lock(&self.interactions).insert_if_absent(interaction_id, delivery);
    }

    pub(crate) fn first_delivery(&self, interaction_id: &str) -> Option<Delivery> {
        lock(&self.interactions).get(interaction_id).copied()
    }
}

/// Locks `mutex`, recovering from poisoning: the maps hold plain data that a panicking
/// holder cannot leave half-updated in a way that matters to a fake.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_deserialise_with_defaults() {
        let settings: FakeTenantSettings =
            toml::from_str("latency_ms = 5\nfailure_rate = 0.25").unwrap();
        let expected = FakeTenantSettings {
            latency_ms: 5,
            failure_rate: 0.25,
            ..FakeTenantSettings::default()
        };
        assert_eq!(settings, expected);
        assert_eq!(
            toml::from_str::<FakeTenantSettings>("").unwrap(),
            FakeTenantSettings::default()
        );
        assert!(toml::from_str::<FakeTenantSettings>("latency = 5").is_err());
        let faulty: FakeTenantSettings =
            toml::from_str("[faults]\nseed = 7\nhang_rate = 0.5").unwrap();
        let expected = FakeTenantFaults {
            seed: 7,
            hang_rate: 0.5,
            ..FakeTenantFaults::default()
        };
        assert_eq!(faulty.faults, expected);
        assert!(expected.rates_valid());
        let too_many = FakeTenantFaults {
            server_error_rate: 0.6,
            ..expected
        };
        assert!(!too_many.rates_valid(), "the prompt rates add up to 1.1");
    }

    #[test]
    fn bounded_map_evicts_oldest_and_keeps_first_write() {
        let mut map = BoundedMap::new(2);
        for (key, value) in [("a", 1), ("a", 9), ("b", 2), ("c", 3)] {
            map.insert_if_absent(key, value);
        }
        assert_eq!(
            (map.get("a"), map.get("b"), map.get("c")),
            (None, Some(&2), Some(&3))
        );
        map.prune_front(|value| *value < 3);
        assert_eq!((map.len(), map.get("c")), (1, Some(&3)));
    }
}
