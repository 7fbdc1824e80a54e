//! `keys rotate`: changing the signing key in the three steps that keep
//! every pull working.
//!
//! Registries read the keys they trust (`rootcertbundle`, v3's `jwks`) only
//! when they start, and accept a token until it expires. So the next key is
//! published before it signs (`prepare`, then the registries are given the
//! new files and restarted), then signs while the previous key stays
//! published (`promote`), and the previous key goes only once every token
//! it signed has expired (`retire`). Each step edits the configuration in
//! place, keeping its comments and layout, checks that the result loads as
//! `serve` loads it, and writes it whole; a running server takes it on its
//! next reload. Where the configuration is what the command records
//! (`[token.rotation]`), it is also the only state: any instance, and the
//! operator, can see how far a rotation has gone.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use registry_auth::token::JwtGenerator;
use toml_edit::{Array, DocumentMut, Item, Table, TableLike, value};

use crate::commands::{write_file, write_registry_files};
use crate::config::{Config, MissingKey, Rotation, resolve_against};
use crate::keys::{self, KeyType};

/// The clock leeway registries allow on `exp` (distribution's 60 s):
/// a token can be used this long after it expires.
const REGISTRY_LEEWAY: Duration = Duration::from_secs(60);

/// A step of the rotation.
#[derive(Debug)]
pub(crate) enum Step {
    /// Make (or take) the next key and publish it.
    Prepare {
        /// The kind of key to make (default: like the signing key).
        key_type: Option<KeyType>,
        /// A key and certificate the operator brings (e.g. CA-issued).
        brought: Option<(PathBuf, PathBuf)>,
    },
    /// Sign with the next key; keep the previous one published.
    Promote,
    /// Stop publishing the previous key.
    Retire,
}

/// Where to write the registry's files after the step, if anywhere.
#[derive(Debug, Default)]
pub(crate) struct RegistryFiles {
    pub(crate) bundle: Option<PathBuf>,
    pub(crate) jwks: Option<PathBuf>,
}

/// The outcome of a step: the edited configuration, files the step made
/// (removed again if the edit is refused), and what to tell the operator.
struct Edit {
    made: Vec<PathBuf>,
    done: String,
    next: String,
}

/// Runs one step on the configuration at `config_path`.
pub(crate) fn rotate(config_path: &Path, step: Step, files: &RegistryFiles) -> Result<(), String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let generator = config
        .jwt_generator(MissingKey::Refuse)
        .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(config_path)
        .map_err(|e| format!("{}: cannot read: {e}", config_path.display()))?;
    let mut document: DocumentMut = text
        .parse()
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let now = SystemTime::now();
    let edit = {
        let token = document
            .get_mut("token")
            .and_then(Item::as_table_like_mut)
            .ok_or_else(|| format!("{}: no [token] table", config_path.display()))?;
        match step {
            Step::Prepare { key_type, brought } => {
                prepare(&config, &generator, token, key_type, brought, files, now)?
            }
            Step::Promote => promote(&config, token, now)?,
            Step::Retire => retire(&config, token, files, now)?,
        }
    };
    let edited = document.to_string();
    // The edited configuration must load as `serve` would load it, keys
    // included, before anything is written.
    let checked = Config::parse(&edited, config_path)
        .and_then(|c| c.jwt_generator(MissingKey::Refuse).map(|g| (c, g)));
    let (new_config, new_generator) = match checked {
        Ok(loaded) => loaded,
        Err(e) => {
            for file in &edit.made {
                let _ = std::fs::remove_file(file);
            }
            return Err(format!("the edited configuration would not load: {e}"));
        }
    };
    println!("{}", edit.done);
    match write_config(config_path, &edited) {
        Ok(()) => {
            println!("Updated {}.", config_path.display());
            println!("{}", reload_hint(&new_config));
        }
        Err(e) => {
            println!(
                "{e}\nMake this change to [token] yourself (every instance's copy), then reload:\n\n{}",
                token_tables(&document)
            );
        }
    }
    write_registry_files(
        &new_config,
        &new_generator,
        files.bundle.as_deref(),
        files.jwks.as_deref(),
    )?;
    for file in files.bundle.iter().chain(&files.jwks) {
        println!("Wrote {}.", file.display());
    }
    println!("\n{}", edit.next);
    Ok(())
}

