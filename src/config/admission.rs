//! What a prompt must pass before delivery: eligibility and the rate limit.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Where the rate limit's state lives. Only the in-process bucket exists today; a shared
/// backend for several replicas plugs in here.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitBackend {
    /// One token bucket per process.
    #[default]
    Memory,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// Which implementation holds the bucket.
    pub backend: RateLimitBackend,
    /// Prompts allowed at once after a quiet period (`RATE_LIMIT_BURST`).
    pub burst: u32,
    /// Sustained prompts per second (`RATE_LIMIT_PER_SECOND`).
    pub per_second: f64,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            backend: RateLimitBackend::Memory,
            burst: 10,
            per_second: 2.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EligibilitySettings {
    /// Interactions with a lower sentiment get no prompt (`ELIGIBILITY_MIN_SENTIMENT`).
    pub min_sentiment: f64,
    /// Skills an agent must all have (`ELIGIBILITY_REQUIRED_SKILLS`, comma-separated).
    pub required_skills: Vec<String>,
    /// Skills of any agent not listed in `agents`.
    pub default_skills: Vec<String>,
    /// Per-agent skill lists, replacing `default_skills` for that agent.
    pub agents: BTreeMap<String, Vec<String>>,
}

impl Default for EligibilitySettings {
    fn default() -> Self {
        Self {
            min_sentiment: -0.3,
            required_skills: vec!["billing".into()],
            default_skills: ["billing", "technical_support", "escalation"]
                .map(String::from)
                .to_vec(),
            agents: BTreeMap::new(),
        }
    }
}
