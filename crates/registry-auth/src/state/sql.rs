//! [`SqlStore`]: the state on SQLite or PostgreSQL, through sqlx.
//!
//! One schema and one set of statements serve both databases (text,
//! BIGINT, `$n` parameters, `INSERT … ON CONFLICT … RETURNING`, which
//! SQLite ≥ 3.35 and PostgreSQL share); each method is written once and
//! compiled for each pool by [`with_pool!`]. Migrations ship in the binary
//! (`migrations/`) and run on connect; on PostgreSQL sqlx holds an
//! advisory lock while they run, so instances starting together apply
//! them once.

use std::borrow::Cow;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use super::{
    AccessTokenRecord, CredentialFingerprint, FailureCount, MAX_CLIENT_IDS, PersonRecord,
    RefreshRecord, StateStore, StoredAccessToken, StoredRefreshToken, ThrottleKey, TokenHash,
    TokenId,
};
use crate::protocol::backend::BackendError;
use crate::protocol::credentials::Secret;
use crate::protocol::identity::Identity;

/// Most refresh tokens one subject keeps: a new one beyond this pushes out
/// the oldest (a shared CI account logging in from many machines stays
/// well below it).
const PER_SUBJECT: i64 = 1000;

/// How long a call waits for a connection: a store that is down answers
/// 503 after this, not after the server's whole backend timeout.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The schema, in order. Never edit a shipped one: add the next.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "state", include_str!("../../migrations/0001_state.sql")),
    (
        2,
        "token fingerprint",
        include_str!("../../migrations/0002_token_fingerprint.sql"),
    ),
    (
        3,
        "access tokens",
        include_str!("../../migrations/0003_access_tokens.sql"),
    ),
    (
        4,
        "sign-in",
        include_str!("../../migrations/0004_sign_in.sql"),
    ),
];

/// The migrations above, as sqlx's migrator takes them.
#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(
        self,
    ) -> futures_util::future::BoxFuture<
        's,
        Result<Vec<Migration>, Box<dyn std::error::Error + Send + Sync>>,
    > {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

/// Why a state store could not be opened. Its text names the store by its
/// URL without the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreUrlError {
    /// The URL is not one of the forms [`SqlStore::connect`] takes.
    #[error("state store {url}: {reason}")]
    Invalid {
        /// The URL, without its password.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The database could not be reached, opened or migrated.
    #[error("state store {url}: {source}")]
    Unreachable {
        /// The URL, without its password.
        url: String,
        /// What the database driver said.
        source: BackendError,
    },
}

#[derive(Clone, Debug)]
enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// Runs `$body` with `$pool` bound to the store's pool, whichever database
/// it is: each statement is written once and compiled for both.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite($pool) => $body,
            #[cfg(feature = "postgres")]
            Pool::Postgres($pool) => $body,
        }
    };
}

/// The state on a SQLite file (one host; survives restarts) or a
/// PostgreSQL database (shared by every instance behind a load balancer).
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use registry_auth::state::SqlStore;
///
/// let store = SqlStore::connect("sqlite:///var/lib/registry-auth/state.db", None).await?;
/// # let _ = store;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct SqlStore {
    pool: Pool,
    url: String,
}

