//! The real registry (Debian's `docker-registry`, distribution 2.8, and a
//! build of distribution v3.1.1 from `../shared/registries/`) and the real
//! skopeo, driven by the end-to-end tests.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use tokio::process::{Child, Command};

/// Fails the calling test unless every tool is on the `PATH`: the
/// end-to-end tests never skip (`scripts/test` installs the tools).
pub fn require_tools(tools: &[&str]) {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| which(tool).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "end-to-end test needs {missing:?}, which are not installed: run scripts/test, which installs them"
    );
}

/// Fails the calling test unless the real registry and skopeo are here.
pub fn require_registry_and_skopeo() {
    require_tools(&["docker-registry", "skopeo"]);
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
}

/// A free port on 127.0.0.1. The registry is a separate process, so it
/// cannot be handed a bound socket; the port is picked by the OS and
/// released just before the registry binds it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running `docker-registry`, killed on drop.
#[derive(Debug)]
pub struct Registry {
    /// Where it listens: `127.0.0.1:PORT`.
    pub addr: String,
    child: Child,
    _dir: tempfile::TempDir,
    log: PathBuf,
}

impl Registry {
    /// Starts Debian's registry 2.8 with token auth pointing at `realm`,
    /// trusting the certificate(s) in `rootcertbundle`.
    pub async fn start(
        realm: &str,
        service: &str,
        issuer: &str,
        rootcertbundle: &Path,
    ) -> Registry {
        Registry::start_binary(
            Path::new("docker-registry"),
            realm,
            service,
            issuer,
            rootcertbundle,
            None,
        )
        .await
    }

    /// Starts registry v3.1.1 (unpacked from `../shared/registries/` on
    /// first use), trusting `rootcertbundle` and, when given, the keys of
    /// the `jwks` file under their `kid`s.
    pub async fn start_v3(
        realm: &str,
        service: &str,
        issuer: &str,
        rootcertbundle: &Path,
        jwks: Option<&Path>,
    ) -> Registry {
        let binary = registry_v3_binary();
        Registry::start_binary(binary, realm, service, issuer, rootcertbundle, jwks).await
    }

    async fn start_binary(
        binary: &Path,
        realm: &str,
        service: &str,
        issuer: &str,
        rootcertbundle: &Path,
        jwks: Option<&Path>,
    ) -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {root}\n  delete:\n    enabled: true\n\
             http:\n  addr: {addr}\n  secret: e2e-test-secret\n\
             auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {bundle}\n{jwks}",
            root = dir.path().join("storage").display(),
            bundle = rootcertbundle.display(),
            jwks = jwks.map_or_else(String::new, |j| format!("    jwks: {}\n", j.display())),
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("write registry config");
        let log = dir.path().join("registry.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(binary);
        // The registry reads REGISTRY_* variables as configuration overrides;
        // none from our environment may leak into it.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("REGISTRY_") {
                command.env_remove(name);
            }
        }
        let child = command
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log"))
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        let registry = Registry {
            addr,
            child,
            _dir: dir,
            log,
        };
        registry.wait_ready().await;
        registry
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..100 {
            if let Ok(r) = client.get(format!("http://{}/v2/", self.addr)).send().await {
                assert_eq!(r.status(), 401, "registry without a token must answer 401");
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("registry did not start; log:\n{}", self.log());
    }

    /// What the registry logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the registry.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Runs skopeo with the given arguments; returns (success, stderr+stdout).
pub async fn skopeo(args: &[&str]) -> (bool, String) {
    let out = Command::new("skopeo")
        .arg("--insecure-policy")
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .expect("run skopeo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `skopeo copy` of an image (`oci:DIR:TAG`) to `docker://…` over plain
/// HTTP, with `user:password` credentials (`""`: none).
pub async fn skopeo_push(source: &str, image: &str, creds: &str) -> (bool, String) {
    skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        creds,
        source,
        image,
    ])
    .await
}

/// `skopeo inspect --raw` of `docker://…` over plain HTTP, with
/// `user:password` credentials or none.
pub async fn skopeo_inspect(image: &str, creds: Option<&str>) -> (bool, String) {
    let creds = match creds {
        Some(creds) => ["--creds", creds],
        None => ["--no-creds", ""],
    };
    let args: Vec<&str> = ["inspect", "--raw", "--tls-verify=false"]
        .into_iter()
        .chain(creds.into_iter().filter(|a| !a.is_empty()))
        .chain([image])
        .collect();
    skopeo(&args).await
}

/// `skopeo delete` of `docker://…` over plain HTTP, with `user:password`
/// credentials (skopeo asks the token server for the action `*`).
pub async fn skopeo_delete(image: &str, creds: &str) -> (bool, String) {
    skopeo(&["delete", "--tls-verify=false", "--creds", creds, image]).await
}

fn sha256_hex(data: &[u8]) -> String {
    digest(&SHA256, data)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes a one-layer OCI image layout at `dir` with tag `tag`; the layer
/// is a tar archive holding one file with `content`. Returns the manifest
/// digest.
pub fn write_oci_layout(dir: &Path, tag: &str, content: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("mkdir");
    let put = |data: &[u8]| -> (String, usize) {
        let hex = sha256_hex(data);
        std::fs::write(blobs.join(&hex), data).expect("write blob");
        (format!("sha256:{hex}"), data.len())
    };
    let layer = tar_with_one_file("hello.txt", content.as_bytes());
    let (layer_digest, layer_size) = put(&layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        "config": {}
    })
    .to_string();
    let (config_digest, config_size) = put(config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer_size}]
    })
    .to_string();
    let (manifest_digest, manifest_size) = put(manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag}
        }]
    })
    .to_string();
    std::fs::write(dir.join("index.json"), index).expect("index");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
    manifest_digest
}