/// `prepare`: the next key, made beside the signing key (or brought), its
/// certificate added to `published_keys`, and both recorded.
fn prepare(
    config: &Config,
    generator: &JwtGenerator,
    token: &mut dyn TableLike,
    key_type: Option<KeyType>,
    brought: Option<(PathBuf, PathBuf)>,
    files: &RegistryFiles,
    now: SystemTime,
) -> Result<Edit, String> {
    match &config.rotation {
        Rotation::Idle => {}
        Rotation::Prepared { key, .. } => {
            return Err(format!(
                "a next key is already prepared ({}): run `keys rotate promote`, or remove \
                 [token.rotation] and its certificate from token.published_keys to start over",
                key.display()
            ));
        }
        Rotation::Promoted {
            retiring,
            retire_after,
            ..
        } => {
            return Err(format!(
                "the previous key ({}) is still published: run `keys rotate retire` first \
                 (possible from {})",
                retiring.display(),
                humantime::format_rfc3339_seconds(*retire_after)
            ));
        }
    }
    let (key_raw, certificate_raw, made) = match brought {
        Some((key, certificate)) => {
            let (key, certificate) = keys::brought(&key, &certificate)?;
            (
                key.display().to_string(),
                certificate.display().to_string(),
                Vec::new(),
            )
        }
        None => {
            if keys::is_ca_issued(generator) {
                return Err(format!(
                    "the signing certificate ({}) is issued by a CA, and this command makes \
                     only self-signed ones: make the next key, have the CA issue its \
                     certificate, then run `keys rotate prepare --key KEY --certificate CERT` \
                     (registries that trust the CA need no restart for it)",
                    config
                        .certificate
                        .as_deref()
                        .unwrap_or(&config.signing_key)
                        .display()
                ));
            }
            let kind = key_type.unwrap_or_else(|| KeyType::of(generator.signing_key()));
            let signing_raw = raw_string(token, "signing_key")?;
            let stem = next_stem(&signing_raw, now);
            let (key_raw, certificate_raw) = (format!("{stem}.key"), format!("{stem}.crt"));
            let key = resolve_against(&config.path, Path::new(&key_raw));
            let certificate = resolve_against(&config.path, Path::new(&certificate_raw));
            keys::generate(kind, &key, Some(&certificate))?;
            (key_raw, certificate_raw, vec![key, certificate])
        }
    };
    published_keys(token)?.push(certificate_raw.as_str());
    let mut rotation = rotation_table();
    rotation.insert("next_key", value(key_raw.as_str()));
    rotation.insert("next_certificate", value(certificate_raw.as_str()));
    token.insert("rotation", Item::Table(rotation));
    Ok(Edit {
        made,
        done: format!(
            "Prepared the next key {key_raw} (certificate {certificate_raw}); it is published, \
             it does not sign yet."
        ),
        next: format!(
            "Next:\n  1. Give every registry the new trusted keys, {files}, and restart it.\n  \
             2. Then: registry-auth keys rotate promote --config {c}",
            files = registry_files_hint(config, files),
            c = config.path.display()
        ),
    })
}

