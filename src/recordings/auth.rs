//! Who may upload: optional HTTP basic credentials (what Kazoo sends for `user:pass@` in a
//! recording URL) or a bearer token, off unless configured in `[recordings]`. Listing,
//! downloading and deleting are admin requests, checked with the other admin endpoints by the
//! server's guard (`[auth]` admin credentials or `[recordings] admin_token`).
//!
//! The checking itself is [`crate::auth::Gate`]: digests, compared in constant time.

use super::RecordingsConfig;
use crate::auth::{self, Gate};

/// Why an upload was not let in (answered with 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No `Authorization` header, or one of a scheme uploads do not take.
    #[error("{0}")]
    Missing(&'static str),
    /// Credentials were sent and are not the configured ones.
    #[error("the credentials sent are not the ones configured in [recordings]; check the user, password or token")]
    Wrong,
}

/// The upload credentials, kept only as digests.
#[derive(Clone, Default, Debug)]
pub struct Access {
    upload: Gate,
}

impl Access {
    /// The upload rules of a `[recordings]` configuration.
    pub fn new(config: &RecordingsConfig) -> Access {
        Access {
            upload: Gate::open()
                .basic(config.upload_basic.as_ref())
                .token(config.upload_token.as_ref())
                .token(config.upload_url_token.as_ref()),
        }
    }

    /// Checks the token of a `/t/TOKEN/recordings…` upload URL.
    pub fn upload_url_token(&self, token: &str) -> Result<(), Denied> {
        self.upload.check_token(token).map_err(|_| Denied::Wrong)
    }

    /// Whether uploads need credentials.
    pub fn upload_protected(&self) -> bool {
        !self.upload.is_open()
    }

    /// Checks an upload's `Authorization` header: basic or bearer, whichever is configured.
    pub fn upload(&self, authorization: Option<&str>) -> Result<(), Denied> {
        self.upload
            .check(authorization)
            .map_err(|denied| match denied {
                auth::Denied::Wrong => Denied::Wrong,
                auth::Denied::Mangled => Denied::Missing(auth::MANGLED),
                auth::Denied::Missing => Denied::Missing(
                    "uploads need credentials: use the upload URL /t/TOKEN/recordings (as \
                 `pivotforge token` prints it and {{recordings_url}} builds it) or send \
                 Authorization: Bearer with the upload token",
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn access(basic: bool, token: bool) -> Access {
        Access::new(&RecordingsConfig {
            upload_basic: basic.then(|| ("kazoo".to_owned(), Secret::new("s3cret:x"))),
            upload_token: token.then(|| Secret::new("up-token")),
            admin_token: Some(Secret::new("admin-token")),
            ..RecordingsConfig::default()
        })
    }

    #[test]
    fn uploads_are_open_by_default() {
        let open = access(false, false);
        assert!(!open.upload_protected());
        assert!(open.upload(None).is_ok());
        assert!(open.upload(Some("Basic whatever")).is_ok());
    }

    #[test]
    fn uploads_take_basic_or_bearer_as_configured() {
        let both = access(true, true);
        // "kazoo:s3cret:x" in base64.
        let basic = "Basic a2F6b286czNjcmV0Ong=";
        assert_eq!(both.upload(Some(basic)), Ok(()));
        assert_eq!(both.upload(Some("bearer up-token")), Ok(()));
        // The admin token opens no upload.
        assert_eq!(both.upload(Some("Bearer admin-token")), Err(Denied::Wrong));
        assert!(matches!(both.upload(None), Err(Denied::Missing(_))));
        assert!(matches!(
            access(true, false).upload(Some("Bearer up-token")),
            Err(Denied::Missing(_))
        ));
    }
}
