-- Access tokens for robots and CI, by the SHA-256 of the token, never the
-- token. `name` is what operators revoke by; `scopes` a JSON list of
-- scopes whose names may be globs. Times are milliseconds since 1970.
CREATE TABLE access_tokens (
    hash TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX access_tokens_owner ON access_tokens (owner, name);
CREATE INDEX access_tokens_expires_at ON access_tokens (expires_at);
