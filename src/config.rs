//! Configuration: built-in defaults that run with no file at all, then a TOML file
//! (`--config`), then `PIVOTFORGE_*` environment variables and flags, each overriding the last.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::auth::{AuthConfig, AuthFileConfig, PivotLink};
use crate::script::settings::RawSettings;
use crate::script::FlowSettings;

/// Default listen address: loopback only, so a fresh install is not open to the network.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default largest request body (64 KiB): a pivot request is a few hundred bytes.
pub const DEFAULT_MAX_BODY: usize = 64 * 1024;
/// Default largest recording upload (1 GiB: about 18 hours of 128 kbit/s MP3).
pub const DEFAULT_MAX_RECORDING: u64 = 1024 * 1024 * 1024;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// The resolved configuration of a running service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Folder of flow files.
    pub flows_dir: PathBuf,
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
    fn resolve(self) -> Result<PivotConfig, ConfigError> {
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

/// The exchange log, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallsConfig {
    /// Days a call step is kept in the store.
    pub retention_days: u32,
    /// Call steps kept in memory for `/calls` and the console.
    pub memory_steps: usize,
    /// Bytes the in-memory steps may hold together.
    pub memory_bytes: usize,
}

impl Default for CallsConfig {
    fn default() -> CallsConfig {
        CallsConfig {
            retention_days: 7,
            memory_steps: 1_000,
            memory_bytes: 32 * 1024 * 1024,
        }
    }
}

/// The `[calls]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsFileConfig {
    /// Days a call step is kept in the store (0 keeps none on disk).
    pub retention_days: Option<u32>,
    /// Call steps kept in memory.
    pub memory_steps: Option<usize>,
    /// Bytes the in-memory steps may hold together.
    pub memory_bytes: Option<usize>,
}

impl CallsFileConfig {
    fn resolve(self) -> Result<CallsConfig, ConfigError> {
        let defaults = CallsConfig::default();
        let memory_steps = self.memory_steps.unwrap_or(defaults.memory_steps);
        if memory_steps == 0 {
            return Err(ConfigError(
                "[calls] memory_steps must be at least 1".into(),
            ));
        }
        let memory_bytes = self.memory_bytes.unwrap_or(defaults.memory_bytes);
        if memory_bytes == 0 {
            return Err(ConfigError(
                "[calls] memory_bytes must be at least 1".into(),
            ));
        }
        Ok(CallsConfig {
            retention_days: self.retention_days.unwrap_or(defaults.retention_days),
            memory_steps,
            memory_bytes,
        })
    }
}

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
    /// `upload_basic` (see [`Config::derive_url_tokens`]).
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
    fn resolve(self, base: &Path) -> Result<RecordingsConfig, ConfigError> {
        let max_bytes = self.max_bytes.unwrap_or(DEFAULT_MAX_RECORDING);
        if max_bytes == 0 {
            return Err(ConfigError(
                "[recordings] max_bytes must be at least 1".into(),
            ));
        }
        use crate::auth::config::{token, url_safe, user_password};
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

/// The `[scripts]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptsConfig {
    /// JS threads.
    pub threads: Option<usize>,
    /// Queue length.
    pub queue: Option<usize>,
    /// A call that runs longer than this (ms) counts as slow for the flow's bulkhead.
    pub slow_ms: Option<u64>,
    /// JS threads (and that share of the queue) a slow flow may hold.
    pub max_threads_per_flow: Option<usize>,
    /// Consecutive timeouts or memory-limit hits that trip a flow's breaker.
    pub trip_after: Option<u32>,
    /// Seconds a tripped flow answers its fallback before one call tests it.
    pub trip_seconds: Option<u64>,
}

/// Bulkheads and circuit breakers of the JS pool, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// A call running longer than this (ms) marks its flow as slow.
    pub slow_ms: u64,
    /// JS threads a slow flow may hold at once (its share of the queue scales alike).
    pub max_threads_per_flow: usize,
    /// Consecutive timeouts or memory-limit hits that trip a flow's breaker.
    pub trip_after: u32,
    /// Seconds a tripped flow answers its fallback before one call tests it.
    pub trip_seconds: u64,
}

impl PoolConfig {
    /// The defaults for a pool of `threads` JS threads.
    pub fn for_threads(threads: usize) -> PoolConfig {
        PoolConfig {
            slow_ms: 100,
            max_threads_per_flow: (threads / 2).max(1),
            trip_after: 5,
            trip_seconds: 30,
        }
    }
}

impl ScriptsConfig {
    fn resolve_pool(&self, threads: usize) -> Result<PoolConfig, ConfigError> {
        let defaults = PoolConfig::for_threads(threads);
        Ok(PoolConfig {
            slow_ms: at_least_one(
                "[scripts] slow_ms",
                self.slow_ms.unwrap_or(defaults.slow_ms),
            )?,
            max_threads_per_flow: at_least_one(
                "[scripts] max_threads_per_flow",
                self.max_threads_per_flow
                    .unwrap_or(defaults.max_threads_per_flow),
            )?
            .min(threads),
            trip_after: at_least_one(
                "[scripts] trip_after",
                self.trip_after.unwrap_or(defaults.trip_after),
            )?,
            trip_seconds: at_least_one(
                "[scripts] trip_seconds",
                self.trip_seconds.unwrap_or(defaults.trip_seconds),
            )?,
        })
    }
}

