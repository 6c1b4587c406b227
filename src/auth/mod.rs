//! Credentials, for every endpoint that takes them: HTTP basic (what Kazoo sends for a
//! `user:pass@` in a URL) and bearer tokens, checked by one [`Gate`]. The `[auth]` section
//! ([`config`]) says who may call `/pivot` and the admin endpoints; [`link`] builds the URLs of
//! pivot nodes so that the next call step carries the credentials it needs, as the `[pivot]`
//! section ([`pivot_config`]) says.
//!
//! Secrets are kept only as SHA-256 digests of what a client would send, and a presented
//! credential is compared with every accepted one without an early exit, so neither the length
//! nor a prefix of a secret leaks through timing. Nothing here logs or echoes a credential.

pub mod config;
pub mod link;
pub mod pivot_config;
pub mod url_token;

pub use config::{AuthConfig, AuthFileConfig};
pub use link::{PivotLink, PivotTarget};
pub use pivot_config::{PivotConfig, PivotFileConfig, PivotMethod};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::secret::Secret;

/// SHA-256 of a secret as a client sends it.
type Digest = [u8; 32];

/// Why a request was not let in (answered with 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No credentials, or credentials of a scheme this gate does not take.
    Missing,
    /// Credentials were sent and are none of the accepted ones.
    Wrong,
    /// Basic credentials `USERPASSWORD:` for a configured `USER:PASSWORD`: what Kazoo sends
    /// for `user:password@` in a GET `voice_url`, whose `:` its URL splitter drops.
    Mangled,
}

/// What a refusal says about [`Denied::Mangled`].
pub const MANGLED: &str = "credentials look like Kazoo's GET dropped the ':' of \
                           user:password@; use a token URL (/t/TOKEN/…, as `pivotforge token` \
                           prints them) or \"method\": \"post\"";

/// The credentials one endpoint accepts; open (everything passes) when it holds none.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Gate {
    /// Digests of `base64(user:password)`, as an `Authorization: Basic` header carries them.
    basic: Vec<Digest>,
    /// Digests of bearer tokens.
    tokens: Vec<Digest>,
    /// Digests of `base64(userpassword:)`, the accepted pairs with Kazoo's GET mangling, so a
    /// refusal can say why.
    mangled: Vec<Digest>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("basic", &self.basic.len())
            .field("tokens", &self.tokens.len())
            .finish()
    }
}

impl Gate {
    /// A gate that lets everything through until credentials are added.
    pub fn open() -> Gate {
        Gate::default()
    }