/// A ustar archive with one regular file.
pub fn tar_with_one_file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..name.len()].copy_from_slice(name.as_bytes());
    header[100..108].copy_from_slice(b"0000644\0");
    header[108..116].copy_from_slice(b"0000000\0");
    header[116..124].copy_from_slice(b"0000000\0");
    header[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    header[136..148].copy_from_slice(b"00000000000\0");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
    header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = header.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Where registry v3.1.1 comes from: the project's shared folder, beside
/// the workspace (`../shared/registries/`), and the checksum of the
/// unpacked binary, which guards against a damaged copy.
const REGISTRY_V3_XZ: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/registries/registry-v3.1.1.xz"
);
const REGISTRY_V3_SHA256: &str = "8d9c27138cb3bc41afafd15503de3eb066189e0e157222a9bcbfe425dfee7644";

/// The registry v3.1.1 binary, unpacked (once per machine, checked every
/// time a test process first asks) into the temp folder. Fails the test,
/// naming what is missing, when the archive or `xz` is not there.
pub fn registry_v3_binary() -> &'static Path {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(|| {
        let target = std::env::temp_dir().join(format!(
            "registry-auth-registry-v3.1.1-{}",
            &REGISTRY_V3_SHA256[..12]
        ));
        let sound = |path: &Path| {
            std::fs::read(path).is_ok_and(|bytes| sha256_hex(&bytes) == REGISTRY_V3_SHA256)
        };
        if sound(&target) {
            return target;
        }
        let archive = Path::new(REGISTRY_V3_XZ);
        assert!(
            archive.exists(),
            "{} is missing: the v3 end-to-end tests need the registry build of \
             ../shared/registries/ (see its README)",
            archive.display()
        );
        require_tools(&["xz"]);
        let out = std::process::Command::new("xz")
            .arg("-dc")
            .arg(archive)
            .output()
            .expect("run xz");
        assert!(
            out.status.success(),
            "xz -dc {}: {}",
            archive.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            sha256_hex(&out.stdout),
            REGISTRY_V3_SHA256,
            "{} unpacks to a binary with the wrong checksum",
            archive.display()
        );
        // Written beside and renamed: test processes running at once see
        // either no file or the whole one.
        let partial = target.with_extension(format!("partial-{}", std::process::id()));
        std::fs::write(&partial, &out.stdout).expect("write registry v3");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
                .expect("chmod registry v3");
        }
        std::fs::rename(&partial, &target).expect("rename registry v3");
        target
    })
}
