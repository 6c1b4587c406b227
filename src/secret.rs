//! A password or token that must never reach a log line: [`Secret`] hides its value from `Debug`.
//! A leaf: every section that holds credentials uses it, and it uses nothing of the crate.

use serde::Deserialize;

/// A password or token: never shown by `Debug`, so it can't reach a log line.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The secret itself, for comparing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A URL that may carry a password (`redis://:PASSWORD@host/0`): `Debug` and [`SecretUrl::masked`]
/// show it with the password replaced by `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps a URL.
    pub fn new(url: impl Into<String>) -> SecretUrl {
        SecretUrl(url.into())
    }

    /// The URL itself, for connecting.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password (the part of the authority between `:` and `@`, or all of it
    /// when there is no user name) replaced by `***`, for messages.
    pub fn masked(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
            return url.clone();
        };
        let rest = &url[scheme_end..];
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let Some(at) = rest[..authority_end].rfind('@') else {
            return url.clone();
        };
        let user = rest[..at].split_once(':').map_or("", |(user, _)| user);
        format!("{}{user}:***{}", &url[..scheme_end], &rest[at..])
    }

    /// The password the URL carries, if any (what logs must mask).
    pub fn password(&self) -> Option<&str> {
        let rest = &self.0[self.0.find("://")? + 3..];
        let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
        let userinfo = &authority[..authority.rfind('@')?];
        let password = userinfo.split_once(':').map_or(userinfo, |(_, p)| p);
        (!password.is_empty()).then_some(password)
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretUrl({})", self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_shows_without_its_password() {
        let url = SecretUrl::new("redis://:hunter2@cache:6379/0");
        assert_eq!(url.masked(), "redis://:***@cache:6379/0");
        assert_eq!(url.password(), Some("hunter2"));
        assert!(!format!("{url:?}").contains("hunter2"));
        let user = SecretUrl::new("rediss://app:p@ss@cache/1");
        assert_eq!(user.masked(), "rediss://app:***@cache/1");
        assert_eq!(user.password(), Some("p@ss"));
        let plain = SecretUrl::new("redis://127.0.0.1:6379/0");
        assert_eq!(plain.masked(), "redis://127.0.0.1:6379/0");
        assert_eq!(plain.password(), None);
    }
}