impl SqlStore {
    /// Opens (creating when needed) and migrates the store at `url`:
    ///
    /// - `sqlite://PATH` or `sqlite:PATH` (feature `sqlite`): a SQLite
    ///   file, created if missing, in WAL mode. A relative `PATH` is taken
    ///   from the working directory (the server resolves it against its
    ///   configuration's folder first). No `?options`.
    /// - `postgres://…` or `postgresql://…` (feature `postgres`): the usual
    ///   libpq URL; what it leaves out comes from the `PG*` environment
    ///   variables and `~/.pgpass`. `password`, when given, overrides both.
    ///
    /// Fails when the database cannot be reached within a few seconds.
    pub async fn connect(url: &str, password: Option<&Secret>) -> Result<SqlStore, StoreUrlError> {
        let shown = redact(url);
        let invalid = |reason: &str| StoreUrlError::Invalid {
            url: shown.clone(),
            reason: reason.to_owned(),
        };
        let unreachable = |e: BackendError| StoreUrlError::Unreachable {
            url: shown.clone(),
            source: e,
        };
        let pool = if let Some(path) = sqlite_path(url) {
            #[cfg(feature = "sqlite")]
            {
                if password.is_some() {
                    return Err(invalid("a SQLite file takes no password"));
                }
                let path = path.map_err(&invalid)?;
                Pool::Sqlite(open_sqlite(&path).await.map_err(unreachable)?)
            }
            #[cfg(not(feature = "sqlite"))]
            {
                let _ = path;
                return Err(invalid("built without the sqlite feature"));
            }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            #[cfg(feature = "postgres")]
            {
                Pool::Postgres(open_postgres(url, password).await.map_err(|e| match e {
                    Opening::Url(reason) => invalid(&reason),
                    Opening::Failed(e) => unreachable(e),
                })?)
            }
            #[cfg(not(feature = "postgres"))]
            {
                let _ = password;
                return Err(invalid("built without the postgres feature"));
            }
        } else {
            return Err(invalid(
                "expected sqlite://PATH, postgres://… or postgresql://…",
            ));
        };
        let store = SqlStore {
            pool,
            url: shown.clone(),
        };
        store.migrate().await.map_err(unreachable)?;
        Ok(store)
    }

    /// The URL it was opened with, without the password.
    pub fn url(&self) -> &str {
        &self.url
    }

    async fn migrate(&self) -> Result<(), BackendError> {
        let migrator = Migrator::new(Embedded).await.map_err(BackendError::new)?;
        let first = with_pool!(self, pool => migrator.run(pool).await);
        match first {
            Ok(()) => Ok(()),
            // Two processes migrating one SQLite file at once: the loser
            // finds the tables made; running again sees them as applied.
            Err(_) => with_pool!(self, pool => migrator.run(pool).await).map_err(BackendError::new),
        }
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// `Some` when `url` names a SQLite file: its path, or why it cannot be one.
fn sqlite_path(url: &str) -> Option<Result<PathBuf, &'static str>> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(if rest.is_empty() {
        Err("names no file")
    } else if rest.contains('?') {
        Err("takes no ?options (the store sets WAL mode and its own timeouts)")
    } else if rest == ":memory:" {
        Err("use url = \"memory\" for a store that keeps nothing")
    } else {
        Ok(PathBuf::from(rest))
    })
}

#[cfg(feature = "sqlite")]
async fn open_sqlite(path: &std::path::Path) -> Result<sqlx::SqlitePool, BackendError> {
    use sqlx::sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
    };
    // WAL: readers never wait for the writer, and a crash (kill -9) at any
    // moment leaves the last committed transaction in place. NORMAL
    // synchronisation loses nothing to a process crash; a power cut may
    // lose the last few commits (clients then log in again).
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5));
    SqlitePoolOptions::new()
        .max_connections(4)
        // A file has no connection that could go stale, and each check
        // would cost a round trip to sqlx's SQLite thread: measured, 7 %
        // of refresh grants per second (scripts/bench-load).
        .test_before_acquire(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(BackendError::new)
}

#[cfg(feature = "postgres")]
enum Opening {
    Url(String),
    Failed(BackendError),
}

#[cfg(feature = "postgres")]
async fn open_postgres(url: &str, password: Option<&Secret>) -> Result<sqlx::PgPool, Opening> {
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use std::str::FromStr;
    // The driver's own message may quote the URL: say only that it is bad.
    let mut options = PgConnectOptions::from_str(url)
        .map_err(|_| Opening::Url("not a valid PostgreSQL URL".to_owned()))?;
    if let Some(password) = password {
        options = options.password(password.expose());
    }
    // One connection first: its error says why (refused, no such
    // database, wrong password), where the pool's would only say it
    // timed out.
    {
        use sqlx::Connection;
        let first =
            tokio::time::timeout(ACQUIRE_TIMEOUT, sqlx::PgConnection::connect_with(&options))
                .await
                .map_err(|_| Opening::Failed(BackendError::new("timed out connecting")))?
                .map_err(|e| Opening::Failed(BackendError::new(e)))?;
        let _ = first.close().await;
    }
    PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| Opening::Failed(BackendError::new(e)))
}