    /// Also accepts HTTP basic with this user and password, when given.
    pub fn basic(mut self, pair: Option<&(String, Secret)>) -> Gate {
        if let Some((user, password)) = pair {
            let encoded = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}:{}", password.expose()));
            self.basic.push(digest(encoded.as_bytes()));
            let mangled = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}{}:", password.expose()));
            self.mangled.push(digest(mangled.as_bytes()));
        }
        self
    }

    /// Also accepts this bearer token, when given.
    pub fn token(mut self, token: Option<&Secret>) -> Gate {
        if let Some(token) = token {
            self.tokens.push(digest(token.expose().as_bytes()));
        }
        self
    }

    /// True when no credentials are configured: every request passes.
    pub fn is_open(&self) -> bool {
        self.basic.is_empty() && self.tokens.is_empty()
    }

    /// True when HTTP basic credentials are accepted.
    pub fn takes_basic(&self) -> bool {
        !self.basic.is_empty()
    }

    /// True when bearer tokens are accepted.
    pub fn takes_token(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Checks an `Authorization` header (basic or bearer, whichever this gate takes).
    pub fn check(&self, authorization: Option<&str>) -> Result<(), Denied> {
        if self.is_open() {
            return Ok(());
        }
        match scheme(authorization) {
            Some((Scheme::Basic, credentials)) if self.takes_basic() => {
                match any_equal(&self.basic, credentials) {
                    Err(Denied::Wrong) if any_equal(&self.mangled, credentials).is_ok() => {
                        Err(Denied::Mangled)
                    }
                    checked => checked,
                }
            }
            Some((Scheme::Bearer, token)) if self.takes_token() => any_equal(&self.tokens, token),
            _ => Err(Denied::Missing),
        }
    }

    /// Checks a token that came another way than a header (the `auth_token` query parameter).
    pub fn check_token(&self, token: &str) -> Result<(), Denied> {
        if self.is_open() {
            return Ok(());
        }
        if !self.takes_token() {
            return Err(Denied::Missing);
        }
        any_equal(&self.tokens, token)
    }

    /// The `WWW-Authenticate` challenge of a refusal: basic when basic is accepted, so that a
    /// browser asks for a user and password.
    pub fn challenge(&self) -> &'static str {
        if self.takes_basic() {
            "Basic realm=\"pivotforge\", charset=\"UTF-8\""
        } else {
            "Bearer realm=\"pivotforge\""
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Basic,
    Bearer,
}

/// The scheme and credentials of an `Authorization` header.
fn scheme(header: Option<&str>) -> Option<(Scheme, &str)> {
    let (scheme, rest) = header?.trim().split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("basic") {
        Scheme::Basic
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else {
        return None;
    };
    Some((scheme, rest))
}

/// Whether `presented` is one of `accepted`; every digest is compared in full.
fn any_equal(accepted: &[Digest], presented: &str) -> Result<(), Denied> {
    let presented = digest(presented.trim().as_bytes());
    let mut found = false;
    for expected in accepted {
        found |= equal(expected, &presented);
    }
    if found {
        Ok(())
    } else {
        Err(Denied::Wrong)
    }
}

fn digest(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

/// Equal digests, compared without an early exit.
fn equal(a: &Digest, b: &Digest) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(user: &str, password: &str) -> (String, Secret) {
        (user.to_owned(), Secret::new(password))
    }

    #[test]
    fn an_empty_gate_is_open() {
        let gate = Gate::open().basic(None).token(None);
        assert!(gate.is_open());
        assert_eq!(gate.check(None), Ok(()));
        assert_eq!(gate.check(Some("Basic whatever")), Ok(()));
        assert_eq!(gate.check_token("x"), Ok(()));
    }

    #[test]
    fn basic_and_bearer_as_configured() {
        let gate = Gate::open()
            .basic(Some(&pair("Aladdin", "open sesame")))
            .token(Some(&Secret::new("tok-1")))
            .token(Some(&Secret::new("tok-2")));
        assert_eq!(
            gate.check(Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")),
            Ok(())
        );
        assert_eq!(
            gate.check(Some("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== ")),
            Ok(())
        );
        assert_eq!(gate.check(Some("Bearer tok-1")), Ok(()));
        assert_eq!(gate.check(Some("bearer tok-2")), Ok(()));
        assert_eq!(gate.check_token("tok-2"), Ok(()));
        assert_eq!(gate.check(Some("Bearer tok-3")), Err(Denied::Wrong));
        assert_eq!(
            gate.check(Some("Basic QWxhZGRpbjpvcGVu")),
            Err(Denied::Wrong)
        );
        assert_eq!(gate.check(None), Err(Denied::Missing));
        assert_eq!(gate.check(Some("Digest x")), Err(Denied::Missing));
        assert_eq!(gate.check_token("tok-"), Err(Denied::Wrong));
        assert!(gate.challenge().starts_with("Basic "));
    }

    #[test]
    fn kazoos_mangled_basic_is_named() {
        let gate = Gate::open().basic(Some(&pair("kazoo", "s3cret")));
        // base64("kazoos3cret:"), what a GET to http://kazoo:s3cret@host/… sends.
        assert_eq!(
            gate.check(Some("Basic a2F6b29zM2NyZXQ6")),
            Err(Denied::Mangled)
        );
        // base64("kazoo:other"): merely wrong.
        assert_eq!(
            gate.check(Some("Basic a2F6b286b3RoZXI=")),
            Err(Denied::Wrong)
        );
    }

    #[test]
    fn a_scheme_not_configured_is_missing_not_wrong() {
        let basic_only = Gate::open().basic(Some(&pair("a", "b")));
        assert_eq!(basic_only.check(Some("Bearer x")), Err(Denied::Missing));
        assert_eq!(basic_only.check_token("x"), Err(Denied::Missing));
        let token_only = Gate::open().token(Some(&Secret::new("t")));
        assert_eq!(token_only.check(Some("Basic YTpi")), Err(Denied::Missing));
        assert!(token_only.challenge().starts_with("Bearer "));
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let gate = Gate::open()
            .basic(Some(&pair("kazoo", "s3cret")))
            .token(Some(&Secret::new("up-token")));
        let shown = format!("{gate:?}");
        for secret in ["kazoo", "s3cret", "up-token"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
