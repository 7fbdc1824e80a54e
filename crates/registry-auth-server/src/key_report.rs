//! `keys list`, and the signing certificate's expiry: which keys a
//! configuration signs with and publishes, and a warning (in the log and
//! in `/metrics`) before the signing certificate runs out, since a
//! registry refuses tokens whose `x5c` certificate has expired.

use std::path::Path;
use std::time::{Duration, SystemTime};

use registry_auth::token::{JwtGenerator, certificate_validity};

use crate::config::{Config, MissingKey, Rotation};
use crate::keys::day;

/// A signing certificate closer than this to its end draws a warning.
const WARN_BEFORE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How a certificate's dates read: from, until, and the days left (or
/// that it has expired).
fn dates(der: Option<&[u8]>, now: SystemTime) -> String {
    let Some((not_before, not_after)) = der.and_then(certificate_validity) else {
        return "no certificate".to_owned();
    };
    let left = match not_after.duration_since(now) {
        Ok(left) => format!("{} days", left.as_secs() / 86_400),
        Err(_) => "EXPIRED".to_owned(),
    };
    format!("{}..{} ({left})", day(not_before), day(not_after))
}

/// `keys list`: one line per key, signing key first, then where a
/// rotation stands.
pub(crate) fn list(config_path: &Path) -> Result<(), String> {
    let config = Config::load(config_path).map_err(|e| e.to_string())?;
    let generator = config
        .jwt_generator(MissingKey::Refuse)
        .map_err(|e| e.to_string())?;
    let now = SystemTime::now();
    let signing = generator.signing_key();
    let row = |role: &str, alg: &str, libtrust: &str, thumbprint: &str, dates: &str, file: &str| {
        println!("{role:<10} {alg:<6} {libtrust:<60} {thumbprint:<44} {dates:<36} {file}");
    };
    row(
        "ROLE",
        "ALG",
        "LIBTRUST ID",
        "THUMBPRINT",
        "CERTIFICATE",
        "FILE",
    );
    row(
        "signing",
        signing.algorithm().as_str(),
        &signing.libtrust_key_id(),
        &signing.jwk_thumbprint(),
        &dates(
            generator.certificate_chain().first().map(Vec::as_slice),
            now,
        ),
        &config.signing_key.display().to_string(),
    );
    for (path, key) in config.published_keys.iter().zip(generator.published_keys()) {
        let role = match &config.rotation {
            Rotation::Prepared { certificate, .. } if certificate == path => "next",
            Rotation::Promoted { retiring, .. } if retiring == path => "retiring",
            _ => "published",
        };
        row(
            role,
            key.algorithm().as_str(),
            &key.libtrust_key_id(),
            &key.jwk_thumbprint(),
            &dates(key.certificate_der(), now),
            &path.display().to_string(),
        );
    }
    match &config.rotation {
        Rotation::Idle => {}
        Rotation::Prepared { key, .. } => println!(
            "\nrotation: {} is prepared; once the registries trust it, `keys rotate promote`",
            key.display()
        ),
        Rotation::Promoted {
            at, retire_after, ..
        } => println!(
            "\nrotation: promoted at {}; `keys rotate retire` from {}",
            humantime::format_rfc3339_seconds(*at),
            humantime::format_rfc3339_seconds(*retire_after)
        ),
    }
    Ok(())
}

/// When the signing certificate of `generator` ends, if it has one.
pub(crate) fn signing_certificate_end(generator: &JwtGenerator) -> Option<SystemTime> {
    let leaf = generator.certificate_chain().first()?;
    certificate_validity(leaf).map(|(_, not_after)| not_after)
}

/// At start and on every reload, for the signing certificate in force:
/// the seconds it has left as a gauge (negative once expired), and a
/// warning when fewer than 30 days are left.
pub(crate) fn report_signing_certificate(not_after: Option<SystemTime>) {
    let Some(not_after) = not_after else {
        return;
    };
    let now = SystemTime::now();
    let left = match not_after.duration_since(now) {
        Ok(left) => left.as_secs_f64(),
        Err(past) => -past.duration().as_secs_f64(),
    };
    metrics::gauge!("registry_auth_signing_certificate_expiry_seconds").set(left);
    if left < WARN_BEFORE.as_secs_f64() {
        tracing::warn!(
            not_after = %day(not_after),
            days_left = (left / 86_400.0).floor(),
            "the signing certificate expires soon (or has): registries refuse tokens \
             whose certificate has expired; change the key with `registry-auth keys rotate prepare`"
        );
    }
}