/// `url` without the password of its user part or of a `password=` query
/// parameter, for messages and logs. The user part ends at the *last* `@`
/// (a password may hold `/`, `?` or `@`), so a password never shows,
/// whatever else the URL holds; at worst more than the password is left
/// out.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let rest = match rest.rsplit_once('@') {
        Some((user_info, host_and_more)) => {
            let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
            format!("{user}@{host_and_more}")
        }
        None => rest.to_owned(),
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b.to_owned(), Some(q)),
        None => (rest.clone(), None),
    };
    let mut out = format!("{scheme}://{before_query}");
    if let Some(query) = query {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.to_ascii_lowercase().starts_with("password="))
            .collect();
        if !kept.is_empty() {
            out.push('?');
            out.push_str(&kept.join("&"));
        }
    }
    out
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A `login_failures` row's count and last failure.
fn failure_count(failures: i64, last_failure: i64) -> FailureCount {
    FailureCount {
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        last_failure: time(last_failure),
    }
}

fn generation(g: i64) -> u64 {
    u64::try_from(g).unwrap_or(0)
}

fn identity_json(identity: &Identity) -> String {
    serde_json::json!({
        "subject": identity.subject(),
        "attributes": identity.attributes(),
    })
    .to_string()
}

fn identity_from_json(text: &str) -> Result<Identity, BackendError> {
    #[derive(serde::Deserialize)]
    struct Stored {
        subject: String,
        #[serde(default)]
        attributes: std::collections::BTreeMap<String, Vec<String>>,
    }
    let stored: Stored = serde_json::from_str(text)
        .map_err(|e| BackendError::new(format!("stored identity unreadable: {e}")))?;
    Ok(stored
        .attributes
        .into_iter()
        .fold(Identity::new(stored.subject), |identity, (key, values)| {
            identity.with_attribute(key, values)
        }))
}

