-- People who signed in through the sign-in page, as of their last sign-in
-- (`labels`: a JSON object of lists): whom their access tokens act for.
-- Times are milliseconds since 1970.
CREATE TABLE people (
    subject TEXT PRIMARY KEY,
    labels TEXT NOT NULL,
    signed_in_at BIGINT NOT NULL
);

-- Secrets every instance shares (the sign-in page's cookie key), made by
-- whichever instance needs one first; `value` in hex.
CREATE TABLE shared_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
