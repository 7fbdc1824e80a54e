//! Images that stand in for the Docker Hub images compose.yaml names and
//! this machine cannot pull: the real programs (Debian's registry v3
//! build, PostgreSQL 15 and HAProxy), copied from the host with the
//! libraries they load, laid out and started as the official images are.

use std::path::{Path, PathBuf};

use registry_auth_testkit::Dockerd;

/// `registry:3`: the binary, /etc/distribution/config.yml, storage in
/// /var/lib/registry, port 5000.
pub(super) async fn registry(docker: &Dockerd, tag: &str) {
    let context = tempfile::tempdir().unwrap();
    let root = context.path().join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc/distribution")).unwrap();
    std::fs::copy(
        registry_auth_testkit::registry_v3_binary(),
        root.join("bin/registry"),
    )
    .unwrap();
    std::fs::write(
        root.join("etc/distribution/config.yml"),
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n\
         http:\n  addr: :5000\n",
    )
    .unwrap();
    build(
        docker,
        tag,
        context.path(),
        "COPY rootfs/ /\nVOLUME [\"/var/lib/registry\"]\nEXPOSE 5000\n\
         ENTRYPOINT [\"/bin/registry\"]\nCMD [\"serve\", \"/etc/distribution/config.yml\"]\n",
    )
    .await;
}

/// `haproxy:3.0`: runs as user 99 `haproxy -W -db -f
/// /usr/local/etc/haproxy/haproxy.cfg`, as that image's entrypoint does.
pub(super) async fn haproxy(docker: &Dockerd, tag: &str) {
    let context = tempfile::tempdir().unwrap();
    let root = context.path().join("rootfs");
    copy_from_host(&root, &["/usr/sbin/haproxy"]);
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/:/sbin/nologin\nhaproxy:x:99:99:haproxy:/var/lib/haproxy:/sbin/nologin\n",
    )
    .unwrap();
    build(
        docker,
        tag,
        context.path(),
        "COPY rootfs/ /\nUSER 99:99\nENTRYPOINT [\"/usr/sbin/haproxy\", \"-W\", \"-db\", \
         \"-f\", \"/usr/local/etc/haproxy/haproxy.cfg\"]\n",
    )
    .await;
}

/// What the official postgres image's entrypoint does on an empty data
/// folder with POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB (a
/// superuser with that password, host connections by scram-sha-256, the
/// database), then the server on every address.
const POSTGRES_ENTRYPOINT: &str = r#"#!/bin/sh
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "$POSTGRES_PASSWORD" ]; then
        echo "Error: Database is uninitialized and superuser password is not specified." >&2
        exit 1
    fi
    printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
    initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile=/tmp/pwfile \
        --auth-local=trust --auth-host=scram-sha-256 --locale=C --encoding=UTF8
    : > /tmp/pwfile
    printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
    printf 'CREATE DATABASE "%s";\n' "$POSTGRES_DB" | postgres --single -D "$PGDATA" -j postgres
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
"#;

/// `postgres:17`, with Debian's PostgreSQL 15 (what this machine has; the
/// server's state store speaks to both): user 999, data in the volume
/// /var/lib/postgresql/data, `pg_isready` on the PATH for the health check.
pub(super) async fn postgres(docker: &Dockerd, tag: &str) {
    let context = tempfile::tempdir().unwrap();
    let root = context.path().join("rootfs");
    let lib = Path::new("/usr/lib/postgresql/15/lib");
    // Every module but the JIT's (which would bring LLVM, 100 MB).
    let mut paths: Vec<PathBuf> = std::fs::read_dir(lib)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("llvmjit")
        })
        .collect();
    for path in [
        "/usr/lib/postgresql/15/bin/postgres",
        "/usr/lib/postgresql/15/bin/initdb",
        "/usr/lib/postgresql/15/bin/pg_isready",
        "/usr/share/postgresql/15",
        "/usr/share/zoneinfo",
        "/bin/sh",
    ] {
        paths.push(PathBuf::from(path));
    }
    let paths: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
    copy_from_host(&root, &paths);
    std::fs::remove_dir_all(root.join("usr/share/postgresql/15/man")).ok();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/:/bin/sh\npostgres:x:999:999:postgres:/var/lib/postgresql:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\npostgres:x:999:\n").unwrap();
    std::fs::write(root.join("entrypoint"), POSTGRES_ENTRYPOINT).unwrap();
    let tmp = root.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::set_permissions(
        root.join("entrypoint"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    // COPY makes everything root's; these two belong to the server's user.
    let owned = context.path().join("owned");
    std::fs::create_dir_all(owned.join("var/run/postgresql")).unwrap();
    std::fs::create_dir_all(owned.join("var/lib/postgresql/data")).unwrap();
    std::fs::set_permissions(
        owned.join("var/lib/postgresql/data"),
        std::fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    build(
        docker,
        tag,
        context.path(),
        "COPY rootfs/ /\nCOPY --chown=999:999 owned/ /\n\
         ENV PATH=/usr/lib/postgresql/15/bin:/bin PGDATA=/var/lib/postgresql/data\n\
         USER 999:999\nVOLUME [\"/var/lib/postgresql/data\"]\nEXPOSE 5432\n\
         ENTRYPOINT [\"/entrypoint\"]\n",
    )
    .await;
}

/// `docker build` of `context` with a Containerfile `FROM scratch` and
/// then `steps`.
async fn build(docker: &Dockerd, tag: &str, context: &Path, steps: &str) {
    let file = context.join("Containerfile");
    std::fs::write(&file, format!("FROM scratch\n{steps}")).unwrap();
    let (ok, out) = docker
        .run(&[
            "build",
            "--quiet",
            "--file",
            file.to_str().unwrap(),
            "--tag",
            tag,
            context.to_str().unwrap(),
        ])
        .await;
    assert!(ok, "docker build {tag}: {out}\n{}", docker.log());
}

/// Copies `paths` (files, or folders whole, symbolic links as links) from
/// this machine into `root` at the same paths, with the shared libraries
/// that every ELF file among them loads, as `ldd` finds them.
fn copy_from_host(root: &Path, paths: &[&str]) {
    let mut libraries = std::collections::BTreeSet::new();
    let mut stack: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
    while let Some(path) = stack.pop() {
        let to = root.join(path.strip_prefix("/").unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.file_type().is_symlink() && !paths.contains(&path.to_str().unwrap()) {
            std::os::unix::fs::symlink(std::fs::read_link(&path).unwrap(), &to).unwrap();
        } else if std::fs::metadata(&path).unwrap().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else {
            std::fs::copy(&path, &to).unwrap();
            let mut magic = [0u8; 4];
            let is_elf = std::fs::File::open(&path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                .is_ok()
                && &magic == b"\x7fELF";
            if is_elf {
                let out = std::process::Command::new("ldd")
                    .arg(&path)
                    .output()
                    .unwrap();
                for word in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if word.starts_with('/') {
                        libraries.insert(PathBuf::from(word));
                    }
                }
            }
        }
    }
    for library in libraries {
        let to = root.join(library.strip_prefix("/").unwrap());
        if !to.exists() {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&library, &to).unwrap();
        }
    }
}
