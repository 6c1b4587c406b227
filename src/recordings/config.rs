//! The `[recordings]` section: where uploads go, how large and slow they may be, and the
//! credentials uploading and reading them need.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::config::{token, url_safe, user_password};
use crate::config_error::{at_least_one, ConfigError};
use crate::secret::Secret;

/// Default largest recording upload (1 GiB: about 18 hours of 128 kbit/s MP3).
pub const DEFAULT_MAX_RECORDING: u64 = 1024 * 1024 * 1024;
/// Recording uploads, resolved; authentication is off unless credentials are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingsConfig {
    /// Where recordings are stored; `None` means `DATA_DIR/recordings`.
    pub dir: Option<PathBuf>,
    /// Largest upload in bytes; a larger one is refused with 413.
    pub max_bytes: u64,
    /// HTTP basic user and password uploads must carry.
    pub upload_basic: Option<(String, Secret)>,
    /// Bearer token uploads may carry instead.
    pub upload_token: Option<Secret>,
    /// The token of `/t/TOKEN/recordings…` upload URLs: `upload_token`, else one derived from
    /// `upload_basic` (see [`crate::config::Config::derive_url_tokens`]).
    pub upload_url_token: Option<Secret>,
    /// Bearer token that listing, downloading and deleting need.
    pub admin_token: Option<Secret>,
    /// An upload that receives nothing for this long is dropped (ms).
    pub idle_timeout_ms: u64,
    /// An upload averaging less than this after its first 30 s is dropped (bytes per second).
    pub min_bytes_per_s: u64,
    /// How long an upload runs before its average rate is checked (ms): 30 s, not a config
    /// key; tests shorten it.
    pub rate_grace_ms: u64,
}

/// Default idle time after which an upload is dropped (30 s).
pub const DEFAULT_UPLOAD_IDLE_MS: u64 = 30_000;
/// Default slowest average rate of an upload after its first 30 s (16 KiB/s).
pub const DEFAULT_UPLOAD_MIN_RATE: u64 = 16 * 1024;
/// How long an upload runs before its average rate counts (30 s: a PBX may start slowly).
pub const UPLOAD_RATE_GRACE_MS: u64 = 30_000;

impl Default for RecordingsConfig {
    fn default() -> RecordingsConfig {
        RecordingsConfig {
            dir: None,
            max_bytes: DEFAULT_MAX_RECORDING,
            upload_basic: None,
            upload_token: None,
            upload_url_token: None,
            admin_token: None,
            idle_timeout_ms: DEFAULT_UPLOAD_IDLE_MS,
            min_bytes_per_s: DEFAULT_UPLOAD_MIN_RATE,
            rate_grace_ms: UPLOAD_RATE_GRACE_MS,
        }
    }
}

/// The `[recordings]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingsFileConfig {
    /// Folder for recordings, relative to the config file.
    pub dir: Option<PathBuf>,
    /// Largest upload in bytes.
    pub max_bytes: Option<u64>,
    /// HTTP basic user for uploads (with `upload_password`).
    pub upload_user: Option<String>,
    /// HTTP basic password for uploads.
    pub upload_password: Option<Secret>,
    /// Bearer token for uploads.
    pub upload_token: Option<Secret>,
    /// Bearer token for listing, downloading and deleting.
    pub admin_token: Option<Secret>,
    /// Milliseconds without a byte after which an upload is dropped.
    pub idle_timeout_ms: Option<u64>,
    /// Slowest average rate (bytes/s) of an upload after its first 30 s; 0 turns the check off.
    pub min_bytes_per_s: Option<u64>,
}

impl RecordingsFileConfig {
    /// Checks the section and resolves `dir` against the config file's folder.
    pub fn resolve(self, base: &Path) -> Result<RecordingsConfig, ConfigError> {
        let max_bytes = self.max_bytes.unwrap_or(DEFAULT_MAX_RECORDING);
        if max_bytes == 0 {
            return Err(ConfigError(
                "[recordings] max_bytes must be at least 1".into(),
            ));
        }
        let upload_token = token("recordings", "upload_token", self.upload_token)?;
        if upload_token.as_ref().is_some_and(|t| !url_safe(t.expose())) {
            return Err(ConfigError(
                "[recordings] upload_token may hold only letters, digits and - . _ ~: it goes as \
                 written into the upload URLs (/t/TOKEN/recordings) this service builds (e.g. \
                 generate one with `openssl rand -hex 24`)"
                    .into(),
            ));
        }
        Ok(RecordingsConfig {
            dir: self.dir.map(|d| base.join(d)),
            max_bytes,
            upload_basic: user_password(
                "recordings",
                "upload",
                self.upload_user,
                self.upload_password,
            )?,
            upload_url_token: upload_token.clone(),
            upload_token,
            admin_token: token("recordings", "admin_token", self.admin_token)?,
            idle_timeout_ms: at_least_one(
                "[recordings] idle_timeout_ms",
                self.idle_timeout_ms.unwrap_or(DEFAULT_UPLOAD_IDLE_MS),
            )?,
            min_bytes_per_s: self.min_bytes_per_s.unwrap_or(DEFAULT_UPLOAD_MIN_RATE),
            rate_grace_ms: UPLOAD_RATE_GRACE_MS,
        })
    }
}
