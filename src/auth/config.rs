//! The `[auth]` section: credentials for `/pivot` and `/events` (what the PBX calls) and for the
//! admin endpoints, and the rule that a service reachable from the network does not start with
//! its admin endpoints open unless told so.

use std::net::SocketAddr;

use serde::Deserialize;

use super::Gate;
use crate::config_error::ConfigError;
use crate::secret::Secret;

/// Characters a pivot credential may hold: they go verbatim into the `voice_url` of the pivot
/// nodes this service builds, and Kazoo sends them as written.
pub(crate) fn url_safe(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The `[auth]` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFileConfig {
    /// HTTP basic user for `/pivot` and `/events` (with `pivot_password`).
    pub pivot_user: Option<String>,
    /// HTTP basic password for `/pivot` and `/events`.
    pub pivot_password: Option<Secret>,
    /// Token for `/pivot` and `/events` (bearer header or `auth_token` query parameter).
    pub pivot_token: Option<Secret>,
    /// HTTP basic user for the admin endpoints (with `admin_password`).
    pub admin_user: Option<String>,
    /// HTTP basic password for the admin endpoints.
    pub admin_password: Option<Secret>,
    /// Bearer token for the admin endpoints.
    pub admin_token: Option<Secret>,
    /// Start on a non-loopback address without admin credentials.
    pub allow_open: Option<bool>,
}

/// Who may call what, resolved; each part is open unless configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// HTTP basic user and password for `/pivot` and `/events`.
    pub pivot_basic: Option<(String, Secret)>,
    /// Token for `/pivot` and `/events`.
    pub pivot_token: Option<Secret>,
    /// The token of `/t/TOKEN/pivot…` and `/t/TOKEN/events…` URLs: `pivot_token`, else one
    /// derived from `pivot_basic` (see [`crate::config::Config::derive_url_tokens`]).
    pub pivot_url_token: Option<Secret>,
    /// HTTP basic user and password for the admin endpoints.
    pub admin_basic: Option<(String, Secret)>,
    /// Bearer token for the admin endpoints.
    pub admin_token: Option<Secret>,
    /// Whether an open service on a non-loopback address was asked for.
    pub allow_open: bool,
}

/// A `user` and `password` pair of section `section`: both or neither.
pub(crate) fn user_password(
    section: &str,
    prefix: &str,
    user: Option<String>,
    password: Option<Secret>,
) -> Result<Option<(String, Secret)>, ConfigError> {
    if let Some(password) = &password {
        blank(section, &format!("{prefix}_password"), password)?;
    }
    match (user, password) {
        (None, None) => Ok(None),
        (Some(user), Some(password)) if !user.trim().is_empty() && !user.contains(':') => {
            Ok(Some((user, password)))
        }
        _ => Err(ConfigError(format!(
            "[{section}] {prefix}_user and {prefix}_password go together: set both (a user \
             without `:`, a non-empty password) or neither"
        ))),
    }
}

/// A token of section `section`: absent, or not empty nor only whitespace.
pub(crate) fn token(
    section: &str,
    name: &str,
    token: Option<Secret>,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(t) = &token {
        blank(section, name, t)?;
    }
    Ok(token)
}

/// Refuses a secret that is empty or only whitespace: it would protect nothing (or, trimmed
/// by a client, never match), and an operator who wrote the line meant to set one.
fn blank(section: &str, name: &str, secret: &Secret) -> Result<(), ConfigError> {
    if secret.expose().trim().is_empty() {
        return Err(ConfigError(format!(
            "[{section}] {name} is empty or only whitespace: set a secret (e.g. `openssl rand \
             -hex 24`) or remove the line"
        )));
    }
    Ok(())
}

impl AuthFileConfig {
    /// Checks the section; `allow_open` is the command line's or environment's say, if any.
    pub fn resolve(self, allow_open: Option<bool>) -> Result<AuthConfig, ConfigError> {
        let pivot_basic = user_password("auth", "pivot", self.pivot_user, self.pivot_password)?;
        let pivot_token = token("auth", "pivot_token", self.pivot_token)?;
        let in_url = pivot_basic
            .iter()
            .flat_map(|(u, p)| [("pivot_user", u.as_str()), ("pivot_password", p.expose())])
            .chain(pivot_token.iter().map(|t| ("pivot_token", t.expose())));
        for (name, value) in in_url {
            if !url_safe(value) {
                return Err(ConfigError(format!(
                    "[auth] {name} may hold only letters, digits and - . _ ~: it goes as written \
                     into the voice_url of the pivot nodes this service builds, which Kazoo \
                     calls (e.g. generate one with `openssl rand -hex 24`)"
                )));
            }
        }
        Ok(AuthConfig {
            pivot_basic,
            pivot_url_token: pivot_token.clone(),
            pivot_token,
            admin_basic: user_password("auth", "admin", self.admin_user, self.admin_password)?,
            admin_token: token("auth", "admin_token", self.admin_token)?,
            allow_open: allow_open.or(self.allow_open).unwrap_or(false),
        })
    }
}

impl AuthConfig {
    /// Whether `/pivot` and `/events` need credentials.
    pub fn pivot_protected(&self) -> bool {
        self.pivot_basic.is_some() || self.pivot_token.is_some()
    }

