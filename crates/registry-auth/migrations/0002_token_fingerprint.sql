-- The credential fingerprint a refresh token was issued under (NULL: the
-- authenticator gives none), so that a token issued with an old password
-- by an instance that had not reloaded yet is refused everywhere else.
ALTER TABLE refresh_tokens ADD COLUMN fingerprint TEXT;
