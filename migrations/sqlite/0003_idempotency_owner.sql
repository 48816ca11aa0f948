-- Who holds an in-progress key: a random token per claim. Completing or abandoning a key
-- checks it, so a request whose lease ran out (and whose key a retry took over) cannot
-- overwrite or delete the retry's claim. Rows from before have none and are never matched.
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT;