/// `promote`: the prepared key signs; the previous key stays published
/// until `retire_after`.
fn promote(config: &Config, token: &mut dyn TableLike, now: SystemTime) -> Result<Edit, String> {
    let (next_key, next_certificate) = match &config.rotation {
        Rotation::Prepared { key, certificate } => (key.clone(), certificate.clone()),
        Rotation::Idle => {
            return Err("no next key is prepared: run `keys rotate prepare` first".into());
        }
        Rotation::Promoted { .. } => {
            return Err(
                "the next key already signs: run `keys rotate retire` once the previous key's \
                 tokens have expired"
                    .into(),
            );
        }
    };
    keys::check_brought(&next_key, &next_certificate)?;
    let rotation = token
        .get("rotation")
        .and_then(Item::as_table_like)
        .ok_or("[token.rotation] is missing")?;
    let next_key_raw = raw_string(rotation, "next_key")?;
    let next_certificate_raw = raw_string(rotation, "next_certificate")?;
    let signing_raw = raw_string(token, "signing_key")?;
    let certificate_raw = token
        .get("certificate")
        .and_then(Item::as_str)
        .map(str::to_owned);
    // The previous key goes on being published: its certificate, or (when
    // the configuration has none) its public key, written beside it.
    let (retiring_raw, made) = match &certificate_raw {
        Some(raw) => (raw.clone(), Vec::new()),
        None => {
            let raw = Path::new(&signing_raw)
                .with_extension("pub.pem")
                .display()
                .to_string();
            let file = resolve_against(&config.path, Path::new(&raw));
            let pem = registry_auth::token::SigningKey::from_pem_file(&config.signing_key)
                .map_err(|e| e.to_string())?
                .public_key_pem();
            keys::write_new(&file, pem.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
            (raw, vec![file])
        }
    };
    let published = published_keys(token)?;
    published.retain(|entry| {
        entry
            .as_str()
            .is_none_or(|raw| resolve_against(&config.path, Path::new(raw)) != next_certificate)
    });
    published.push(retiring_raw.as_str());
    published.fmt();
    set_string(token, "signing_key", &next_key_raw);
    if certificate_raw.is_some() {
        set_string(token, "certificate", &next_certificate_raw);
    }
    // Tokens the previous key signed live `lifetime`, plus the registry's
    // leeway, plus (with the watch on) the time the server takes to notice
    // this edit.
    let retire_after = now + config.lifetime + REGISTRY_LEEWAY + config.watch.unwrap_or_default();
    let retire_after = round_up_to_second(retire_after);
    let mut rotation = rotation_table();
    rotation.insert(
        "promoted",
        value(humantime::format_rfc3339_seconds(now).to_string()),
    );
    rotation.insert(
        "retire_after",
        value(humantime::format_rfc3339_seconds(retire_after).to_string()),
    );
    rotation.insert("retiring", value(retiring_raw.as_str()));
    token.insert("rotation", Item::Table(rotation));
    let watch_off = if config.watch.is_none() {
        "\n  server.watch is off: the previous key signs until each instance reloads \
         (SIGHUP); retire only after that, plus the token lifetime."
    } else {
        ""
    };
    Ok(Edit {
        made,
        done: format!(
            "Promoted {next_key_raw}: it signs from the next reload. The previous key \
             ({retiring_raw}) stays published."
        ),
        next: format!(
            "Next: from {at} (token lifetime {lifetime}, 60 s of registry leeway and the \
             reload interval after the promotion), run\n  \
             registry-auth keys rotate retire --config {c}{watch_off}",
            at = humantime::format_rfc3339_seconds(retire_after),
            lifetime = humantime::format_duration(config.lifetime),
            c = config.path.display()
        ),
    })
}

/// `retire`: the previous key is no longer published, once every token it
/// signed has expired.
fn retire(
    config: &Config,
    token: &mut dyn TableLike,
    files: &RegistryFiles,
    now: SystemTime,
) -> Result<Edit, String> {
    let (promoted, retire_after, retiring) = match &config.rotation {
        Rotation::Promoted {
            at,
            retire_after,
            retiring,
        } => (*at, *retire_after, retiring.clone()),
        Rotation::Idle => return Err("no key is being retired: nothing to do".into()),
        Rotation::Prepared { .. } => {
            return Err(
                "the next key is prepared but does not sign yet: run `keys rotate promote` first"
                    .into(),
            );
        }
    };
    let retiring_raw = token
        .get("rotation")
        .and_then(Item::as_table_like)
        .map(|rotation| raw_string(rotation, "retiring"))
        .transpose()?
        .unwrap_or_default();
    if now < retire_after {
        let wait = retire_after.duration_since(now).unwrap_or_default();
        return Err(format!(
            "too early: tokens signed by the previous key ({retiring_raw}) before the \
             promotion at {} can be used until {} (token lifetime, 60 s of registry leeway \
             and the reload interval); retire in {}",
            humantime::format_rfc3339_seconds(promoted),
            humantime::format_rfc3339_seconds(retire_after),
            humantime::format_duration(Duration::from_secs(wait.as_secs() + 1))
        ));
    }
    let published = published_keys(token)?;
    published.retain(|entry| {
        entry
            .as_str()
            .is_none_or(|raw| resolve_against(&config.path, Path::new(raw)) != retiring)
    });
    published.fmt();
    token.remove("rotation");
    Ok(Edit {
        made: Vec::new(),
        done: format!(
            "Retired {retiring_raw}: it is no longer published. Its files are left in place; \
             archive or delete them."
        ),
        next: format!(
            "Next: give the registries the new trusted keys, {}, at their next restart; from \
             then on they refuse the previous key (whose tokens have all expired).",
            registry_files_hint(config, files)
        ),
    })
}

/// Where the registries' files are: the ones just written, or the command
/// that writes them.
fn registry_files_hint(config: &Config, files: &RegistryFiles) -> String {
    match (&files.bundle, &files.jwks) {
        (Some(bundle), Some(jwks)) => format!(
            "{} (rootcertbundle) and {} (jwks, registry v3)",
            bundle.display(),
            jwks.display()
        ),
        (Some(bundle), None) => format!("{} (rootcertbundle)", bundle.display()),
        _ => format!(
            "written by\n       registry-auth registry-config --config {} --bundle BUNDLE.pem \
             --jwks JWKS.json\n     (rootcertbundle: BUNDLE.pem; jwks: JWKS.json on registry v3)",
            config.path.display()
        ),
    }
}

/// A new, empty `[token.rotation]` with a line that says who keeps it.
fn rotation_table() -> Table {
    let mut table = Table::new();
    table.decor_mut().set_prefix(
        "\n# Kept by `registry-auth keys rotate` (how far the key rotation has gone).\n",
    );
    table
}

/// `token.published_keys`, made an empty array when absent.
fn published_keys(token: &mut dyn TableLike) -> Result<&mut Array, String> {
    if token.get("published_keys").is_none() {
        token.insert("published_keys", value(Array::new()));
    }
    token
        .get_mut("published_keys")
        .and_then(Item::as_array_mut)
        .ok_or_else(|| "token.published_keys: expected an array of file names".to_owned())
}

/// Sets a string value, keeping the comment and spacing around the old one.
fn set_string(table: &mut dyn TableLike, key: &str, new: &str) {
    match table.get_mut(key).and_then(Item::as_value_mut) {
        Some(old) => {
            let decor = old.decor().clone();
            *old = new.into();
            *old.decor_mut() = decor;
        }
        None => {
            table.insert(key, value(new));
        }
    }
}

/// A string value of `table` as written.
fn raw_string(table: &dyn TableLike, key: &str) -> Result<String, String> {
    table
        .get(key)
        .and_then(Item::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("{key}: expected a file name"))
}

/// The next key's file name without extension: the signing key's folder
/// and name, with the time instead of a previous rotation's time, e.g.
/// `keys/token.key` → `keys/token-20261201-060959`.
fn next_stem(signing_raw: &str, now: SystemTime) -> String {
    let path = Path::new(signing_raw);
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("token");
    let base = strip_time_suffix(stem);
    let stamp = humantime::format_rfc3339_seconds(now).to_string();
    // 2026-12-01T06:09:59Z → 20261201-060959
    let digits: String = stamp.chars().filter(char::is_ascii_digit).collect();
    let stamp = format!(
        "{}-{}",
        digits.get(..8).unwrap_or_default(),
        digits.get(8..14).unwrap_or_default()
    );
    path.with_file_name(format!("{base}-{stamp}"))
        .display()
        .to_string()
}

/// `token-20261201-060959` → `token`; other names stay as they are.
fn strip_time_suffix(stem: &str) -> &str {
    let bytes = stem.as_bytes();
    let n = bytes.len();
    let is_stamp = n > 16
        && bytes[n - 16] == b'-'
        && bytes[n - 7] == b'-'
        && bytes[n - 15..n - 7].iter().all(u8::is_ascii_digit)
        && bytes[n - 6..].iter().all(u8::is_ascii_digit);
    if is_stamp { &stem[..n - 16] } else { stem }
}

fn round_up_to_second(t: SystemTime) -> SystemTime {
    let since = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let whole = since.as_secs() + u64::from(since.subsec_nanos() > 0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(whole)
}

/// Writes the edited configuration whole; a file that is read-only (a
/// mounted ConfigMap, a package's file) is left alone.
fn write_config(path: &Path, text: &str) -> Result<(), String> {
    let readonly = std::fs::metadata(path)
        .map(|m| m.permissions().readonly())
        .unwrap_or(false);
    if readonly {
        return Err(format!("{} is read-only.", path.display()));
    }
    write_file(path, text)
}

/// `[token]` and `[token.rotation]` as they now read, to be copied by hand.
fn token_tables(document: &DocumentMut) -> String {
    let mut only = DocumentMut::new();
    if let Some(token) = document.get("token") {
        only.insert("token", token.clone());
    }
    only.to_string()
}

/// How the running server learns of the edit.
fn reload_hint(config: &Config) -> String {
    match config.watch {
        Some(interval) => format!(
            "A running server reloads it within {} (server.watch); with several instances, \
             each must see the same file.",
            humantime::format_duration(interval)
        ),
        None => "server.watch is off: reload each running instance now (SIGHUP, e.g. \
                 `systemctl reload registry-auth`)."
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_key_is_named_by_the_time_and_replaces_a_previous_time() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_105_399);
        assert_eq!(
            next_stem("keys/token.key", at),
            "keys/token-20261201-060959"
        );
        assert_eq!(
            next_stem("keys/token-20260901-120000.key", at),
            "keys/token-20261201-060959"
        );
        assert_eq!(next_stem("2026-12.key", at), "2026-12-20261201-060959");
    }
}
