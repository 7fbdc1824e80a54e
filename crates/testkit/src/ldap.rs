//! A throwaway OpenLDAP directory (Debian's `slapd` 2.5), for tests of the
//! LDAP identity provider: binds, searches, group membership, TLS.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::process::{
    daemon_command, os_user, output, random_password, short_tempdir, stop_child,
    stop_child_blocking,
};
use crate::registry::free_port;
use crate::tls::{localhost_certificate, new_ca};

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";

/// The directory's superuser; its password is random (not exposed).
const ROOT_DN: &str = "cn=admin,dc=example,dc=com";

/// The directory's entries: see [`Slapd`]. The people's `memberOf` values
/// are written here because `slapadd` does not run the memberof overlay;
/// later changes to the groups keep them up to date.
const DATA: &str = "\
dn: dc=example,dc=com
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=com
objectClass: organizationalUnit
ou: groups

dn: ou=services,dc=example,dc=com
objectClass: organizationalUnit
ou: services

dn: cn=registry,ou=services,dc=example,dc=com
objectClass: person
cn: registry
sn: registry
userPassword: service-secret

dn: uid=alice,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Alice
userPassword: alice-pw
departmentNumber: platform-team
mail: alice@example.com
memberOf: cn=platform,ou=groups,dc=example,dc=com

dn: uid=bob,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: bob
cn: Bob
sn: Bob
userPassword: bob-pw
departmentNumber: web-team
memberOf: cn=developers,ou=groups,dc=example,dc=com
memberOf: cn=platform,ou=groups,dc=example,dc=com

dn: uid=carol,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: carol
cn: Carol
sn: Carol
userPassword: carol-pw

dn: uid=we*ird),ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: we*ird)
cn: Weird
sn: Weird
userPassword: weird-pw
memberOf: cn=developers,ou=groups,dc=example,dc=com

dn: cn=platform,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: platform
member: uid=alice,ou=people,dc=example,dc=com
member: uid=bob,ou=people,dc=example,dc=com

dn: cn=developers,ou=groups,dc=example,dc=com
objectClass: groupOfNames
cn: developers
member: uid=bob,ou=people,dc=example,dc=com
member: uid=we*ird),ou=people,dc=example,dc=com

dn: ou=partners,ou=people,dc=example,dc=com
objectClass: referral
objectClass: extensibleObject
ou: partners
ref: ldap://partners.example.com/ou=partners,dc=example,dc=com
";

/// An OpenLDAP directory in a temp dir, served by a `slapd` run as the
/// `openldap` OS user, listening on 127.0.0.1 only, on two free ports: a
/// plain `ldap://` listener (StartTLS available) and an `ldaps://` one.
/// Its certificate (for `127.0.0.1` and `localhost`) is signed by a
/// throwaway CA, [`ca_certificate`](Self::ca_certificate).
///
/// It holds, under [`BASE_DN`](Self::BASE_DN):
/// - the service account [`SERVICE_DN`](Self::SERVICE_DN), password
///   [`SERVICE_PASSWORD`](Self::SERVICE_PASSWORD);
/// - people (`inetOrgPerson`, `uid=NAME,ou=people,dc=example,dc=com`):
///   `alice` (password `alice-pw`, departmentNumber `platform-team`, mail
///   `alice@example.com`, in `platform`), `bob` (`bob-pw`, `web-team`, in
///   `developers` and `platform`), `carol` (`carol-pw`, in no group) and
///   `we*ird)` (`weird-pw`, in `developers`);
/// - groups (`groupOfNames`, `cn=NAME,ou=groups,dc=example,dc=com`, with
///   `member` DNs), and each person's `memberOf` (memberof overlay);
/// - a referral, `ou=partners,ou=people,dc=example,dc=com`, to another
///   server: a search of the people gets a continuation reference beside
///   the entries, as Active Directory's searches from a domain root do.
///
/// The service account and each bound user read everything but
/// passwords, which serve only to bind; anonymous clients read nothing.
/// slapd is stopped on drop.
#[derive(Debug)]
pub struct Slapd {
    port: u16,
    tls_port: u16,
    uid: u32,
    gid: u32,
    child: Option<Child>,
    log: PathBuf,
    ca: PathBuf,
    other_ca: PathBuf,
    dir: tempfile::TempDir,
}

impl Slapd {
    /// The suffix of the directory.
    pub const BASE_DN: &'static str = "dc=example,dc=com";
    /// Where the people are: `uid=NAME,ou=people,dc=example,dc=com`.
    pub const PEOPLE_DN: &'static str = "ou=people,dc=example,dc=com";
    /// Where the groups are: `cn=NAME,ou=groups,dc=example,dc=com`.
    pub const GROUPS_DN: &'static str = "ou=groups,dc=example,dc=com";
    /// The service account, which may read every entry.
    pub const SERVICE_DN: &'static str = "cn=registry,ou=services,dc=example,dc=com";
    /// The service account's password.
    pub const SERVICE_PASSWORD: &'static str = "service-secret";

