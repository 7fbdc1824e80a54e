-- The state store's tables. One schema for SQLite and PostgreSQL: text,
-- BIGINT and portable upserts only. Times are milliseconds since 1970.

-- Refresh ("identity") tokens, by the SHA-256 of the token, never the token.
CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    subject TEXT NOT NULL,
    identity TEXT NOT NULL,
    service TEXT NOT NULL,
    generation BIGINT NOT NULL,
    client_ids TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX refresh_tokens_id ON refresh_tokens (id);
CREATE INDEX refresh_tokens_subject ON refresh_tokens (subject, issued_at);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);

-- Each user's credentials as last seen (a fingerprint, NULL once removed)
-- and the generation that goes up whenever they change.
CREATE TABLE credential_generations (
    subject TEXT PRIMARY KEY,
    fingerprint TEXT,
    generation BIGINT NOT NULL
);

-- Failed-login counters of the throttle, shared by every instance.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    last_failure BIGINT NOT NULL
);
CREATE INDEX login_failures_last_failure ON login_failures (last_failure);
