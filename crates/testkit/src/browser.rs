//! A real headless browser: Debian's Chromium (`/usr/bin/chromium`) driven
//! by npm's `playwright-core` (`crates/testkit/browser/browse.mjs`), for
//! tests that sign a person in through a login form and read what pages
//! show.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::process::{clean_up_after, daemon_command, pids_mentioning, short_tempdir};

/// Where `browse.mjs`, `package.json` and (after `npm ci`) `node_modules`
/// are.
const BROWSER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/browser");

/// The only browser used: Debian's, never one that Playwright downloads.
const CHROMIUM: &str = "/usr/bin/chromium";

/// What to do when something is missing.
const INSTALL: &str = "run scripts/test (installs chromium and libnss3-tools, and runs `npm ci` in crates/testkit/browser)";

/// Bound on a whole run, Chromium's start included (enforced by node).
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Default bound on each step (Playwright's default timeout).
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long past [`RUN_TIMEOUT`] node gets to close Chromium and report
/// before it is killed.
const GRACE: Duration = Duration::from_secs(30);

/// One step of a [`Browser::run`], done in order in one browser session
/// (one page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserStep {
    /// Loads the URL and waits for its load event; fails when the page
    /// cannot be reached (a certificate the browser does not trust, a port
    /// nobody listens on).
    Goto(String),
    /// Types `value` into the input that `selector` (CSS, or any
    /// Playwright selector) finds.
    Fill {
        /// Which input, e.g. `#login`.
        selector: String,
        /// What to type.
        value: String,
    },
    /// Clicks the element, and waits for the navigation the click starts,
    /// if any, to load (or to fail: a refused connection shows Chromium's
    /// error page, which is no failure of the step).
    Click(String),
    /// Waits until the page, or a main-frame navigation request made since
    /// the last `WaitForUrl` (a redirect counts), has a URL that starts
    /// with `prefix`; that URL becomes [`PageReport::captured_url`], even
    /// when nothing answers there. For the redirect of an OAuth
    /// authorization back to a redirect URI.
    WaitForUrl {
        /// The start of the URL, e.g. the redirect URI.
        prefix: String,
        /// How long to wait.
        timeout: Duration,
    },
    /// Records the element's `innerText` in [`PageReport::texts`] under the
    /// selector (a later one replaces it); waits for the element.
    Text(String),
    /// Saves a full-page PNG at the path (its directory is made).
    Screenshot(PathBuf),
    /// Fails unless the last main-frame document response had this HTTP
    /// status (a redirect that nobody answers leaves the 3xx as the last).
    ExpectStatus(u16),
}

impl BrowserStep {
    /// Shorthand for [`BrowserStep::Goto`].
    pub fn goto(url: impl Into<String>) -> Self {
        BrowserStep::Goto(url.into())
    }

    /// Shorthand for [`BrowserStep::Fill`].
    pub fn fill(selector: impl Into<String>, value: impl Into<String>) -> Self {
        BrowserStep::Fill {
            selector: selector.into(),
            value: value.into(),
        }
    }

    /// Shorthand for [`BrowserStep::Click`].
    pub fn click(selector: impl Into<String>) -> Self {
        BrowserStep::Click(selector.into())
    }

    /// Shorthand for [`BrowserStep::WaitForUrl`].
    pub fn wait_for_url(prefix: impl Into<String>, timeout: Duration) -> Self {
        BrowserStep::WaitForUrl {
            prefix: prefix.into(),
            timeout,
        }
    }

    /// Shorthand for [`BrowserStep::Text`].
    pub fn text(selector: impl Into<String>) -> Self {
        BrowserStep::Text(selector.into())
    }

    /// Shorthand for [`BrowserStep::Screenshot`].
    pub fn screenshot(path: impl Into<PathBuf>) -> Self {
        BrowserStep::Screenshot(path.into())
    }

