//! Configuration: built-in defaults that run with no file at all, then a TOML file
//! (`--config`), then `PIVOTFORGE_*` environment variables and flags, each overriding the last.
//!
//! This module only assembles: it reads the file, the environment and the flags, has each
//! domain check its own section (the `[recordings]` type lives in `recordings`, `[auth]` in
//! `auth`, and so on) and makes the checks that span sections. No domain imports it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{AuthFileConfig, PivotFileConfig, PivotLink};
use crate::calls::CallsFileConfig;
use crate::engine::EngineOptions;
use crate::events::EventsFileConfig;
use crate::limits::LimitsFileConfig;
use crate::recordings::RecordingsFileConfig;
use crate::script::settings::RawSettings;
use crate::script::{FlowSettings, ScriptsConfig};

// The section types, from the domains that own them, so a `Config` written by hand (tests,
// tools) names them all from here.
pub use crate::auth::{AuthConfig, PivotConfig, PivotMethod};
pub use crate::calls::CallsConfig;
pub use crate::config_error::ConfigError;
pub use crate::events::EventsConfig;
pub use crate::limits::LimitsConfig;
pub use crate::logging::LogFormat;
pub use crate::recordings::config::{
    DEFAULT_MAX_RECORDING, DEFAULT_UPLOAD_IDLE_MS, DEFAULT_UPLOAD_MIN_RATE, UPLOAD_RATE_GRACE_MS,
};
pub use crate::recordings::RecordingsConfig;
pub use crate::script::PoolConfig;
pub use crate::secret::Secret;

/// Default listen address: loopback only, so a fresh install is not open to the network.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default largest request body (64 KiB): a pivot request is a few hundred bytes.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;

/// The resolved configuration of a running service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Folder of flow files.
    pub flows_dir: PathBuf,
    /// Folder of scenario files (`tests_dir`); `None` = `FLOWS/tests` (see [`Config::tests_dir`]).
    pub tests_dir: Option<PathBuf>,
    /// Folder for the store and recordings.
    pub data_dir: PathBuf,
    /// Base URL at which the PBX reaches this service (no trailing `/`).
    pub public_url: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Log line format.
    pub log_format: LogFormat,
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// What every script flow starts from (`[flows]`).
    pub script_defaults: FlowSettings,
    /// JS threads (`[scripts] threads`); one per core by default.
    pub js_threads: usize,
    /// Jobs that may wait for a JS thread before calls are refused with 503.
    pub js_queue: usize,
    /// Bulkheads and circuit breakers of the JS pool (`[scripts]`).
    pub pool: PoolConfig,
    /// Deadlines and caps on what a request can hold (`[limits]`).
    pub limits: LimitsConfig,
    /// The post-call event queue (`[events]`).
    pub events: EventsConfig,
    /// Recording uploads (`[recordings]`).
    pub recordings: RecordingsConfig,
    /// The exchange log (`[calls]`).
    pub calls: CallsConfig,
    /// Credentials for `/pivot` and the admin endpoints (`[auth]`).
    pub auth: AuthConfig,
    /// How pivot nodes this service builds call it back (`[pivot]`).
    pub pivot: PivotConfig,
    /// Which backend holds the shared state (`[store]`).
    pub store: crate::store::StoreConfig,
    /// The bounds of Class 5 journals (`[class5]`).
    pub class5: crate::script::class5::Class5Config,
}

/// The settings a config file may hold; every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Folder of flow files, relative to the config file.
    pub flows_dir: Option<PathBuf>,
    /// Folder of scenario files, relative to the config file [default: FLOWS/tests].
    pub tests_dir: Option<PathBuf>,
    /// Data folder, relative to the config file.
    pub data_dir: Option<PathBuf>,
    /// Base URL of this service as the PBX sees it.
    pub public_url: Option<String>,
    /// Largest request body in bytes.
    pub max_body_bytes: Option<usize>,
    /// `text` or `json`.
    pub log_format: Option<LogFormat>,
    /// HTTP worker threads.
    pub workers: Option<usize>,
    /// Defaults for every script flow.
    #[serde(default)]
    pub flows: RawSettings,
    /// The JS pool.
    #[serde(default)]
    pub scripts: ScriptsConfig,
    /// Recording uploads.
    #[serde(default)]
    pub recordings: RecordingsFileConfig,
    /// The exchange log.
    #[serde(default)]
    pub calls: CallsFileConfig,
    /// Deadlines and caps on requests.
    #[serde(default)]
    pub limits: LimitsFileConfig,
    /// The post-call event queue.
    #[serde(default)]
    pub events: EventsFileConfig,
    /// Credentials for `/pivot` and the admin endpoints.
    #[serde(default)]
    pub auth: AuthFileConfig,
    /// Pivot nodes this service builds.
    #[serde(default)]
    pub pivot: PivotFileConfig,
    /// The store's backend.
    #[serde(default)]
    pub store: crate::store::StoreConfig,
    /// Class 5 journals.
    #[serde(default)]
    pub class5: crate::script::class5::Class5Config,
}

