//! What the daemon harnesses share: starting a daemon so that it dies with
//! the test binary, stopping it with a signal, and leaving nothing behind
//! (no process, no mount) once it is gone.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// A daemon command run through `setpriv --pdeathsig SIG`: the daemon gets
/// `signal` when the thread that started it ends, so even a test binary
/// killed with SIGKILL (a timeout, a second Ctrl-C) leaves no daemon. Its
/// output is appended to `log`; it is killed when its `Child` is dropped.
pub(crate) fn daemon_command(program: impl AsRef<OsStr>, signal: &str, log: &Path) -> Command {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("daemon log file");
    let mut command = Command::new("setpriv");
    command
        .arg("--pdeathsig")
        .arg(signal)
        .arg("--")
        .arg(program)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("daemon log file"))
        .stderr(log_file)
        // Its own process group: a Ctrl-C on the test run reaches the test
        // binary only, which then stops its daemons in order.
        .process_group(0)
        .kill_on_drop(true);
    command
}

/// Sends `signal` (a name such as `TERM`) to `pid` with kill(1).
pub(crate) fn send_signal(pid: u32, signal: &str) {
    let _ = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Sends `signal` to the child and waits up to `grace` for it to exit, then
/// kills it. For `stop` methods.
pub(crate) async fn stop_child(child: &mut Child, signal: &str, grace: Duration) {
    if let Some(pid) = child.id() {
        send_signal(pid, signal);
        if tokio::time::timeout(grace, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

/// The same as [`stop_child`], without an async context: for `Drop`, which
/// must leave nothing behind even when the test panicked.
pub(crate) fn stop_child_blocking(child: &mut Child, signal: &str, grace: Duration) {
    if let Some(pid) = child.id() {
        send_signal(pid, signal);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.start_kill();
    let deadline = Instant::now() + Duration::from_secs(5);
    while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Processes whose command line mentions `dir` (a daemon's private temp
/// directory): what a daemon started on its own, such as the containerd
/// that dockerd runs in its own session.
pub(crate) fn pids_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

/// Kills every process that mentions `dir` and unmounts whatever is mounted
/// under it, so that the temp directory can be removed.
pub(crate) fn clean_up_after(dir: &Path) {
    for _ in 0..50 {
        let pids = pids_mentioning(dir);
        if pids.is_empty() {
            break;
        }
        for pid in pids {
            send_signal(pid, "KILL");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut mounts = mounts_under(dir);
    // Deepest first.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
    for mount in mounts {
        let unmounted = std::process::Command::new("umount")
            .arg(&mount)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&mount)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Mount points at or under `dir`, from `/proc/self/mountinfo`.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(mountinfo) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        // Spaces and the like are octal escapes; our paths have none.
        .map(PathBuf::from)
        .filter(|mount| mount.starts_with(dir))
        .collect()
}

/// A temp directory under `/tmp` whatever `TMPDIR` says: unix socket paths
/// inside it must stay under 108 bytes.
pub(crate) fn short_tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("tempdir under /tmp")
}

/// Runs a prepared command to completion; returns (success, stdout+stderr).
pub(crate) async fn output(command: &mut Command, what: &str) -> (bool, String) {
    let out = command
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The uid and gid of the OS user `name`, from `/etc/passwd`; panics
/// naming the package that makes the user when there is none.
pub(crate) fn os_user(name: &str, package: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name) && fields.len() > 3)
        .map(|fields| {
            (
                fields[2].parse().expect("uid"),
                fields[3].parse().expect("gid"),
            )
        })
        .unwrap_or_else(|| panic!("no {name} user: install {package}"))
}

/// A random password of 32 hex digits.
pub(crate) fn random_password() -> String {
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).expect("random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