fn client_ids_from_json(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// A `refresh_tokens` row as the statements below select it.
/// (identity, service, generation, client ids, issued, expires, last used,
/// fingerprint): [`TOKEN_COLUMNS`] in order.
type TokenRow = (
    String,
    String,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

const TOKEN_COLUMNS: &str = "t.identity, t.service, t.generation, t.client_ids, t.issued_at, \
     t.expires_at, t.last_used_at, t.fingerprint";

fn record_from(row: TokenRow) -> Result<RefreshRecord, BackendError> {
    let (
        identity,
        service,
        token_generation,
        client_ids,
        issued_at,
        expires_at,
        last_used_at,
        fingerprint,
    ) = row;
    Ok(RefreshRecord {
        identity: identity_from_json(&identity)?,
        service,
        generation: generation(token_generation),
        fingerprint: fingerprint
            .as_deref()
            .and_then(CredentialFingerprint::from_hex),
        client_ids: client_ids_from_json(&client_ids),
        issued_at: time(issued_at),
        expires_at: time(expires_at),
        last_used_at: last_used_at.map(time),
    })
}

/// An `access_tokens` row as the statements below select it: (hash, name,
/// owner, scopes, created, expires, last used): [`ACCESS_COLUMNS`] in order.
type AccessRow = (
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
);

const ACCESS_COLUMNS: &str = "hash, name, owner, scopes, created_at, expires_at, last_used_at";

fn access_record_from(row: AccessRow) -> Result<(TokenId, AccessTokenRecord), BackendError> {
    let (hash, name, owner, scopes, created_at, expires_at, last_used_at) = row;
    let scopes = serde_json::from_str(&scopes)
        .map_err(|e| BackendError::new(format!("stored access token scopes unreadable: {e}")))?;
    let id = TokenId::parse(hash.get(..16).unwrap_or_default())
        .ok_or_else(|| BackendError::new("stored access token hash unreadable"))?;
    let mut record =
        AccessTokenRecord::new(name, owner, scopes, time(created_at), expires_at.map(time));
    record.last_used_at = last_used_at.map(time);
    Ok((id, record))
}

#[async_trait]
impl StateStore for SqlStore {
    async fn insert_access_token(
        &self,
        hash: &TokenHash,
        record: &AccessTokenRecord,
    ) -> Result<bool, BackendError> {
        let scopes = serde_json::to_string(&record.scopes).map_err(BackendError::new)?;
        let done = with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO access_tokens (hash, id, name, owner, scopes, created_at, \
                 expires_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(hash.to_hex())
            .bind(hash.id().as_str())
            .bind(&record.name)
            .bind(&record.owner)
            .bind(scopes)
            .bind(millis(record.created_at))
            .bind(record.expires_at.map(millis))
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(BackendError::new)?;
        Ok(done == 1)
    }

    async fn access_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<AccessTokenRecord>, BackendError> {
        let sql = format!("SELECT {ACCESS_COLUMNS} FROM access_tokens WHERE hash = $1");
        let row: Option<AccessRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(hash.to_hex()).fetch_optional(pool).await
        })
        .map_err(BackendError::new)?;
        row.map(|row| access_record_from(row).map(|(_, record)| record))
            .transpose()
    }

    async fn access_tokens(
        &self,
        owner: Option<&str>,
    ) -> Result<Vec<StoredAccessToken>, BackendError> {
        let sql = format!(
            "SELECT {ACCESS_COLUMNS} FROM access_tokens \
             WHERE $1 IS NULL OR owner = $1 ORDER BY name"
        );
        let rows: Vec<AccessRow> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(owner).fetch_all(pool).await
        })
        .map_err(BackendError::new)?;
        rows.into_iter()
            .map(|row| access_record_from(row).map(|(id, r)| StoredAccessToken::new(id, r)))
            .collect()
    }

    async fn revoke_access_token(&self, name: &str) -> Result<bool, BackendError> {
        let done = with_pool!(self, pool => {
            sqlx::query("DELETE FROM access_tokens WHERE name = $1")
                .bind(name)
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })
        .map_err(BackendError::new)?;
        Ok(done > 0)
    }

    async fn note_access_token_use(
        &self,
        hash: &TokenHash,
        at: SystemTime,
    ) -> Result<(), BackendError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE access_tokens SET last_used_at = $1 WHERE hash = $2")
                .bind(millis(at))
                .bind(hash.to_hex())
                .execute(pool)
                .await
                .map(|_| ())
        })
        .map_err(BackendError::new)
    }

    async fn insert_refresh_token(
        &self,
        hash: &TokenHash,
        record: &RefreshRecord,
    ) -> Result<(), BackendError> {
        let subject = record.identity.subject();
        let client_ids = serde_json::to_string(&record.client_ids).map_err(BackendError::new)?;
        let generation = i64::try_from(record.generation).unwrap_or(i64::MAX);
        with_pool!(self, pool => {
            let mut tx = pool.begin().await.map_err(BackendError::new)?;
            sqlx::query(
                "INSERT INTO refresh_tokens (hash, id, subject, identity, service, generation, \
                 client_ids, issued_at, expires_at, last_used_at, fingerprint) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10)",
            )
            .bind(hash.to_hex())
            .bind(hash.id().as_str())
            .bind(subject)
            .bind(identity_json(&record.identity))
            .bind(&record.service)
            .bind(generation)
            .bind(client_ids)
            .bind(millis(record.issued_at))
            .bind(millis(record.expires_at))
            .bind(record.fingerprint.as_ref().map(CredentialFingerprint::to_hex))
            .execute(&mut *tx)
            .await
            .map_err(BackendError::new)?;
            // Keep the newest PER_SUBJECT: with fewer, the subquery is NULL
            // and nothing goes.
            sqlx::query(
                "DELETE FROM refresh_tokens WHERE subject = $1 AND issued_at < \
                 (SELECT issued_at FROM refresh_tokens WHERE subject = $1 \
                  ORDER BY issued_at DESC LIMIT 1 OFFSET $2)",
            )
            .bind(subject)
            .bind(PER_SUBJECT - 1)
            .execute(&mut *tx)
            .await
            .map_err(BackendError::new)?;
            tx.commit().await.map_err(BackendError::new)
        })
    }

    async fn refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshRecord, u64)>, BackendError> {
        let sql = format!(
            "SELECT COALESCE(g.generation, 0), {TOKEN_COLUMNS} FROM refresh_tokens t \
             LEFT JOIN credential_generations g ON g.subject = t.subject WHERE t.hash = $1"
        );
        type Row = (
            i64,
            String,
            String,
            i64,
            String,
            i64,
            i64,
            Option<i64>,
            Option<String>,
        );
        let row: Option<Row> = with_pool!(self, pool => {
            sqlx::query_as(&sql).bind(hash.to_hex()).fetch_optional(pool).await
        })
        .map_err(BackendError::new)?;
        let Some((current, a, b, c, d, e, f, g, h)) = row else {
            return Ok(None);
        };
        Ok(Some((
            record_from((a, b, c, d, e, f, g, h))?,
            generation(current),
        )))
    }

    async fn note_refresh_token_use(
        &self,
        hash: &TokenHash,
        at: SystemTime,
        client_ids: &[String],
    ) -> Result<(), BackendError> {
        let ids = &client_ids[..client_ids.len().min(MAX_CLIENT_IDS)];
        let ids = serde_json::to_string(ids).map_err(BackendError::new)?;
        with_pool!(self, pool => {
            sqlx::query(
                "UPDATE refresh_tokens SET last_used_at = $2, client_ids = $3 WHERE hash = $1",
            )
            .bind(hash.to_hex())
            .bind(millis(at))
            .bind(ids)
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(BackendError::new)
    }

    async fn refresh_tokens(
        &self,
        subject: Option<&str>,
    ) -> Result<Vec<StoredRefreshToken>, BackendError> {
        let filter = if subject.is_some() {
            "WHERE t.subject = $1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT t.id, {TOKEN_COLUMNS} FROM refresh_tokens t {filter} \
             ORDER BY t.issued_at, t.id"
        );
        type Row = (
            String,
            String,
            String,
            i64,
            String,
            i64,
            i64,
            Option<i64>,
            Option<String>,
        );
        let rows: Vec<Row> = with_pool!(self, pool => {
            let query = sqlx::query_as(&sql);
            let query = match subject {
                Some(subject) => query.bind(subject),
                None => query,
            };
            query.fetch_all(pool).await
        })
        .map_err(BackendError::new)?;
        rows.into_iter()
            .map(|(id, a, b, c, d, e, f, g, h)| {
                Ok(StoredRefreshToken {
                    id: TokenId(id),
                    record: record_from((a, b, c, d, e, f, g, h))?,
                })
            })
            .collect()
    }

    async fn revoke_refresh_token(&self, id: &TokenId) -> Result<bool, BackendError> {
        let done = with_pool!(self, pool => {
            sqlx::query("DELETE FROM refresh_tokens WHERE id = $1")
                .bind(id.as_str())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(BackendError::new)?;
        Ok(done > 0)
    }

    async fn revoke_refresh_tokens_of(&self, subject: &str) -> Result<u64, BackendError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM refresh_tokens WHERE subject = $1")
                .bind(subject)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
        .map_err(BackendError::new)
    }

    async fn credential_generation(&self, subject: &str) -> Result<u64, BackendError> {
        let row: Option<(i64,)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT generation FROM credential_generations WHERE subject = $1")
                .bind(subject)
                .fetch_optional(pool)
                .await
        })
        .map_err(BackendError::new)?;
        Ok(row.map_or(0, |(g,)| generation(g)))
    }

    async fn observe_credentials(
        &self,
        subject: &str,
        fingerprint: Option<&CredentialFingerprint>,
    ) -> Result<u64, BackendError> {
        // One statement: concurrent observers (instances reloading at
        // once) bump a change once each, never lose one.
        let (current,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO credential_generations (subject, fingerprint, generation) \
                 VALUES ($1, $2, 0) \
                 ON CONFLICT (subject) DO UPDATE SET \
                 generation = credential_generations.generation + CASE WHEN \
                 credential_generations.fingerprint IS DISTINCT FROM excluded.fingerprint \
                 THEN 1 ELSE 0 END, \
                 fingerprint = excluded.fingerprint \
                 RETURNING generation",
            )
            .bind(subject)
            .bind(fingerprint.map(CredentialFingerprint::to_hex))
            .fetch_one(pool)
            .await
        })
        .map_err(BackendError::new)?;
        Ok(generation(current))
    }

    async fn advance_generation(&self, subject: &str) -> Result<u64, BackendError> {
        let (current,): (i64,) = with_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO credential_generations (subject, fingerprint, generation) \
                 VALUES ($1, NULL, 1) \
                 ON CONFLICT (subject) DO UPDATE SET \
                 generation = credential_generations.generation + 1 \
                 RETURNING generation",
            )
            .bind(subject)
            .fetch_one(pool)
            .await
        })
        .map_err(BackendError::new)?;
        Ok(generation(current))
    }

    async fn credential_fingerprints(
        &self,
    ) -> Result<Vec<(String, Option<CredentialFingerprint>)>, BackendError> {
        let rows: Vec<(String, Option<String>)> = with_pool!(self, pool => {
            sqlx::query_as(
                "SELECT subject, fingerprint FROM credential_generations ORDER BY subject",
            )
            .fetch_all(pool)
            .await
        })
        .map_err(BackendError::new)?;
        Ok(rows
            .into_iter()
            .map(|(subject, fingerprint)| {
                let fingerprint = fingerprint
                    .as_deref()
                    .and_then(CredentialFingerprint::from_hex);
                (subject, fingerprint)
            })
            .collect())
    }

    async fn failures(
        &self,
        keys: &[ThrottleKey],
    ) -> Result<Vec<(ThrottleKey, FailureCount)>, BackendError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=keys.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT key, failures, last_failure FROM login_failures WHERE key IN ({})",
            placeholders.join(", ")
        );
        let rows: Vec<(String, i64, i64)> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(&sql);
            for key in keys {
                query = query.bind(key.as_str());
            }
            query.fetch_all(pool).await
        })
        .map_err(BackendError::new)?;
        Ok(rows
            .into_iter()
            .map(|(key, failures, last)| (ThrottleKey(key), failure_count(failures, last)))
            .collect())
    }

    async fn add_failure(
        &self,
        key: &ThrottleKey,
        now: SystemTime,
        forget_after: Duration,
    ) -> Result<FailureCount, BackendError> {
        let forget_before = now.checked_sub(forget_after).unwrap_or(UNIX_EPOCH);
        let (failures, last): (i64, i64) = with_pool!(self, pool => {
            sqlx::query_as(
                "INSERT INTO login_failures (key, failures, last_failure) VALUES ($1, 1, $2) \
                 ON CONFLICT (key) DO UPDATE SET \
                 failures = CASE WHEN login_failures.last_failure < $3 THEN 1 \
                 ELSE login_failures.failures + 1 END, \
                 last_failure = excluded.last_failure \
                 RETURNING failures, last_failure",
            )
            .bind(key.as_str())
            .bind(millis(now))
            .bind(millis(forget_before))
            .fetch_one(pool)
            .await
        })
        .map_err(BackendError::new)?;
        Ok(failure_count(failures, last))
    }

    async fn clear_failures(&self, key: &ThrottleKey) -> Result<(), BackendError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM login_failures WHERE key = $1")
                .bind(key.as_str())
                .execute(pool)
                .await
                .map(|_| ())
        })
        .map_err(BackendError::new)
    }

    async fn purge(
        &self,
        now: SystemTime,
        failures_before: SystemTime,
    ) -> Result<u64, BackendError> {
        with_pool!(self, pool => {
            let tokens = sqlx::query("DELETE FROM refresh_tokens WHERE expires_at <= $1")
                .bind(millis(now))
                .execute(pool)
                .await
                .map_err(BackendError::new)?;
            let access = sqlx::query("DELETE FROM access_tokens WHERE expires_at <= $1")
                .bind(millis(now))
                .execute(pool)
                .await
                .map_err(BackendError::new)?;
            let failures = sqlx::query("DELETE FROM login_failures WHERE last_failure < $1")
                .bind(millis(failures_before))
                .execute(pool)
                .await
                .map_err(BackendError::new)?;
            Ok(tokens.rows_affected() + access.rows_affected() + failures.rows_affected())
        })
    }

    async fn record_person(&self, person: &PersonRecord) -> Result<(), BackendError> {
        let labels = serde_json::to_string(&person.labels).map_err(BackendError::new)?;
        with_pool!(self, pool => {
            sqlx::query(
                "INSERT INTO people (subject, labels, signed_in_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (subject) DO UPDATE SET labels = excluded.labels, \
                 signed_in_at = excluded.signed_in_at",
            )
            .bind(&person.subject)
            .bind(&labels)
            .bind(millis(person.signed_in_at))
            .execute(pool)
            .await
            .map(|_| ())
        })
        .map_err(BackendError::new)
    }

    async fn person(&self, subject: &str) -> Result<Option<PersonRecord>, BackendError> {
        let row: Option<(String, String, i64)> = with_pool!(self, pool => {
            sqlx::query_as("SELECT subject, labels, signed_in_at FROM people WHERE subject = $1")
                .bind(subject)
                .fetch_optional(pool)
                .await
        })
        .map_err(BackendError::new)?;
        row.map(|(subject, labels, signed_in_at)| {
            let labels = serde_json::from_str(&labels)
                .map_err(|e| BackendError::new(format!("stored labels unreadable: {e}")))?;
            Ok(PersonRecord {
                subject,
                labels,
                signed_in_at: time(signed_in_at),
            })
        })
        .transpose()
    }

    async fn shared_secret(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, BackendError> {
        let value: String = with_pool!(self, pool => {
            // Kept by whichever instance comes first; everyone reads that.
            let inserted = sqlx::query(
                "INSERT INTO shared_secrets (name, value, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(data_encoding::HEXLOWER.encode(candidate))
            .bind(millis(SystemTime::now()))
            .execute(pool)
            .await;
            match inserted {
                Ok(_) => {
                    sqlx::query_scalar("SELECT value FROM shared_secrets WHERE name = $1")
                        .bind(name)
                        .fetch_one(pool)
                        .await
                }
                Err(e) => Err(e),
            }
        })
        .map_err(BackendError::new)?;
        data_encoding::HEXLOWER
            .decode(value.as_bytes())
            .map_err(|e| BackendError::new(format!("stored secret {name:?} unreadable: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact("postgres://ra:s3cret@db.example.com:5432/ra?sslmode=require&password=x"),
            "postgres://ra@db.example.com:5432/ra?sslmode=require"
        );
        assert_eq!(redact("postgres://db/ra"), "postgres://db/ra");
        assert_eq!(redact("sqlite://state.db"), "sqlite://state.db");
        assert_eq!(redact("postgres://u:p@h"), "postgres://u@h");
        // Passwords with the URL's own delimiters in them.
        for url in [
            "postgres://ra:pa?ss@db/ra",
            "postgres://ra:pa/ss@db/ra",
            "postgres://ra:p@ss@db/ra",
            "postgres://ra:pa#ss@db/ra",
        ] {
            assert_eq!(redact(url), "postgres://ra@db/ra", "{url}");
        }
    }

    #[test]
    fn sqlite_urls() {
        assert_eq!(
            sqlite_path("sqlite://state.db"),
            Some(Ok(PathBuf::from("state.db")))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/lib/x.db"),
            Some(Ok(PathBuf::from("/var/lib/x.db")))
        );
        assert!(matches!(sqlite_path("sqlite://a.db?mode=ro"), Some(Err(_))));
        assert!(matches!(sqlite_path("sqlite://"), Some(Err(_))));
        assert_eq!(sqlite_path("postgres://x"), None);
    }

    #[test]
    fn identities_round_trip() {
        let identity = Identity::new("alice").with_attribute("groups", ["a", "b"]);
        assert_eq!(
            identity_from_json(&identity_json(&identity)).ok(),
            Some(identity)
        );
    }
}
