//! The `[pivot]` section: how the PBX sends the requests of the pivot nodes this service builds
//! ([`super::PivotLink`] writes them).

use serde::Deserialize;

use crate::config_error::ConfigError;

/// How the PBX sends the requests of pivot nodes this service builds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PivotMethod {
    /// `"method": "post"` with a form body: OTP 25's HTTP client (Kazoo's) refuses a GET URL
    /// whose query holds the raw `[`/`]` of `Digits[name]=…`, a form body carries them fine.
    #[default]
    Post,
    /// `"method": "get"`, Kazoo's own default.
    Get,
}

/// The `[pivot]` section, resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PivotConfig {
    /// The method of built pivot nodes.
    pub method: PivotMethod,
}

/// The `[pivot]` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PivotFileConfig {
    /// `post` (default) or `get`.
    pub method: Option<String>,
}

impl PivotFileConfig {
    /// Checks the section.
    pub fn resolve(self) -> Result<PivotConfig, ConfigError> {
        let method = match self
            .method
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("post") => PivotMethod::Post,
            Some("get") => PivotMethod::Get,
            Some(other) => {
                return Err(ConfigError(format!(
                    "[pivot] method = \"{other}\" is not a method: use \"post\" (the default, \
                     a form body) or \"get\""
                )))
            }
        };
        Ok(PivotConfig { method })
    }
}
