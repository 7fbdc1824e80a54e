//! Connections to the directory: TLS, the pools, and one operation at a
//! time with its timeout.
//!
//! An `ldap3` connection multiplexes operations, but a bind changes who
//! the whole connection is. So there are two pools of one [`Connector`]:
//! one whose connections bind once as the service account and then only
//! search, and one whose connections only check passwords (each bind
//! replaces the one before; a search there happens only right after the
//! user's own bind, before the connection goes back).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use deadpool::Runtime;
use deadpool::managed::{self, Metrics, Object, Pool, PoolError, RecycleError, TimeoutType};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use super::error::LdapError;
use crate::protocol::authn::AuthnError;

/// LDAP result code 49: wrong DN or password.
const INVALID_CREDENTIALS: u32 = 49;
/// LDAP result codes 51 (busy) and 52 (unavailable): the server cannot
/// answer now, which says nothing about the password.
const SERVER_BUSY: [u32; 2] = [51, 52];
/// LDAP result code 4: more entries than the size limit; those up to it
/// came.
const SIZE_LIMIT_EXCEEDED: u32 = 4;
/// LDAP result code 10: a referral, for data that is elsewhere.
const REFERRAL: u32 = 10;

/// The TLS client configuration on aws-lc-rs (the crate's one crypto
/// backend), trusting the CAs of `ca_certificate`, or the system's.
pub(super) fn tls_config(
    ca_certificate: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, LdapError> {
    const SETTING: &str = "ca_certificate";
    let mut roots = rustls::RootCertStore::empty();
    match ca_certificate {
        Some(path) => {
            let certificates = read_certificates(path)?;
            if certificates.is_empty() {
                return Err(LdapError::file(SETTING, path, "holds no PEM CERTIFICATE"));
            }
            for certificate in certificates {
                roots
                    .add(certificate)
                    .map_err(|e| LdapError::file(SETTING, path, e))?;
            }
        }
        None => {
            // The platform's trust store (SSL_CERT_FILE / SSL_CERT_DIR
            // first). A certificate in it that webpki cannot use is
            // skipped; the others still count.
            let system = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(system.certs);
            if added == 0 {
                let why = system
                    .errors
                    .first()
                    .map_or_else(|| "it is empty".to_owned(), ToString::to_string);
                return Err(LdapError::invalid(
                    SETTING,
                    format!(
                        "not set, and the system's trust store gave no CA ({why}): name the \
                         CA file to trust"
                    ),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| LdapError::invalid(SETTING, format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, LdapError> {
    CertificateDer::pem_file_iter(path)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .map_err(|e| LdapError::file("ca_certificate", path, e))
}

/// The service account a [`Connector`] binds as.
#[derive(Clone)]
pub(super) struct ServiceAccount {
    pub(super) dn: String,
    pub(super) password: String,
}

/// Opens connections for a pool: the URL, TLS, the timeouts, and, for the
/// search pool, the service account to bind as.
#[derive(Clone)]
pub(super) struct Connector {
    url: Arc<str>,
    settings: LdapConnSettings,
    timeout: Duration,
    service: Option<ServiceAccount>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("service", &self.service.as_ref().map(|s| &s.dn))
            .finish()
    }
}

impl Connector {
    pub(super) fn new(
        url: &str,
        start_tls: bool,
        tls: Option<Arc<rustls::ClientConfig>>,
        timeout: Duration,
    ) -> Self {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(timeout)
            .set_starttls(start_tls);
        if let Some(tls) = tls {
            settings = settings.set_config(tls);
        }
        Connector {
            url: url.into(),
            settings,
            timeout,
            service: None,
        }
    }

    /// The same, binding as `service` on connect.
    pub(super) fn binding_as(&self, service: ServiceAccount) -> Self {
        Connector {
            service: Some(service),
            ..self.clone()
        }
    }

    /// A pool of at most `size` connections, none opened yet.
    pub(super) fn pool(self, size: usize) -> Result<LdapPool, LdapError> {
        let timeout = Some(self.timeout);
        Pool::builder(self)
            .max_size(size)
            .runtime(Runtime::Tokio1)
            .timeouts(managed::Timeouts {
                wait: timeout,
                create: timeout,
                recycle: timeout,
            })
            .build()
            .map_err(|e| LdapError::invalid("timeout", e.to_string()))
    }
}

impl managed::Manager for Connector {
    type Type = Ldap;
    /// What went wrong, for the log: names the URL and the DN, never the
    /// password.
    type Error = String;

    async fn create(&self) -> Result<Ldap, String> {
        let (connection, mut ldap) = LdapConnAsync::with_settings(self.settings.clone(), &self.url)
            .await
            .map_err(|e| format!("connecting to {}: {e}", self.url))?;
        ldap3::drive!(connection);
        if let Some(service) = &self.service {
            let result = ldap
                .with_timeout(self.timeout)
                .simple_bind(&service.dn, &service.password)
                .await
                .map_err(|e| format!("{}: binding as {}: {e}", self.url, service.dn))?;
            if result.rc != 0 {
                // Never read as a wrong user password: every login
                // would fail for a configuration mistake.
                return Err(format!(
                    "{}: the service account {} cannot bind ({result}); check bind_dn and its \
                     password",
                    self.url, service.dn
                ));
            }
        }
        Ok(ldap)
    }

    async fn recycle(&self, ldap: &mut Ldap, _: &Metrics) -> managed::RecycleResult<String> {
        if ldap.is_closed() {
            return Err(RecycleError::message("the connection was closed"));
        }
        Ok(())
    }
}

/// A pool of connections made by a [`Connector`].
pub(super) type LdapPool = Pool<Connector>;

/// A connection taken from a pool: one that fails an operation is closed
/// rather than given back, so the next use connects afresh.
pub(super) struct Connection {
    object: Option<Object<Connector>>,
    url: Arc<str>,
    timeout: Duration,
}

/// What a search found.
pub(super) struct Found {
    pub(super) entries: Vec<SearchEntry>,
    /// The server stopped at a size limit: there are more.
    pub(super) truncated: bool,
}

impl Connection {
    /// A connection from `pool`, opening one if none is free.
    pub(super) async fn take(pool: &LdapPool) -> Result<Connection, AuthnError> {
        let connector = pool.manager();
        let (url, timeout) = (Arc::clone(&connector.url), connector.timeout);
        let object = pool.get().await.map_err(|e| {
            let why = match e {
                PoolError::Backend(why) => why,
                PoolError::Timeout(TimeoutType::Wait) => {
                    format!("{url}: no free connection within {timeout:?}")
                }
                PoolError::Timeout(_) => {
                    format!("connecting to {url}: timed out after {timeout:?}")
                }
                other => format!("{url}: {other}"),
            };
            AuthnError::unavailable(why)
        })?;
        Ok(Connection {
            object: Some(object),
            url,
            timeout,
        })
    }

    fn ldap(&mut self) -> Result<&mut Ldap, AuthnError> {
        let url = &self.url;
        match &mut self.object {
            Some(object) => Ok(&mut **object),
            None => Err(AuthnError::unavailable(format!(
                "{url}: the connection failed"
            ))),
        }
    }

    /// Closes the connection instead of giving it back.
    fn discard(&mut self) {
        if let Some(object) = self.object.take() {
            drop(Object::take(object));
        }
    }

    /// Binds as `dn` with `password`: `Ok` when the server takes them,
    /// [`AuthnError::InvalidCredentials`] when it refuses them, and
    /// [`AuthnError::Unavailable`] when it cannot say.
    pub(super) async fn bind(&mut self, dn: &str, password: &str) -> Result<(), AuthnError> {
        let timeout = self.timeout;
        let result = self
            .ldap()?
            .with_timeout(timeout)
            .simple_bind(dn, password)
            .await;
        match result {
            Ok(result) if result.rc == 0 => Ok(()),
            Ok(result) if result.rc == INVALID_CREDENTIALS => {
                tracing::debug!(dn, "LDAP: wrong password");
                Err(AuthnError::InvalidCredentials)
            }
            Ok(result) if SERVER_BUSY.contains(&result.rc) => {
                self.discard();
                Err(AuthnError::unavailable(format!(
                    "{}: binding as {dn}: {result}",
                    self.url
                )))
            }
            Ok(result) => {
                // Locked or expired accounts, password policy: a refusal,
                // but one an operator wants to see.
                tracing::warn!(dn, code = result.rc, text = %result.text, "LDAP refused a bind");
                Err(AuthnError::InvalidCredentials)
            }
            Err(e) => {
                self.discard();
                Err(AuthnError::unavailable(format!(
                    "{}: binding as {dn}: {e}",
                    self.url
                )))
            }
        }
    }

    /// Searches `base` with `filter`, asking for `attributes` only (none
    /// at all when the list is empty), for at most `size_limit` entries (0:
    /// as many as the server gives).
    pub(super) async fn search(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: &[&str],
        size_limit: i32,
    ) -> Result<Found, AuthnError> {
        // An empty list asks for every attribute; "1.1" asks for none.
        let attributes: Vec<&str> = match attributes {
            [] => vec!["1.1"],
            some => some.to_vec(),
        };
        let timeout = self.timeout;
        let result = self
            .ldap()?
            .with_timeout(timeout)
            .with_search_options(SearchOptions::new().sizelimit(size_limit))
            .search(base, scope, filter, attributes)
            .await;
        let failed = |why: &dyn fmt::Display| {
            AuthnError::unavailable(format!(
                "{}: searching {base} for {filter}: {why}",
                self.url
            ))
        };
        match result {
            Ok(ldap3::SearchResult(entries, result)) => match result.rc {
                0 | REFERRAL | SIZE_LIMIT_EXCEEDED => Ok(Found {
                    // ldap3's `search` keeps continuation references out of
                    // the entries (they go to `refs`, not followed), so each
                    // is an entry; its parser panics on an entry it cannot
                    // read, which only a broken or hostile directory sends:
                    // that is the directory failing, not the server.
                    entries: entries
                        .into_iter()
                        .map(|entry| {
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                SearchEntry::construct(entry)
                            }))
                            .map_err(|_| failed(&"an entry the directory sent cannot be read"))
                        })
                        .collect::<Result<_, _>>()?,
                    truncated: result.rc == SIZE_LIMIT_EXCEEDED,
                }),
                _ => Err(failed(&result)),
            },
            Err(e) => {
                let error = failed(&e);
                self.discard();
                Err(error)
            }
        }
    }
}
