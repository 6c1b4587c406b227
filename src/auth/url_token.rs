//! Credentials in the path of a URL: `/t/TOKEN/pivot/NAME`, `/t/TOKEN/recordings/…`,
//! `/t/TOKEN/events/NAME`. It is the one form that survives every way Kazoo builds a URL: a GET
//! rebuilds `voice_url` and drops the `:` of `user:password@`, and `record_caller` appends
//! `/<CALL_ID>.<ext>` after any query, so neither basic credentials nor `?auth_token=` reach us
//! from every node. `/t/` is a top-level prefix, so it can't collide with a flow name (flows live
//! under `/pivot/`).
//!
//! A route protected by basic credentials only gets a token derived from them: HMAC-SHA256 of
//! the user and password under a random key kept in the data folder (`url-token.key`, created on
//! first start, mode 0600). The token is stable across restarts, changes when the password does,
//! and reveals nothing of the password.

use std::io::Write as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::secret::Secret;

/// The first path segment of a URL that carries a token.
pub const PREFIX: &str = "/t/";

/// The key file, in the data folder.
pub const KEY_FILE: &str = "url-token.key";

/// Why a `/t/…` path can't be used (answered 401 or 404 by the guard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitError {
    /// `/t/` or `/t//…`: no token.
    NoToken,
    /// `/t/TOKEN` with nothing after it.
    NoRoute,
}

/// Splits `/t/TOKEN/rest` into the token and `/rest`; `None` when the path has no `/t/` prefix.
pub fn split(path: &str) -> Option<Result<(&str, &str), SplitError>> {
    let after = path.strip_prefix(PREFIX)?;
    let (token, rest) = match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, ""),
    };
    Some(if token.is_empty() {
        Err(SplitError::NoToken)
    } else if rest.trim_start_matches('/').is_empty() {
        Err(SplitError::NoRoute)
    } else {
        Ok((token, rest))
    })
}

/// The token derived from basic credentials for `purpose` (`pivot` or `upload`), under the key
/// of `data_dir` (created when missing).
pub fn derive(
    data_dir: &Path,
    purpose: &str,
    user: &str,
    password: &Secret,
) -> std::io::Result<Secret> {
    let key = key(data_dir)?;
    // The purpose is part of the message so the same password gives different tokens per route.
    let message = format!(
        "pivotforge-url-token\0{purpose}\0{user}\0{}",
        password.expose()
    );
    Ok(Secret::new(hex(&hmac_sha256(&key, message.as_bytes()))))
}

/// The key of `data_dir`, created with mode 0600 on first use. A new key is written to a
/// temporary file and hard-linked into place, which fails if another process got there first:
/// then its key is used, so concurrent starts agree.
fn key(data_dir: &Path) -> std::io::Result<Vec<u8>> {
    let path = data_dir.join(KEY_FILE);
    match read_key(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    std::fs::create_dir_all(data_dir)?;
    let mut fresh = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut fresh))?;
    let temp = data_dir.join(format!(".{KEY_FILE}.{}", std::process::id()));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temp)?;
        file.write_all(hex(&fresh).as_bytes())?;
        file.sync_all()?;
    }
    let linked = std::fs::hard_link(&temp, &path);
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(fresh.to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_key(&path),
        Err(e) => Err(e),
    }
}

fn read_key(path: &Path) -> std::io::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path)?;
    let text = text.trim();
    let bytes = (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .filter(|b| b.len() >= 16);
    bytes.ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{}: not a URL token key (hex, at least 32 digits); remove it to make a new one \
                 (derived token URLs change)",
                path.display()
            ),
        )
    })
}

/// HMAC-SHA256 (RFC 2104), on the `sha2` already used for recordings.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn paths_split_into_token_and_route() {
        assert_eq!(split("/pivot/main"), None);
        assert_eq!(split("/tt/x/pivot/a"), None);
        assert_eq!(split("/t/abc/pivot/a"), Some(Ok(("abc", "/pivot/a"))));
        assert_eq!(split("/t/"), Some(Err(SplitError::NoToken)));
        assert_eq!(split("/t//pivot/a"), Some(Err(SplitError::NoToken)));
        assert_eq!(split("/t/abc"), Some(Err(SplitError::NoRoute)));
        assert_eq!(split("/t/abc/"), Some(Err(SplitError::NoRoute)));
    }

    #[test]
    fn derived_tokens_are_stable_private_and_per_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let pw = Secret::new("s3cret");
        let a = derive(dir.path(), "pivot", "kazoo", &pw).unwrap();
        let b = derive(dir.path(), "pivot", "kazoo", &pw).unwrap();
        assert_eq!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 64);
        assert!(!a.expose().contains("s3cret"));
        let upload = derive(dir.path(), "upload", "kazoo", &pw).unwrap();
        assert_ne!(a.expose(), upload.expose());
        let other = tempfile::tempdir().unwrap();
        assert_ne!(
            derive(other.path(), "pivot", "kazoo", &pw)
                .unwrap()
                .expose(),
            a.expose()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
