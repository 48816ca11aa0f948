-- The prompt ledger, PostgreSQL flavour (14 or newer).
--
-- Conventions (the SQLite schema has the same tables and columns):
-- * Timestamps are TIMESTAMPTZ (microsecond precision). The application truncates to whole
--   microseconds before writing, so both engines hold the same instants.
-- * Days are DATE (UTC). JSON is JSONB.
-- * Prompt ids are COLLATE "C": byte order, as in SQLite and the application, so keyset
--   pagination orders ties on received_at the same way everywhere, whatever the database's
--   default collation.

CREATE TABLE prompts (
    prompt_id            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    primary_prompt_id    TEXT             NOT NULL UNIQUE,
    interaction_id       TEXT             NOT NULL,
    agent_id             TEXT             NOT NULL,
    priority             TEXT             NOT NULL CHECK (priority IN ('HIGH', 'MEDIUM', 'LOW')),
    sentiment            DOUBLE PRECISION NOT NULL,
    content              TEXT,
    content_hash         TEXT             NOT NULL,
    request_id           TEXT,
    status               TEXT             NOT NULL CHECK (status IN ('delivered', 'failed')),
    failure              TEXT,
    fallback             BOOLEAN          NOT NULL,
    attempt              INTEGER,
    received_at          TIMESTAMPTZ      NOT NULL,
    completed_at         TIMESTAMPTZ      NOT NULL,
    -- completed_at - received_at, kept so statistics need no per-row arithmetic.
    delivery_latency_ms  BIGINT           NOT NULL,
    correlation          TEXT             NOT NULL CHECK (correlation IN
                             ('pending', 'correlated', 'failed', 'skipped', 'not_applicable')),
    transcript_id        TEXT,
    correlated_at        TIMESTAMPTZ,
    correlation_attempts INTEGER          NOT NULL DEFAULT 0
);
-- Keyset order for listing, export and pruning (newest or oldest first); the filtered
-- listings end in the same key, so their ORDER BY needs no sort.
CREATE INDEX prompts_received ON prompts (received_at, prompt_id);
CREATE INDEX prompts_interaction ON prompts (interaction_id, received_at, prompt_id);
CREATE INDEX prompts_agent ON prompts (agent_id, received_at, prompt_id);

-- Every POST made for a prompt, in order (seq from 0).
CREATE TABLE prompt_attempts (
    prompt_id         TEXT COLLATE "C" NOT NULL REFERENCES prompts (prompt_id) ON DELETE CASCADE,
    seq               INTEGER     NOT NULL,
    attempt_prompt_id TEXT        NOT NULL,
    leg               TEXT        NOT NULL CHECK (leg IN ('primary', 'fallback')),
    number            INTEGER     NOT NULL,
    outcome           TEXT        NOT NULL,
    status            INTEGER,
    started_at        TIMESTAMPTZ NOT NULL,
    duration_ms       BIGINT      NOT NULL,
    PRIMARY KEY (prompt_id, seq)
);

-- Transcript look-ups still to do. Written in the same transaction as the prompt, so a crash
-- right after delivery loses no correlation; any replica may lease a due job
-- (SELECT ... FOR UPDATE SKIP LOCKED).
CREATE TABLE correlation_jobs (
    prompt_id       TEXT COLLATE "C" NOT NULL PRIMARY KEY REFERENCES prompts (prompt_id) ON DELETE CASCADE,
    interaction_id  TEXT        NOT NULL,
    agent_id        TEXT        NOT NULL,
    request_id      TEXT,
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    give_up_at      TIMESTAMPTZ NOT NULL,
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ
);
CREATE INDEX correlation_jobs_due ON correlation_jobs (next_attempt_at, prompt_id);

-- What the agent did with a prompt; one row per (prompt, outcome), so reports are idempotent.
CREATE TABLE feedback (
    prompt_id   TEXT COLLATE "C" NOT NULL REFERENCES prompts (prompt_id) ON DELETE CASCADE,
    outcome     TEXT        NOT NULL CHECK (outcome IN ('displayed', 'accepted', 'dismissed', 'ignored')),
    agent_id    TEXT,
    at          TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (prompt_id, outcome)
);

-- Idempotency-Key bookkeeping: the first request with a key runs, later ones replay its answer.
CREATE TABLE idempotency_keys (
    scope           TEXT        NOT NULL,
    key             TEXT        NOT NULL,
    request_hash    TEXT        NOT NULL,
    state           TEXT        NOT NULL CHECK (state IN ('in_progress', 'completed')),
    response_status INTEGER,
    response_body   JSONB,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- Requests refused before delivery, counted per UTC day: they leave no prompt row.
CREATE TABLE refusals (
    day   DATE   NOT NULL,
    kind  TEXT   NOT NULL CHECK (kind IN ('ineligible', 'rate_limited', 'invalid')),
    count BIGINT NOT NULL,
    PRIMARY KEY (day, kind)
);
