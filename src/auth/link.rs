//! The URL of a pivot back to this service, as the pivot nodes it builds carry it: with
//! `/pivot` protected, the next call step must bring the credentials, and Kazoo can only take
//! them from the URL — `http://user:password@host/pivot/NAME` for basic, else
//! `…/pivot/NAME?auth_token=…`. The plain public URL stays for everything else.
//!
//! The link holds secrets: its `Debug` shows none, and it is never logged.

use super::AuthConfig;

/// How to write the `voice_url` of a pivot to one of this service's flows.
#[derive(Clone, PartialEq, Eq)]
pub struct PivotLink {
    /// The public URL, with `user:password@` when basic credentials protect `/pivot`.
    base: String,
    /// `""`, or `?auth_token=…` when only a token protects `/pivot`.
    query: String,
}

impl std::fmt::Debug for PivotLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PivotLink")
            .field(
                "credentials",
                &(self.base.contains('@') || !self.query.is_empty()),
            )
            .finish()
    }
}

impl PivotLink {
    /// Pivots to `public_url` with no credentials.
    pub fn plain(public_url: &str) -> PivotLink {
        PivotLink {
            base: public_url.trim_end_matches('/').to_owned(),
            query: String::new(),
        }
    }

    /// Pivots to `public_url` carrying what `[auth]` asks of `/pivot` (basic when set, else the
    /// token). The credentials were checked to be URL-safe when the config was read.
    pub fn new(public_url: &str, auth: &AuthConfig) -> PivotLink {
        let mut link = PivotLink::plain(public_url);
        if let Some((user, password)) = &auth.pivot_basic {
            if let Some((scheme, rest)) = link.base.split_once("://") {
                link.base = format!("{scheme}://{user}:{}@{rest}", password.expose());
            }
        } else if let Some(token) = &auth.pivot_token {
            link.query = format!("?auth_token={}", token.expose());
        }
        link
    }

    /// The `voice_url` of flow `name`.
    pub fn flow_url(&self, name: &str) -> String {
        format!("{}/pivot/{name}{}", self.base, self.query)
    }

    /// What comes before `/pivot/NAME` (for the script prelude).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// What comes after `/pivot/NAME`: empty or `?auth_token=…` (for the script prelude).
    pub fn query(&self) -> &str {
        &self.query
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[test]
    fn urls_carry_what_the_pivot_gate_asks_for() {
        let plain = PivotLink::plain("https://pf.example.com/base/");
        assert_eq!(
            plain.flow_url("sales/main"),
            "https://pf.example.com/base/pivot/sales/main"
        );
        let token = AuthConfig {
            pivot_token: Some(Secret::new("t0k")),
            ..AuthConfig::default()
        };
        let link = PivotLink::new("http://pf:8080", &token);
        assert_eq!(link.flow_url("a"), "http://pf:8080/pivot/a?auth_token=t0k");
        let basic = AuthConfig {
            pivot_basic: Some(("kazoo".into(), Secret::new("pw1"))),
            ..token
        };
        let link = PivotLink::new("http://pf:8080", &basic);
        assert_eq!(link.flow_url("a"), "http://kazoo:pw1@pf:8080/pivot/a");
        let shown = format!("{link:?}");
        assert!(
            !shown.contains("pw1") && !shown.contains("kazoo"),
            "{shown}"
        );
    }
}
