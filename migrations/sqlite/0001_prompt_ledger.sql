-- The prompt ledger, SQLite flavour.
--
-- Conventions (the PostgreSQL schema has the same tables and columns):
-- * Timestamps are INTEGER microseconds since the Unix epoch, UTC. Integers compare exactly and
--   cheaply, so keyset pagination, range filters and lease checks are plain comparisons, and
--   nothing depends on SQLite's loosely typed date functions. The application truncates to
--   whole microseconds before writing, as PostgreSQL's TIMESTAMPTZ does, so both engines hold
--   the same instants.
-- * Booleans are INTEGER 0/1. Days are TEXT 'YYYY-MM-DD' (UTC), which sorts as dates do.
-- * JSON is TEXT.

CREATE TABLE prompts (
    prompt_id            TEXT    NOT NULL PRIMARY KEY,
    primary_prompt_id    TEXT    NOT NULL UNIQUE,
    interaction_id       TEXT    NOT NULL,
    agent_id             TEXT    NOT NULL,
    priority             TEXT    NOT NULL CHECK (priority IN ('HIGH', 'MEDIUM', 'LOW')),
    sentiment            REAL    NOT NULL,
    content              TEXT,
    content_hash         TEXT    NOT NULL,
    request_id           TEXT,
    status               TEXT    NOT NULL CHECK (status IN ('delivered', 'failed')),
    failure              TEXT,
    fallback             INTEGER NOT NULL CHECK (fallback IN (0, 1)),
    attempt              INTEGER,
    received_at          INTEGER NOT NULL,
    completed_at         INTEGER NOT NULL,
    -- completed_at - received_at, kept so statistics need no per-row arithmetic.
    delivery_latency_ms  INTEGER NOT NULL,
    correlation          TEXT    NOT NULL CHECK (correlation IN
                             ('pending', 'correlated', 'failed', 'skipped', 'not_applicable')),
    transcript_id        TEXT,
    correlated_at        INTEGER,
    correlation_attempts INTEGER NOT NULL DEFAULT 0
);
-- Keyset order for listing, export and pruning (newest or oldest first); the filtered
-- listings end in the same key, so their ORDER BY needs no sort.
CREATE INDEX prompts_received ON prompts (received_at, prompt_id);
CREATE INDEX prompts_interaction ON prompts (interaction_id, received_at, prompt_id);
CREATE INDEX prompts_agent ON prompts (agent_id, received_at, prompt_id);

-- Every POST made for a prompt, in order (seq from 0).
CREATE TABLE prompt_attempts (
    prompt_id         TEXT    NOT NULL REFERENCES prompts (prompt_id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    attempt_prompt_id TEXT    NOT NULL,
    leg               TEXT    NOT NULL CHECK (leg IN ('primary', 'fallback')),
    number            INTEGER NOT NULL,
    outcome           TEXT    NOT NULL,
    status            INTEGER,
    started_at        INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL,
    PRIMARY KEY (prompt_id, seq)
);

-- Transcript look-ups still to do. Written in the same transaction as the prompt, so a crash
-- right after delivery loses no correlation; any replica may lease a due job.
CREATE TABLE correlation_jobs (
    prompt_id       TEXT    NOT NULL PRIMARY KEY REFERENCES prompts (prompt_id) ON DELETE CASCADE,
    interaction_id  TEXT    NOT NULL,
    agent_id        TEXT    NOT NULL,
    request_id      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    give_up_at      INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER
);
CREATE INDEX correlation_jobs_due ON correlation_jobs (next_attempt_at, prompt_id);

-- What the agent did with a prompt; one row per (prompt, outcome), so reports are idempotent.
CREATE TABLE feedback (
    prompt_id   TEXT    NOT NULL REFERENCES prompts (prompt_id) ON DELETE CASCADE,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('displayed', 'accepted', 'dismissed', 'ignored')),
    agent_id    TEXT,
    at          INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (prompt_id, outcome)
);

-- Idempotency-Key bookkeeping: the first request with a key runs, later ones replay its answer.
CREATE TABLE idempotency_keys (
    scope           TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('in_progress', 'completed')),
    response_status INTEGER,
    response_body   TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Requests refused before delivery, counted per UTC day: they leave no prompt row.
CREATE TABLE refusals (
    day   TEXT    NOT NULL,
    kind  TEXT    NOT NULL CHECK (kind IN ('ineligible', 'rate_limited', 'invalid')),
    count INTEGER NOT NULL,
    PRIMARY KEY (day, kind)
);