/// Values given on the command line or in the environment; they beat the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--listen` / `PIVOTFORGE_LISTEN`.
    pub listen: Option<String>,
    /// `--flows` / `PIVOTFORGE_FLOWS`.
    pub flows: Option<PathBuf>,
    /// `--data-dir` / `PIVOTFORGE_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--public-url` / `PIVOTFORGE_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// `--log-format` / `PIVOTFORGE_LOG_FORMAT`.
    pub log_format: Option<LogFormat>,
    /// `--allow-open` / `PIVOTFORGE_ALLOW_OPEN`.
    pub allow_open: Option<bool>,
}

impl Config {
    /// Merges defaults, the optional config file and the overrides.
    pub fn resolve(file: Option<&Path>, over: Overrides) -> Result<Config, ConfigError> {
        let (fc, base) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!(
                        "{}: can't read the config file: {e}",
                        path.display()
                    ))
                })?;
                let fc: FileConfig = toml::from_str(&text).map_err(|e| {
                    let line = e
                        .span()
                        .map(|s| text[..s.start].matches('\n').count() + 1)
                        .map(|l| format!(":{l}"))
                        .unwrap_or_default();
                    ConfigError(format!("{}{line}: {}", path.display(), e.message().trim()))
                })?;
                (fc, path.parent().map(Path::to_path_buf).unwrap_or_default())
            }
            None => (FileConfig::default(), PathBuf::new()),
        };
        let listen_text = over
            .listen
            .or(fc.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            ConfigError(format!(
                "listen address `{listen_text}` is not IP:PORT, e.g. 127.0.0.1:8080"
            ))
        })?;
        let public_url = over
            .public_url
            .or(fc.public_url)
            .unwrap_or_else(|| default_public_url(listen));
        let public_url = public_url.trim_end_matches('/').to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError(format!(
                "public URL `{public_url}` must start with http:// or https:// (the PBX calls it)"
            )));
        }
        let max_body_bytes = fc.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY);
        if max_body_bytes == 0 {
            return Err(ConfigError("max_body_bytes must be at least 1".into()));
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let js_threads = fc.scripts.threads(cores);
        let recordings = fc.recordings.resolve(&base)?;
        let calls = fc.calls.resolve()?;
        let pool = fc.scripts.resolve_pool(js_threads)?;
        let limits = fc.limits.resolve()?;
        let events = fc.events.resolve()?;
        let auth = fc.auth.resolve(over.allow_open)?;
        let pivot = fc.pivot.resolve()?;
        let script_defaults = crate::script::config::flow_defaults(&fc.flows)?;
        Ok(Config {
            listen,
            flows_dir: over
                .flows
                .unwrap_or_else(|| base.join(fc.flows_dir.unwrap_or_else(|| "callflows".into()))),
            tests_dir: fc.tests_dir.map(|dir| base.join(dir)),
            data_dir: over
                .data_dir
                .unwrap_or_else(|| base.join(fc.data_dir.unwrap_or_else(|| "data".into()))),
            public_url,
            max_body_bytes,
            log_format: over.log_format.or(fc.log_format).unwrap_or_default(),
            workers: fc.workers.filter(|&w| w > 0),
            script_defaults,
            js_threads,
            js_queue: fc.scripts.queue(js_threads),
            pool,
            limits,
            events,
            recordings,
            calls,
            auth,
            pivot,
            store: fc.store,
            class5: fc.class5,
        })
    }

    /// How pivot nodes and recording URLs built by this service point back to it, with the
    /// URL tokens its routes need (never log it).
    pub fn pivot_link(&self) -> PivotLink {
        PivotLink::new(
            &self.public_url,
            self.auth.pivot_url_token.as_ref(),
            self.recordings.upload_url_token.as_ref(),
            self.pivot.method,
        )
    }

    /// What the engine needs: the flows, the URLs pivot nodes point back with, the script
    /// defaults and the largest reply.
    pub fn engine_options(&self) -> EngineOptions {
        EngineOptions {
            flows_dir: self.flows_dir.clone(),
            tests_dir: self.tests_dir(),
            public_url: self.public_url.clone(),
            pivot_link: self.pivot_link(),
            script_defaults: self.script_defaults.clone(),
            max_reply_bytes: self.limits.max_reply_bytes,
            class5: self.class5,
        }
    }

    /// Fills in the URL tokens: the configured token of each route, else, for a route
    /// protected by basic credentials only, one derived under the key of the data folder
    /// (created on first use). The server calls it at start-up.
    pub fn derive_url_tokens(&mut self) -> std::io::Result<()> {
        use crate::auth::url_token::derive;
        let auth = &mut self.auth;
        auth.pivot_url_token = match (&auth.pivot_token, &auth.pivot_basic) {
            (Some(token), _) => Some(token.clone()),
            (None, Some((user, password))) => {
                Some(derive(&self.data_dir, "pivot", user, password)?)
            }
            (None, None) => None,
        };
        let rec = &mut self.recordings;
        rec.upload_url_token = match (&rec.upload_token, &rec.upload_basic) {
            (Some(token), _) => Some(token.clone()),
            (None, Some((user, password))) => {
                Some(derive(&self.data_dir, "upload", user, password)?)
            }
            (None, None) => None,
        };
        Ok(())
    }

    /// Every configured credential's value (`[auth]`, `[recordings]`): what the exchange log
    /// and the log lines about calls mask wherever it is printed.
    pub fn secrets(&self) -> Vec<&str> {
        let (auth, rec) = (&self.auth, &self.recordings);
        let pairs = [&auth.pivot_basic, &auth.admin_basic, &rec.upload_basic];
        // The URL tokens too: derived ones are secrets no file names.
        let tokens = [
            &auth.pivot_token,
            &auth.admin_token,
            &rec.upload_token,
            &rec.admin_token,
            &auth.pivot_url_token,
            &rec.upload_url_token,
        ];
        pairs
            .into_iter()
            .flatten()
            .map(|(_, password)| password.expose())
            .chain(tokens.into_iter().flatten().map(Secret::expose))
            .collect()
    }

    /// The folder of scenario files: `tests_dir`, else `FLOWS_DIR/tests` (read when needed, so a
    /// flows folder set after resolving is followed). Never served as flows.
    pub fn tests_dir(&self) -> PathBuf {
        self.tests_dir
            .clone()
            .unwrap_or_else(|| self.flows_dir.join("tests"))
    }

    /// The folder recordings are stored in: `[recordings] dir`, else `DATA_DIR/recordings`
    /// (read when needed, so a data folder set after resolving is followed).
    pub fn recordings_dir(&self) -> PathBuf {
        self.recordings
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("recordings"))
    }
}