/// Deadlines and caps on what one request can hold, resolved (`[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsConfig {
    /// A `/pivot`, `/events`, `/run` or `/userspace` body must be complete within this (ms).
    pub body_timeout_ms: u64,
    /// Open connections at most; `None` derives it from the file-descriptor limit at start-up.
    pub max_connections: Option<usize>,
    /// The largest reply tree (bytes of JSON) a flow may answer with.
    pub max_reply_bytes: usize,
}

impl LimitsConfig {
    /// The body deadline as a duration.
    pub fn body_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.body_timeout_ms)
    }
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            body_timeout_ms: 5_000,
            max_connections: None,
            max_reply_bytes: 256 * 1024,
        }
    }
}

/// The `[limits]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFileConfig {
    /// Milliseconds within which a request body must be complete.
    pub body_timeout_ms: Option<u64>,
    /// Open connections at most.
    pub max_connections: Option<usize>,
    /// Largest reply tree in bytes.
    pub max_reply_bytes: Option<usize>,
}

impl LimitsFileConfig {
    fn resolve(self) -> Result<LimitsConfig, ConfigError> {
        let d = LimitsConfig::default();
        Ok(LimitsConfig {
            body_timeout_ms: at_least_one(
                "[limits] body_timeout_ms",
                self.body_timeout_ms.unwrap_or(d.body_timeout_ms),
            )?,
            max_connections: self
                .max_connections
                .map(|n| at_least_one("[limits] max_connections", n))
                .transpose()?,
            max_reply_bytes: at_least_one(
                "[limits] max_reply_bytes",
                self.max_reply_bytes.unwrap_or(d.max_reply_bytes),
            )?,
        })
    }
}

/// The post-call event queue, resolved (`[events]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsConfig {
    /// Bytes of events that may wait on disk; past it `/events` refuses with 503.
    pub max_pending_bytes: u64,
    /// Days a dead letter is kept before it is removed.
    pub dead_letter_days: u32,
    /// Flows Kazoo's `channel_destroy` webhooks point at: `check` and start-up warn about
    /// each one that can't take them (missing, a rule flow, a script without `postCall`).
    pub webhook_flows: Vec<String>,
}

impl Default for EventsConfig {
    fn default() -> EventsConfig {
        EventsConfig {
            max_pending_bytes: 256 * 1024 * 1024,
            dead_letter_days: 30,
            webhook_flows: Vec::new(),
        }
    }
}

/// The `[events]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsFileConfig {
    /// Bytes of events that may wait on disk.
    pub max_pending_bytes: Option<u64>,
    /// Days a dead letter is kept.
    pub dead_letter_days: Option<u32>,
    /// Flows the webhooks point at.
    pub webhook_flows: Option<Vec<String>>,
}

impl EventsFileConfig {
    fn resolve(self) -> Result<EventsConfig, ConfigError> {
        let d = EventsConfig::default();
        Ok(EventsConfig {
            max_pending_bytes: at_least_one(
                "[events] max_pending_bytes",
                self.max_pending_bytes.unwrap_or(d.max_pending_bytes),
            )?,
            dead_letter_days: at_least_one(
                "[events] dead_letter_days",
                self.dead_letter_days.unwrap_or(d.dead_letter_days),
            )?,
            webhook_flows: self.webhook_flows.unwrap_or_default(),
        })
    }
}

/// `value`, or an error naming `key` when it is zero.
fn at_least_one<T: PartialEq + Default>(key: &str, value: T) -> Result<T, ConfigError> {
    if value == T::default() {
        return Err(ConfigError(format!("{key} must be at least 1")));
    }
    Ok(value)
}

/// The settings a config file may hold; every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Folder of flow files, relative to the config file.
    pub flows_dir: Option<PathBuf>,
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

/// A configuration that can't be used, with what to change.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

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
        let js_threads = fc.scripts.threads.filter(|&n| n > 0).unwrap_or(cores);
        let recordings = fc.recordings.resolve(&base)?;
        let calls = fc.calls.resolve()?;
        let pool = fc.scripts.resolve_pool(js_threads)?;
        let limits = fc.limits.resolve()?;
        let events = fc.events.resolve()?;
        let auth = fc.auth.resolve(over.allow_open)?;
        let pivot = fc.pivot.resolve()?;
        if fc.flows.kv_namespace.is_some() {
            // One default would put every flow in one namespace: isolation is the default.
            return Err(ConfigError(
                "[flows] kv_namespace: a shared cxKV namespace is named in the settings file of \
                 each flow that shares it (NAME.settings.toml), not for every flow"
                    .into(),
            ));
        }
        fc.flows
            .check()
            .map_err(|(_, message)| ConfigError(format!("[flows] {message}")))?;
        Ok(Config {
            listen,
            flows_dir: over
                .flows
                .unwrap_or_else(|| base.join(fc.flows_dir.unwrap_or_else(|| "callflows".into()))),
            data_dir: over
                .data_dir
                .unwrap_or_else(|| base.join(fc.data_dir.unwrap_or_else(|| "data".into()))),
            public_url,
            max_body_bytes,
            log_format: over.log_format.or(fc.log_format).unwrap_or_default(),
            workers: fc.workers.filter(|&w| w > 0),
            script_defaults: fc.flows.apply(&FlowSettings::default()),
            js_threads,
            js_queue: fc
                .scripts
                .queue
                .filter(|&n| n > 0)
                .unwrap_or(js_threads * 64),
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
