-- The ledger's tables rebuilt for cheaper writes; the same columns, keys and indexes.
--
-- * CHECK constraints list their values with OR instead of IN (...): for an IN list of more
--   than two values SQLite fills a temporary B-tree on every statement that checks it, so
--   each prompt INSERT built two and each correlation UPDATE one.
-- * prompt_attempts and correlation_jobs are WITHOUT ROWID: their rows are small and always
--   found by their primary key, which is then the table itself instead of an index beside
--   it, one B-tree less to write per row.
--
-- The children are copied first and the old tables dropped before the old prompts table, so
-- dropping it cascades into nothing; renaming prompts_new to prompts then points the new
-- children's foreign keys at it. Everything runs in the migration's one transaction.

CREATE TABLE prompts_new (
    prompt_id            TEXT    NOT NULL PRIMARY KEY,
    primary_prompt_id    TEXT    NOT NULL UNIQUE,
    interaction_id       TEXT    NOT NULL,
    agent_id             TEXT    NOT NULL,
    priority             TEXT    NOT NULL
                             CHECK (priority = 'HIGH' OR priority = 'MEDIUM' OR priority = 'LOW'),
    sentiment            REAL    NOT NULL,
    content              TEXT,
    content_hash         TEXT    NOT NULL,
    request_id           TEXT,
    status               TEXT    NOT NULL CHECK (status = 'delivered' OR status = 'failed'),
    failure              TEXT,
    fallback             INTEGER NOT NULL CHECK (fallback = 0 OR fallback = 1),
    attempt              INTEGER,
    received_at          INTEGER NOT NULL,
    completed_at         INTEGER NOT NULL,
    -- completed_at - received_at, kept so statistics need no per-row arithmetic.
    delivery_latency_ms  INTEGER NOT NULL,
    correlation          TEXT    NOT NULL CHECK (correlation = 'pending'
                             OR correlation = 'correlated' OR correlation = 'failed'
                             OR correlation = 'skipped' OR correlation = 'not_applicable'),
    transcript_id        TEXT,
    correlated_at        INTEGER,
    correlation_attempts INTEGER NOT NULL DEFAULT 0
);
INSERT INTO prompts_new SELECT * FROM prompts;

CREATE TABLE prompt_attempts_new (
    prompt_id         TEXT    NOT NULL REFERENCES prompts_new (prompt_id) ON DELETE CASCADE,
    seq               INTEGER NOT NULL,
    attempt_prompt_id TEXT    NOT NULL,
    leg               TEXT    NOT NULL CHECK (leg = 'primary' OR leg = 'fallback'),
    number            INTEGER NOT NULL,
    outcome           TEXT    NOT NULL,
    status            INTEGER,
    started_at        INTEGER NOT NULL,
    duration_ms       INTEGER NOT NULL,
    PRIMARY KEY (prompt_id, seq)
) WITHOUT ROWID;
INSERT INTO prompt_attempts_new SELECT * FROM prompt_attempts;

CREATE TABLE correlation_jobs_new (
    prompt_id       TEXT    NOT NULL PRIMARY KEY
                        REFERENCES prompts_new (prompt_id) ON DELETE CASCADE,
    interaction_id  TEXT    NOT NULL,
    agent_id        TEXT    NOT NULL,
    request_id      TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    give_up_at      INTEGER NOT NULL,
    lease_owner     TEXT,
    lease_until     INTEGER
) WITHOUT ROWID;
INSERT INTO correlation_jobs_new SELECT * FROM correlation_jobs;

CREATE TABLE feedback_new (
    prompt_id   TEXT    NOT NULL REFERENCES prompts_new (prompt_id) ON DELETE CASCADE,
    outcome     TEXT    NOT NULL CHECK (outcome = 'displayed' OR outcome = 'accepted'
                            OR outcome = 'dismissed' OR outcome = 'ignored'),
    agent_id    TEXT,
    at          INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (prompt_id, outcome)
);
INSERT INTO feedback_new SELECT * FROM feedback;

DROP TABLE feedback;
DROP TABLE correlation_jobs;
DROP TABLE prompt_attempts;
DROP TABLE prompts;

ALTER TABLE prompts_new RENAME TO prompts;
ALTER TABLE prompt_attempts_new RENAME TO prompt_attempts;
ALTER TABLE correlation_jobs_new RENAME TO correlation_jobs;
ALTER TABLE feedback_new RENAME TO feedback;

-- Keyset order for listing, export and pruning (newest or oldest first); the filtered
-- listings end in the same key, so their ORDER BY needs no sort.
CREATE INDEX prompts_received ON prompts (received_at, prompt_id);
CREATE INDEX prompts_interaction ON prompts (interaction_id, received_at, prompt_id);
CREATE INDEX prompts_agent ON prompts (agent_id, received_at, prompt_id);
CREATE INDEX correlation_jobs_due ON correlation_jobs (next_attempt_at, prompt_id);
