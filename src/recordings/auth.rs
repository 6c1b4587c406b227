//! Who may upload, and who may list, download and delete: optional HTTP basic credentials (what
//! Kazoo sends for `user:pass@` in a recording URL) or bearer tokens, off unless configured.
//!
//! Secrets are compared through their SHA-256 digests with a comparison that does not stop at
//! the first difference, so neither the length nor a prefix of a secret leaks through timing.
//! Nothing here logs or echoes a presented credential.

use sha2::{Digest, Sha256};

use crate::config::RecordingsConfig;

/// Why a request was not let in (answered with 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No `Authorization` header, or one of a scheme this endpoint does not take.
    #[error("{0}")]
    Missing(&'static str),
    /// Credentials were sent and are not the configured ones.
    #[error("the credentials sent are not the ones configured in [recordings]; check the user, password or token")]
    Wrong,
}

/// The configured secrets, kept only as digests of what a client's header would carry.
#[derive(Clone, Default)]
pub struct Access {
    /// Digest of `base64(user:password)`.
    upload_basic: Option<[u8; 32]>,
    /// Digest of the upload bearer token.
    upload_token: Option<[u8; 32]>,
    /// Digest of the admin bearer token.
    admin_token: Option<[u8; 32]>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("upload_basic", &self.upload_basic.is_some())
            .field("upload_token", &self.upload_token.is_some())
            .field("admin_token", &self.admin_token.is_some())
            .finish()
    }
}

impl Access {
    /// The access rules of a `[recordings]` configuration.
    pub fn new(config: &RecordingsConfig) -> Access {
        let upload_basic = config.upload_basic.as_ref().map(|(user, password)| {
            let pair = format!("{user}:{}", password.expose());
            digest(base64(pair.as_bytes()).as_bytes())
        });
        Access {
            upload_basic,
            upload_token: config
                .upload_token
                .as_ref()
                .map(|t| digest(t.expose().as_bytes())),
            admin_token: config
                .admin_token
                .as_ref()
                .map(|t| digest(t.expose().as_bytes())),
        }
    }

    /// Whether uploads need credentials.
    pub fn upload_protected(&self) -> bool {
        self.upload_basic.is_some() || self.upload_token.is_some()
    }

    /// Checks an upload's `Authorization` header: basic or bearer, whichever is configured.
    pub fn upload(&self, authorization: Option<&str>) -> Result<(), Denied> {
        if !self.upload_protected() {
            return Ok(());
        }
        let (expected, presented) = match scheme(authorization) {
            Some(("basic", credentials)) if self.upload_basic.is_some() => {
                (self.upload_basic, credentials)
            }
            Some(("bearer", token)) if self.upload_token.is_some() => (self.upload_token, token),
            _ => {
                return Err(Denied::Missing(
                    "uploads need credentials: put user:password@ in the record_call url \
                     (HTTP basic) or send Authorization: Bearer with the upload token",
                ))
            }
        };
        check(expected, presented)
    }

    /// Checks the `Authorization` header of a listing, download or delete.
    pub fn admin(&self, authorization: Option<&str>) -> Result<(), Denied> {
        if self.admin_token.is_none() {
            return Ok(());
        }
        match scheme(authorization) {
            Some(("bearer", token)) => check(self.admin_token, token),
            _ => Err(Denied::Missing(
                "listing, downloading and deleting recordings need Authorization: Bearer with \
                 the admin token",
            )),
        }
    }
}

/// Compares a presented credential with an expected digest.
fn check(expected: Option<[u8; 32]>, presented: &str) -> Result<(), Denied> {
    match expected {
        Some(expected) if equal(&expected, &digest(presented.trim().as_bytes())) => Ok(()),
        _ => Err(Denied::Wrong),
    }
}

/// The scheme (lower-cased) and credentials of an `Authorization` header.
fn scheme(header: Option<&str>) -> Option<(&'static str, &str)> {
    let (scheme, rest) = header?.trim().split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("basic") {
        "basic"
    } else if scheme.eq_ignore_ascii_case("bearer") {
        "bearer"
    } else {
        return None;
    };
    Some((scheme, rest))
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Equal digests, compared without an early exit.
fn equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Standard base64 with padding (RFC 4648), as HTTP basic credentials are sent.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for group in input.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn access(basic: bool, token: bool, admin: bool) -> Access {
        Access::new(&RecordingsConfig {
            upload_basic: basic.then(|| ("kazoo".to_owned(), Secret::new("s3cret:x"))),
            upload_token: token.then(|| Secret::new("up-token")),
            admin_token: admin.then(|| Secret::new("admin-token")),
            ..RecordingsConfig::default()
        })
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn everything_is_open_by_default() {
        let open = access(false, false, false);
        assert!(open.upload(None).is_ok());
        assert!(open.upload(Some("Basic whatever")).is_ok());
        assert!(open.admin(None).is_ok());
    }

    #[test]
    fn uploads_take_basic_or_bearer_as_configured() {
        let both = access(true, true, false);
        let basic = format!("Basic {}", base64(b"kazoo:s3cret:x"));
        assert_eq!(both.upload(Some(&basic)), Ok(()));
        assert_eq!(both.upload(Some("bearer up-token")), Ok(()));
        assert_eq!(both.upload(Some("Bearer admin-token")), Err(Denied::Wrong));
        let wrong = format!("Basic {}", base64(b"kazoo:s3cret"));
        assert_eq!(both.upload(Some(&wrong)), Err(Denied::Wrong));
        assert!(matches!(both.upload(None), Err(Denied::Missing(_))));
        assert!(matches!(
            both.upload(Some("Digest x")),
            Err(Denied::Missing(_))
        ));
        let basic_only = access(true, false, false);
        assert!(matches!(
            basic_only.upload(Some("Bearer up-token")),
            Err(Denied::Missing(_))
        ));
        // Upload credentials open nothing else, and the admin token opens no upload.
        let admin = access(true, false, true);
        assert!(matches!(admin.admin(Some(&basic)), Err(Denied::Missing(_))));
        assert_eq!(admin.admin(Some("Bearer admin-token")), Ok(()));
        assert_eq!(admin.admin(Some("Bearer admin-tokenx")), Err(Denied::Wrong));
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let shown = format!("{:?}", access(true, true, true));
        for secret in ["up-token", "admin-token", "s3cret", "kazoo"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