    /// What `browse.mjs` reads.
    fn to_json(&self) -> serde_json::Value {
        match self {
            BrowserStep::Goto(url) => serde_json::json!({ "goto": url }),
            BrowserStep::Fill { selector, value } => {
                serde_json::json!({ "fill": selector, "value": value })
            }
            BrowserStep::Click(selector) => serde_json::json!({ "click": selector }),
            BrowserStep::WaitForUrl { prefix, timeout } => serde_json::json!({
                "wait_for_url": prefix,
                "timeout_ms": u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            }),
            BrowserStep::Text(selector) => serde_json::json!({ "text": selector }),
            BrowserStep::Screenshot(path) => serde_json::json!({ "screenshot": path }),
            BrowserStep::ExpectStatus(status) => serde_json::json!({ "expect_status": status }),
        }
    }
}

/// What a [`Browser::run`] saw. A failed step ends the run: `ok` is false,
/// `error` and `step` say what failed, and `screenshot` shows the page
/// then.
#[derive(Debug, Clone, Default)]
pub struct PageReport {
    /// Whether every step succeeded.
    pub ok: bool,
    /// What failed: the step, and Playwright's message.
    pub error: Option<String>,
    /// The index of the step that failed; `None` when all succeeded or
    /// Chromium did not start.
    pub step: Option<usize>,
    /// The page's URL at the end (`chrome-error://chromewebdata/` after a
    /// navigation that failed).
    pub url: String,
    /// The page's title at the end.
    pub title: Option<String>,
    /// The URL that the last [`BrowserStep::WaitForUrl`] found.
    pub captured_url: Option<String>,
    /// The [`BrowserStep::Text`] texts, by selector.
    pub texts: BTreeMap<String, String>,
    /// The HTTP status of every main-frame document response, redirects
    /// included, in order.
    pub statuses: Vec<u16>,
    /// Errors logged to the console, and uncaught exceptions, by the pages.
    pub console: Vec<String>,
    /// Requests that got no response: `URL: net::ERR_...`.
    pub failed_requests: Vec<String>,
    /// The full-page PNG taken when a step failed; it outlives the
    /// [`Browser`]: `browser-failures/TEST-NAME-RUN.png` in the target
    /// directory's profile directory (`target/debug/`), next to the test
    /// binaries.
    pub screenshot: Option<PathBuf>,
    /// How long Chromium took to start, up to its first page.
    pub launch: Duration,
    /// How long the whole run took in node, Chromium's start and stop
    /// included.
    pub elapsed: Duration,
}

impl PageReport {
    /// Panics with what failed, the page's URL, the failure screenshot and
    /// the console errors, unless every step succeeded.
    pub fn assert_ok(&self) {
        assert!(
            self.ok,
            "the browser failed: {}\nat {} ({:?})\nfailure screenshot: {:?}\nstatuses: {:?}\nconsole: {:?}\nfailed requests: {:?}",
            self.error.as_deref().unwrap_or("?"),
            self.url,
            self.title,
            self.screenshot,
            self.statuses,
            self.console,
            self.failed_requests,
        );
    }

    /// The text that [`BrowserStep::Text`] recorded for `selector`; panics
    /// when there is none.
    pub fn text(&self, selector: &str) -> &str {
        self.texts
            .get(selector)
            .unwrap_or_else(|| panic!("no text for {selector:?} in {:?}", self.texts))
    }