/// `http://<listen>`, with an unspecified address replaced by loopback so the URL is usable.
fn default_public_url(listen: SocketAddr) -> String {
    let host = if listen.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        listen.ip().to_string()
    };
    match listen {
        SocketAddr::V6(_) if !listen.ip().is_unspecified() => {
            format!("http://[{host}]:{}", listen.port())
        }
        _ => format!("http://{host}:{}", listen.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let c = Config::resolve(None, Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
        assert_eq!(c.flows_dir, PathBuf::from("callflows"));
    }

    #[test]
    fn overrides_win_and_urls_are_checked() {
        let over = Overrides {
            listen: Some("0.0.0.0:9000".into()),
            public_url: Some("https://pbx.example.com/pf/".into()),
            ..Overrides::default()
        };
        let c = Config::resolve(None, over).unwrap();
        assert_eq!(c.public_url, "https://pbx.example.com/pf");
        let bad = Overrides {
            public_url: Some("ftp://x".into()),
            ..Overrides::default()
        };
        assert!(Config::resolve(None, bad).is_err());
        let bad_listen = Overrides {
            listen: Some("localhost".into()),
            ..Overrides::default()
        };
        assert!(Config::resolve(None, bad_listen).is_err());
    }

    fn from_file(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pivotforge.toml");
        std::fs::write(&path, text).unwrap();
        Config::resolve(Some(&path), Overrides::default())
    }

    #[test]
    fn recordings_default_to_the_data_dir_and_no_auth() {
        let mut c = Config::resolve(None, Overrides::default()).unwrap();
        assert_eq!(c.recordings, RecordingsConfig::default());
        assert_eq!(c.recordings.max_bytes, 1 << 30);
        c.data_dir = PathBuf::from("/srv/pf");
        assert_eq!(c.recordings_dir(), PathBuf::from("/srv/pf/recordings"));
    }

    #[test]
    fn recordings_section_is_checked_and_secrets_stay_hidden() {
        let c = from_file(
            "[recordings]\nmax_bytes = 1000\ndir = \"rec\"\nupload_user = \"kazoo\"\n\
             upload_password = \"pw-123\"\nupload_token = \"tok-456\"\nadmin_token = \"adm-789\"\n",
        )
        .unwrap();
        assert_eq!(c.recordings.max_bytes, 1000);
        assert!(c.recordings_dir().ends_with("rec"));
        assert_eq!(
            c.recordings.upload_basic.as_ref().unwrap().1.expose(),
            "pw-123"
        );
        let shown = format!("{c:?}");
        for secret in ["pw-123", "tok-456", "adm-789"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        for (bad, says) in [
            ("upload_user = \"kazoo\"", "go together"),
            ("upload_password = \"x\"", "go together"),
            (
                "upload_user = \"a:b\"\nupload_password = \"x\"",
                "without `:`",
            ),
            ("admin_token = \"\"", "admin_token is empty"),
            ("max_bytes = 0", "at least 1"),
            ("max_size = 5", "unknown field"),
        ] {
            let err = from_file(&format!("[recordings]\n{bad}\n")).unwrap_err();
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn pivot_method_defaults_to_post_and_is_checked() {
        assert_eq!(from_file("").unwrap().pivot.method, PivotMethod::Post);
        let get = from_file("[pivot]\nmethod = \"GET\"\n").unwrap();
        assert_eq!(get.pivot.method, PivotMethod::Get);
        let err = from_file("[pivot]\nmethod = \"put\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("[pivot] method = \"put\""), "{err}");
        let err = from_file("[pivot]\nmethd = \"get\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn limits_events_and_pool_have_defaults_and_refuse_zero() {
        let c = from_file("[scripts]\nthreads = 4\n").unwrap();
        assert_eq!(c.limits, LimitsConfig::default());
        assert_eq!(c.limits.body_timeout_ms, 5_000);
        assert_eq!(c.limits.max_reply_bytes, 256 * 1024);
        assert_eq!(c.events.dead_letter_days, 30);
        assert_eq!(c.pool.max_threads_per_flow, 2);
        assert_eq!(c.pool.trip_after, 5);
        assert_eq!(c.recordings.idle_timeout_ms, 30_000);
        assert_eq!(c.recordings.min_bytes_per_s, 16 * 1024);
        assert_eq!(c.calls.memory_bytes, 32 << 20);
        let c = from_file("[scripts]\nthreads = 1\n").unwrap();
        assert_eq!(c.pool.max_threads_per_flow, 1);
        for bad in [
            "[limits]\nbody_timeout_ms = 0",
            "[limits]\nmax_connections = 0",
            "[limits]\nmax_reply_bytes = 0",
            "[events]\ndead_letter_days = 0",
            "[events]\nmax_pending_bytes = 0",
            "[scripts]\ntrip_after = 0",
            "[scripts]\nmax_threads_per_flow = 0",
            "[recordings]\nidle_timeout_ms = 0",
            "[calls]\nmemory_bytes = 0",
        ] {
            let err = from_file(bad).unwrap_err();
            assert!(err.to_string().contains("at least 1"), "{bad}: {err}");
        }
    }
}
