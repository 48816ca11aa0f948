-- The tenant's own id for a delivered prompt (CXone's agentMessageId): what withdrawing it
-- takes.
ALTER TABLE prompts ADD COLUMN tenant_message_id TEXT;
-- What correlation matched, or why it failed, in words (CXone: the contact's state, or
-- "contact is with agent N").
ALTER TABLE prompts ADD COLUMN correlation_detail TEXT;
-- When the prompt was withdrawn from the agent's screen.
ALTER TABLE prompts ADD COLUMN retracted_at TIMESTAMPTZ;