    /// Starts slapd with the data above loaded, a plain listener (StartTLS
    /// available on it) and an ldaps listener; waits until it answers;
    /// panics with slapd's log on failure.
    pub async fn start() -> Slapd {
        let (uid, gid) = os_user("openldap", "slapd");
        let dir = short_tempdir("ldap");
        let mut slapd = Slapd {
            port: free_port(),
            tls_port: free_port(),
            uid,
            gid,
            child: None,
            log: dir.path().join("slapd.log"),
            ca: dir.path().join("ca.pem"),
            other_ca: dir.path().join("other-ca.pem"),
            dir,
        };
        slapd.write_files();
        let (ok, out) = output(
            slapd
                .as_openldap(SLAPADD)
                .arg("-q")
                .arg("-f")
                .arg(slapd.conf())
                .arg("-l")
                .arg(slapd.dir.path().join("data.ldif"))
                .stdin(Stdio::null()),
            "slapadd",
        )
        .await;
        assert!(ok, "slapadd failed:\n{out}");
        slapd.start_slapd().await;
        slapd
    }

    /// `ldap://127.0.0.1:PORT`: plain, StartTLS available.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://127.0.0.1:PORT`: TLS from the start, with a certificate for
    /// `127.0.0.1` and `localhost` signed by
    /// [`ca_certificate`](Self::ca_certificate).
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.tls_port)
    }

    /// The PEM file of the CA that signed slapd's certificate.
    pub fn ca_certificate(&self) -> &Path {
        &self.ca
    }

    /// The PEM file of an unrelated CA: a client trusting only it must
    /// refuse slapd's certificate.
    pub fn other_ca_certificate(&self) -> &Path {
        &self.other_ca
    }

    /// The temp dir (removed on drop); tests may write files there.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What slapd logged so far (all its runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops slapd (data kept); does nothing if it is not running.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, "TERM", Duration::from_secs(10)).await;
        }
    }

    /// Stops slapd if it runs, starts it again on the same ports with the
    /// same data and waits until it answers; panics with its log otherwise.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start_slapd().await;
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slapd.conf")
    }

    /// Writes the certificates, `slapd.conf` and the data, and makes the
    /// database directory; `openldap` owns the temp dir, the database and
    /// the private key, and reads the rest.
    fn write_files(&self) {
        let dir = self.dir.path();
        let (ca, ca_pem) = new_ca("registry-auth testkit LDAP CA");
        let (_, other_ca_pem) = new_ca("registry-auth testkit unrelated CA");
        let (certificate, key) = localhost_certificate(&ca);
        let files = [
            ("ca.pem", ca_pem),
            ("other-ca.pem", other_ca_pem),
            ("slapd.crt", certificate),
            ("slapd.key", key),
            ("slapd.conf", self.slapd_conf()),
            ("data.ldif", DATA.to_owned()),
        ];
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).expect("write slapd file");
        }
        std::fs::create_dir(dir.join("db")).expect("create db dir");
        for path in [dir.to_path_buf(), dir.join("db"), dir.join("slapd.key")] {
            std::os::unix::fs::chown(&path, Some(self.uid), Some(self.gid))
                .expect("chown to openldap");
        }
    }

    fn slapd_conf(&self) -> String {
        let dir = self.dir.path().display();
        let root_password = random_password();
        let service = Self::SERVICE_DN;
        let base = Self::BASE_DN;
        format!(
            r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema

modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof

pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args

TLSCACertificateFile {dir}/ca.pem
TLSCertificateFile {dir}/slapd.crt
TLSCertificateKeyFile {dir}/slapd.key

database mdb
suffix "{base}"
rootdn "{ROOT_DN}"
rootpw {root_password}
directory {dir}/db
maxsize 104857600
dbnosync
index objectClass,uid,cn,member eq

overlay memberof

access to attrs=userPassword
    by self =xw
    by anonymous auth
    by * none
access to *
    by dn.exact="{service}" read
    by self read
    by users read
    by * none
"#
        )
    }

    /// A command run as the `openldap` OS user, in the temp dir.
    fn as_openldap(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        self.drop_privileges(&mut command);
        command
    }

    /// The daemon runs as `openldap` from the start rather than through
    /// `slapd -u/-g`: a change of uid would clear the parent-death signal
    /// that `daemon_command` sets.
    fn drop_privileges(&self, command: &mut Command) {
        command
            .uid(self.uid)
            .gid(self.gid)
            .current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .kill_on_drop(true);
    }

    async fn start_slapd(&mut self) {
        if self.child.is_some() {
            return;
        }
        let mut command = daemon_command(SLAPD, "TERM", &self.log);
        self.drop_privileges(&mut command);
        command
            .arg("-f")
            .arg(self.conf())
            .arg("-h")
            .arg(format!("{}/ {}/", self.url(), self.ldaps_url()))
            // In the foreground, logging connections and operations to
            // stderr, which is the log.
            .args(["-d", "stats"]);
        self.child = Some(command.spawn().expect("start slapd"));
        self.wait_ready().await;
    }

    async fn wait_ready(&mut self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                panic!("slapd exited ({status}); log:\n{}", self.log());
            }
            let ready = Command::new("ldapwhoami")
                .args(["-x", "-H", &self.url(), "-D", Self::SERVICE_DN, "-w"])
                .arg(Self::SERVICE_PASSWORD)
                // No ldap.conf, no ~/.ldaprc, no LDAP* variables.
                .env("LDAPNOINIT", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("slapd did not start; log:\n{}", self.log());
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child_blocking(&mut child, "TERM", Duration::from_secs(10));
        }
    }
}