    /// Whether the admin endpoints need credentials.
    pub fn admin_protected(&self) -> bool {
        self.admin_basic.is_some() || self.admin_token.is_some()
    }

    /// Who may call `/pivot` and `/events`: the pivot credentials, and the admin ones too (so
    /// that a person can try a flow); open when no pivot credentials are set.
    pub fn pivot_gate(&self) -> Gate {
        if !self.pivot_protected() {
            return Gate::open();
        }
        Gate::open()
            .basic(self.pivot_basic.as_ref())
            .token(self.pivot_token.as_ref())
            .token(self.pivot_url_token.as_ref())
            .basic(self.admin_basic.as_ref())
            .token(self.admin_token.as_ref())
    }

    /// Who may call the admin endpoints.
    pub fn admin_gate(&self) -> Gate {
        Gate::open()
            .basic(self.admin_basic.as_ref())
            .token(self.admin_token.as_ref())
    }

    /// Refuses to serve the admin endpoints to the network without credentials, unless
    /// `allow_open`; gives the warnings to log when it does start.
    pub fn exposure(&self, listen: SocketAddr) -> Result<Vec<String>, ConfigError> {
        if listen.ip().is_loopback() {
            return Ok(Vec::new());
        }
        let mut warnings = Vec::new();
        if !self.admin_protected() {
            if !self.allow_open {
                return Err(ConfigError(format!(
                    "refusing to listen on {listen} with the admin endpoints (/calls, /metrics, \
                     /userspace, /run, /flows, /ui, /recordings) open to the network: set \
                     [auth] admin_token or admin_user and admin_password, or, if an open \
                     service is really wanted, set [auth] allow_open = true, pass --allow-open \
                     or PIVOTFORGE_ALLOW_OPEN=1"
                )));
            }
            warnings.push(format!(
                "the admin endpoints are open to the network on {listen} (allow_open)"
            ));
        }
        if !self.pivot_protected() {
            warnings.push(format!(
                "/pivot and /events are open to the network on {listen}: anyone who reaches it \
                 can run your flows; set [auth] pivot_user and pivot_password or pivot_token"
            ));
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AuthConfig, ConfigError> {
        toml::from_str::<AuthFileConfig>(text)
            .map_err(|e| ConfigError(e.to_string()))?
            .resolve(None)
    }

    #[test]
    fn nothing_set_is_open() {
        let auth = parse("").unwrap();
        assert!(!auth.pivot_protected() && !auth.admin_protected());
        assert!(auth.pivot_gate().is_open() && auth.admin_gate().is_open());
    }

    #[test]
    fn pivot_credentials_must_fit_in_a_url() {
        for bad in [
            "pivot_user = \"ka zoo\"\npivot_password = \"x\"",
            "pivot_user = \"kazoo\"\npivot_password = \"p@ss\"",
            "pivot_token = \"a/b\"",
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains("letters, digits"), "{bad}: {err}");
        }
        let ok = parse("pivot_user = \"kazoo\"\npivot_password = \"A-b.c_d~9\"").unwrap();
        assert!(ok.pivot_protected());
    }

    #[test]
    fn pairs_go_together_and_tokens_are_not_empty() {
        for (bad, says) in [
            ("admin_user = \"ops\"", "go together"),
            ("pivot_password = \"x\"", "go together"),
            ("admin_token = \"\"", "admin_token is empty"),
            (
                "admin_token = \" \\t \"",
                "[auth] admin_token is empty or only whitespace",
            ),
            (
                "admin_user = \"ops\"\nadmin_password = \"  \"",
                "[auth] admin_password is empty or only whitespace",
            ),
            (
                "pivot_token = \"\\n\"",
                "[auth] pivot_token is empty or only whitespace",
            ),
            ("allow_opn = true", "unknown field"),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn admin_credentials_open_the_pivot_gate_too() {
        let auth = parse("pivot_token = \"p1\"\nadmin_token = \"a1\"").unwrap();
        assert_eq!(auth.pivot_gate().check(Some("Bearer a1")), Ok(()));
        assert_eq!(auth.pivot_gate().check(Some("Bearer p1")), Ok(()));
        assert!(auth.admin_gate().check(Some("Bearer p1")).is_err());
    }

    #[test]
    fn exposure_on_the_network() {
        let open = parse("").unwrap();
        let loopback: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let v6_loopback: SocketAddr = "[::1]:8080".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(open.exposure(loopback).unwrap().is_empty());
        assert!(open.exposure(v6_loopback).unwrap().is_empty());
        let err = open.exposure(any).unwrap_err().to_string();
        assert!(
            err.contains("allow_open") && err.contains("--allow-open"),
            "{err}"
        );
        let allowed = AuthConfig {
            allow_open: true,
            ..open.clone()
        };
        assert_eq!(allowed.exposure(any).unwrap().len(), 2);
        let admin = parse("admin_token = \"a1\"").unwrap();
        let warnings = admin.exposure(any).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("/pivot"), "{warnings:?}");
        let flag = toml::from_str::<AuthFileConfig>("allow_open = false")
            .unwrap()
            .resolve(Some(true))
            .unwrap();
        assert!(flag.allow_open);
    }
}
