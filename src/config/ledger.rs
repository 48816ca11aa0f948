//! The prompt ledger and the correlation work kept in it.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CorrelationSettings {
    /// Transcript look-ups running at once in this process, each on a pooled connection to
    /// the tenant. 32 is 320 look-ups/s against a tenant answering in 100 ms; jobs past
    /// that wait in the ledger (and cost a lease each), so a burst delays correlation rather
    /// than losing it.
    pub workers: usize,
    /// A job gives up when no transcript appeared within this time.
    pub give_up_after_ms: u64,
    /// First wait between transcript look-ups; doubles up to `backoff_max_ms`.
    pub backoff_base_ms: u64,
    /// Ceiling for one wait between look-ups.
    pub backoff_max_ms: u64,
    /// On shutdown, running look-ups get this long to finish; jobs left stay in the ledger.
    pub drain_timeout_ms: u64,
    /// A worker's hold on a job; a job held by a dead replica is taken over after this.
    pub lease_ms: u64,
    /// How often the ledger is checked for due jobs (new deliveries wake the worker at once).
    pub poll_interval_ms: u64,
}

impl Default for CorrelationSettings {
    fn default() -> Self {
        Self {
            workers: 32,
            give_up_after_ms: 60_000,
            backoff_base_ms: 250,
            backoff_max_ms: 5_000,
            drain_timeout_ms: 5_000,
            lease_ms: 30_000,
            poll_interval_ms: 250,
        }
    }
}

// `Debug` by hand: a PostgreSQL URL can carry a password.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// The ledger (`DATABASE_URL`): `sqlite://path` (one replica; created on first start) or
    /// `postgres://...` (several replicas sharing records and the correlation queue).
    pub database_url: String,
    /// Connections in the ledger's pool.
    pub max_connections: u32,
    /// Records older than this many days are deleted by a background task; 0 keeps them.
    pub retention_days: u32,
    /// How often the retention task runs.
    pub prune_interval_secs: u64,
    /// A repeated `Idempotency-Key` replays the first answer within this window.
    pub idempotency_window_secs: u64,
    /// Keep prompt content in records; `false` keeps only its SHA-256, for privacy.
    pub store_content: bool,
    /// When a delivered prompt is answered: once its record has committed (`committed`), or
    /// once it is queued for the next group commit (`queued`).
    pub acknowledge: Acknowledge,
}

/// When a delivered prompt's answer leaves, relative to its record's commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acknowledge {
    /// After the commit: a 200 means the record is durable and `GET /prompts/{id}` finds it.
    #[default]
    Committed,
    /// Before it: the commit (and any WAL checkpoint inside it) is off the answer's path, but
    /// a crash in the few milliseconds before that commit loses the records of prompts whose
    /// callers were told they were delivered. A graceful shutdown still commits them all.
    Queued,
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreSettings")
            .field("database_url", &crate::store::redact(&self.database_url))
            .field("max_connections", &self.max_connections)
            .field("retention_days", &self.retention_days)
            .field("prune_interval_secs", &self.prune_interval_secs)
            .field("idempotency_window_secs", &self.idempotency_window_secs)
            .field("store_content", &self.store_content)
            .field("acknowledge", &self.acknowledge)
            .finish()
    }
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            database_url: crate::store::DEFAULT_DATABASE_URL.into(),
            max_connections: 5,
            retention_days: 90,
            prune_interval_secs: 3_600,
            idempotency_window_secs: 86_400,
            store_content: true,
            acknowledge: Acknowledge::Committed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledge_is_committed_unless_set_to_queued() {
        let parse = |toml: &str| toml::from_str::<StoreSettings>(toml).map(|s| s.acknowledge);
        assert_eq!(parse("").unwrap(), Acknowledge::Committed);
        assert_eq!(
            parse("acknowledge = \"queued\"").unwrap(),
            Acknowledge::Queued
        );
        let error = parse("acknowledge = \"soon\"").unwrap_err().to_string();
        assert!(error.contains("`committed`"), "{error}");
    }

    #[test]
    fn debug_output_hides_the_database_password() {
        let settings = StoreSettings {
            database_url: "postgres://svc:hunter2-secret@db.internal/ledger".into(),
            ..Default::default()
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("db.internal"), "{shown}");
    }
}