    /// The value of the query parameter `name` of
    /// [`captured_url`](Self::captured_url) (decoded), e.g. the `code` of
    /// an OAuth redirect; `None` when there is no such parameter or no
    /// captured URL.
    pub fn captured_param(&self, name: &str) -> Option<String> {
        let url = reqwest::Url::parse(self.captured_url.as_deref()?).ok()?;
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    fn from_json(json: &serde_json::Value) -> Option<PageReport> {
        let strings = |key: &str| -> Option<Vec<String>> {
            json[key]
                .as_array()?
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let millis = |key: &str| Duration::from_millis(json[key].as_u64().unwrap_or(0));
        Some(PageReport {
            ok: json["ok"].as_bool()?,
            error: json["error"].as_str().map(str::to_owned),
            step: json["step"]
                .as_u64()
                .map(|step| usize::try_from(step).unwrap_or(usize::MAX)),
            url: json["url"].as_str().unwrap_or_default().to_owned(),
            title: json["title"].as_str().map(str::to_owned),
            captured_url: json["captured_url"].as_str().map(str::to_owned),
            texts: json["texts"]
                .as_object()?
                .iter()
                .map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect::<Option<_>>()?,
            statuses: json["statuses"]
                .as_array()?
                .iter()
                .map(|v| v.as_u64().and_then(|s| u16::try_from(s).ok()))
                .collect::<Option<_>>()?,
            console: strings("console")?,
            failed_requests: strings("failed_requests")?,
            screenshot: json["screenshot"].as_str().map(PathBuf::from),
            launch: millis("launch_ms"),
            elapsed: millis("elapsed_ms"),
        })
    }
}

/// Headless Chromium, Debian's `/usr/bin/chromium`, driven by npm's
/// `playwright-core` (pinned in `crates/testkit/browser`; `npm ci` there
/// first).
///
/// Each [`run`](Self::run) is one `node browse.mjs` that starts a fresh
/// Chromium with a fresh, empty profile (no cookies from an earlier run),
/// does the steps on one page, closes Chromium and reports. Chromium runs
/// with `--no-sandbox --disable-gpu --disable-quic --no-first-run
/// --disable-background-networking --disable-component-update
/// --disable-sync --no-proxy-server`: it calls nobody but the pages of the
/// test.
///
/// HTTPS is checked for real: Chromium trusts the CAs given to
/// [`trust`](Self::trust) (put in an NSS database, `$HOME/.pki/nssdb`,
/// under a `HOME` of its own, with `certutil` from `libnss3-tools`), and a
/// certificate that none of them signed fails the step.
///
/// Everything of the browser, the processes included, is under
/// [`dir`](Self::dir); no process outlives a run, and the directory is
/// removed on drop.
#[derive(Debug)]
pub struct Browser {
    runs: AtomicUsize,
    nssdb: PathBuf,
    trusted: AtomicUsize,
    dir: tempfile::TempDir,
}

impl Browser {
    /// A browser that trusts no CA yet; panics asking to run `scripts/test`
    /// when `/usr/bin/chromium` or the npm packages are missing. Starts
    /// nothing: Chromium starts at each run.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Browser {
        assert!(
            Path::new(CHROMIUM).is_file(),
            "{CHROMIUM} is missing: {INSTALL}"
        );
        assert!(
            Path::new(BROWSER_DIR)
                .join("node_modules/playwright-core/package.json")
                .is_file(),
            "playwright-core is not installed: {INSTALL}"
        );
        let dir = short_tempdir("browser");
        Browser {
            runs: AtomicUsize::new(0),
            nssdb: dir.path().join("nssdb"),
            trusted: AtomicUsize::new(0),
            dir,
        }
    }

    /// Makes the runs that start from now on trust the CA certificate in
    /// the PEM file `ca_pem` (one certificate, e.g.
    /// `OidcProvider::ca_certificate`) for TLS servers. Panics with
    /// certutil's output on failure.
    pub fn trust(&self, ca_pem: &Path) {
        let certutil = |args: &[&std::ffi::OsStr]| {
            let out = std::process::Command::new("certutil")
                .arg("-d")
                .arg(format!("sql:{}", self.nssdb.display()))
                .args(args)
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| panic!("run certutil: {e}: {INSTALL}"));
            assert!(
                out.status.success(),
                "certutil {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let n = self.trusted.fetch_add(1, Ordering::SeqCst);
        if n == 0 {
            std::fs::create_dir_all(&self.nssdb).expect("NSS database directory");
            certutil(&["-N".as_ref(), "--empty-password".as_ref()]);
        }
        let nickname = format!("registry-auth testkit CA {n}");
        certutil(&[
            "-A".as_ref(),
            "-n".as_ref(),
            nickname.as_ref(),
            // A CA trusted to issue server certificates.
            "-t".as_ref(),
            "C,,".as_ref(),
            "-i".as_ref(),
            ca_pem.as_os_str(),
        ]);
    }

    /// The directory that holds everything of this browser: every run's
    /// profile, `HOME` and log, in `run-N/`. Every process of a run
    /// mentions it on its command line.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts Chromium, does the steps and closes it: about 1.5 s for a
    /// login. A step that fails ends the run with `ok` false (see
    /// [`PageReport::assert_ok`]). Panics with node's output when node
    /// reports nothing, or when the run is not over 90 s after it started;
    /// nothing of the run is left running when this returns or panics, nor
    /// when its future is dropped (node is killed then, and Chromium,
    /// whose pipe to node closes, follows it).
    pub async fn run(&self, steps: &[BrowserStep]) -> PageReport {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        let run_dir = self.dir.path().join(format!("run-{n}"));
        let home = run_dir.join("home");
        std::fs::create_dir_all(home.join(".pki")).expect("the run's HOME");
        if self.trusted.load(Ordering::SeqCst) > 0 {
            let nssdb = home.join(".pki/nssdb");
            std::fs::create_dir_all(&nssdb).expect("the run's NSS database");
            for entry in std::fs::read_dir(&self.nssdb).expect("the NSS database") {
                let entry = entry.expect("the NSS database");
                std::fs::copy(entry.path(), nssdb.join(entry.file_name()))
                    .expect("copy the NSS database");
            }
        }
        let script = serde_json::json!({
            "chromium": CHROMIUM,
            "user_data_dir": run_dir.join("profile"),
            "home": home,
            "timeout_ms": RUN_TIMEOUT.as_millis() as u64,
            "step_timeout_ms": STEP_TIMEOUT.as_millis() as u64,
            "failure_screenshot": failure_screenshot(n),
            "steps": steps.iter().map(BrowserStep::to_json).collect::<Vec<_>>(),
        });
        let script_path = run_dir.join("script.json");
        std::fs::write(&script_path, script.to_string()).expect("write the browser script");
        let log = run_dir.join("node.log");

        let _cleanup = CleanUp(&run_dir);
        // SIGKILL when the thread that runs the test ends; its own process
        // group, killed whole on a timeout. Chromium gets a group of its
        // own from Playwright, and exits when its pipe to node closes.
        let mut command = daemon_command("node", "KILL", &log);
        command
            .current_dir(BROWSER_DIR)
            .env_remove("NODE_OPTIONS")
            .arg("browse.mjs")
            .arg(&script_path)
            .stdout(Stdio::piped());
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start `setpriv -- node browse.mjs`: {e}"));
        let pid = child.id();
        let started = Instant::now();
        let waited = tokio::time::timeout(RUN_TIMEOUT + GRACE, child.wait_with_output()).await;
        let Ok(output) = waited else {
            if let Some(pid) = pid {
                kill_group(pid);
            }
            panic!(
                "node browse.mjs did not finish in {:?}; its log:\n{}",
                started.elapsed(),
                read(&log)
            );
        };
        let output = output.unwrap_or_else(|e| panic!("wait for node browse.mjs: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report = stdout
            .lines()
            .rev()
            .find(|line| line.starts_with('{'))
            .and_then(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .and_then(|json| PageReport::from_json(&json));
        report.unwrap_or_else(|| {
            panic!(
                "node browse.mjs ({}) reported nothing; stdout:\n{stdout}\nits log:\n{}",
                output.status,
                read(&log)
            )
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        clean_up_after(self.dir.path());
    }
}

/// Waits up to 5 s for every process that mentions a run's directory
/// (Chromium's, which exit once node has closed the browser) to end, then
/// kills what is left; on drop, so on panics too.
struct CleanUp<'a>(&'a Path);

impl Drop for CleanUp<'_> {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !pids_mentioning(self.0).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        clean_up_after(self.0);
    }
}

/// Sends SIGKILL to the process group `pgid`.
fn kill_group(pgid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `browser-failures/TEST-NAME-RUN.png` beside the test binaries' `deps/`
/// (`target/debug/`), or under the temp directory when the binary is
/// elsewhere: a place that outlives the [`Browser`], and where a test's
/// next failure replaces its last one. The test's name is its thread's
/// (libtest names the thread of each test after it; a multi-threaded
/// runtime's workers are named otherwise, then the pid stands in).
fn failure_screenshot(run: usize) -> PathBuf {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let deps = exe.parent()?;
            (deps.file_name()? == "deps").then(|| deps.parent().map(Path::to_path_buf))?
        })
        .unwrap_or_else(std::env::temp_dir)
        .join("browser-failures");
    let thread = std::thread::current();
    let test = match thread.name() {
        Some(name) if name != "main" && !name.starts_with("tokio-") => {
            name.replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "-")
        }
        _ => format!("pid{}", std::process::id()),
    };
    dir.join(format!("{test}-{run}.png"))
}
