//! Per-flow settings: `callflows/NAME.settings.toml` beside `NAME.js`, over the defaults of the
//! config file's `[flows]` section, over built-in defaults.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::load_error::LoadError;

/// Default run time of one call, as ScriptForge documents it.
pub const DEFAULT_TIMEOUT_MS: u64 = 2000;
/// Hard cap on a flow's run time, so the PBX's 5 s request timeout is never reached.
pub const MAX_TIMEOUT_MS: u64 = 4500;
/// Default memory limit of a script, as ScriptForge documents it.
pub const DEFAULT_MEMORY_MB: u64 = 100;

/// The resolved settings of one script flow. `Serialize` feeds the flow's version: keep the
/// field order, or every script's version changes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowSettings {
    /// Longest run of one call, in milliseconds (≤ 4500).
    pub timeout_ms: u64,
    /// Memory limit of the flow's JavaScript runtime, in MiB.
    pub memory_mb: u64,
    /// Tree sent when the script fails.
    pub fallback: Option<Value>,
    /// `process.env`.
    pub env: BTreeMap<String, String>,
    /// Host names `fetch` may reach (exact, or `*.example.com`).
    pub allow_hosts: Vec<String>,
    /// `data.vars`.
    pub vars: serde_json::Map<String, Value>,
    /// A shared cxKV namespace the flow uses instead of its own (`kv_namespace`).
    pub kv_namespace: Option<String>,
    /// Userspace areas the flow's script may change (`userspace_write`); every area is readable.
    pub userspace_write: Vec<String>,
    /// Class 5 prompts: file name → media id or URL (`[media]`). Left out of the version when
    /// empty, so flows without Class 5 settings keep theirs.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub media: BTreeMap<String, String>,
    /// Class 5 prompts: a file name not in `[media]` is appended to this URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub media_base_url: Option<String>,
    /// Class 5 bridges: a short number → its target (`1002 = "user:ID"`, `[extensions]`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub extensions: BTreeMap<String, String>,
}

impl FlowSettings {
    /// The cxKV namespace of flow `flow`: `shared:NAME` when it names one, else its own
    /// `flow:FLOW`. The prefixes keep the two apart, so no shared name reaches a flow's keys.
    pub fn kv_space(&self, flow: &str) -> String {
        match &self.kv_namespace {
            Some(shared) => format!("shared:{shared}"),
            None => format!("flow:{flow}"),
        }
    }

    /// The Class 5 tables: `[extensions]`, `[media]` and `media_base_url`.
    pub fn tables(&self) -> crate::ctx_map::CallTables {
        crate::ctx_map::CallTables {
            extensions: self.extensions.clone(),
            media: self.media.clone(),
            media_base_url: self.media_base_url.clone(),
        }
    }

    /// Whether the script may change userspace area `area`.
    pub fn may_write(&self, area: &str) -> bool {
        self.userspace_write.iter().any(|a| a == area)
    }
}

impl Default for FlowSettings {
    fn default() -> Self {
        FlowSettings {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            memory_mb: DEFAULT_MEMORY_MB,
            fallback: None,
            env: BTreeMap::new(),
            allow_hosts: Vec::new(),
            vars: serde_json::Map::new(),
            kv_namespace: None,
            userspace_write: Vec::new(),
            media: BTreeMap::new(),
            media_base_url: None,
            extensions: BTreeMap::new(),
        }
    }
}

/// Settings as written in a file; every key optional.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    /// See [`FlowSettings::timeout_ms`].
    pub timeout_ms: Option<u64>,
    /// See [`FlowSettings::memory_mb`].
    pub memory_mb: Option<u64>,
    /// See [`FlowSettings::fallback`].
    pub fallback: Option<Value>,
    /// See [`FlowSettings::env`].
    pub env: Option<BTreeMap<String, String>>,
    /// See [`FlowSettings::allow_hosts`].
    pub allow_hosts: Option<Vec<String>>,
    /// See [`FlowSettings::vars`].
    pub vars: Option<serde_json::Map<String, Value>>,
    /// See [`FlowSettings::kv_namespace`].
    pub kv_namespace: Option<String>,
    /// See [`FlowSettings::userspace_write`].
    pub userspace_write: Option<Vec<String>>,
    /// See [`FlowSettings::media`].
    pub media: Option<BTreeMap<String, String>>,
    /// See [`FlowSettings::media_base_url`].
    pub media_base_url: Option<String>,
    /// See [`FlowSettings::extensions`].
    pub extensions: Option<BTreeMap<String, String>>,
}

impl RawSettings {
    /// Layers `self` over `base`; `env` and `vars` merge key by key.
    pub fn apply(&self, base: &FlowSettings) -> FlowSettings {
        let mut out = base.clone();
        if let Some(t) = self.timeout_ms {
            out.timeout_ms = t;
        }
        if let Some(m) = self.memory_mb {
            out.memory_mb = m;
        }
        if let Some(f) = &self.fallback {
            out.fallback = Some(f.clone());
        }
        if let Some(env) = &self.env {
            out.env.extend(env.clone());
        }
        if let Some(hosts) = &self.allow_hosts {
            out.allow_hosts = hosts.clone();
        }
        if let Some(vars) = &self.vars {
            out.vars.extend(vars.clone());
        }
        if let Some(ns) = &self.kv_namespace {
            out.kv_namespace = Some(ns.clone());
        }
        if let Some(areas) = &self.userspace_write {
            out.userspace_write = areas.clone();
        }
        if let Some(media) = &self.media {
            out.media.extend(media.clone());
        }
        if let Some(base) = &self.media_base_url {
            out.media_base_url = Some(base.clone());
        }
        if let Some(extensions) = &self.extensions {
            out.extensions.extend(extensions.clone());
        }
        out.timeout_ms = out.timeout_ms.clamp(1, MAX_TIMEOUT_MS);
        out.memory_mb = out.memory_mb.clamp(1, 4096);
        out
    }
}

/// Reads `file` (a `.settings.toml`) over `base`. A missing file gives `base` unchanged.
pub fn load(file: &Path, base: &FlowSettings) -> Result<FlowSettings, LoadError> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(base.clone()),
        Err(e) => {
            return Err(LoadError::new(
                file,
                None,
                format!("can't read the file: {e}"),
            ))
        }
    };
    let raw: RawSettings = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
        LoadError::new(file, line, e.message().trim().to_owned())
    })?;
    raw.check()
        .map_err(|(key, message)| LoadError::new(file, line_of(&text, key), message))?;
    let tables = crate::ctx_map::RawTables {
        extensions: raw.extensions.clone(),
        media: raw.media.clone(),
        media_base_url: raw.media_base_url.clone(),
    };
    tables.check().map_err(|e| e.in_file(file, &text))?;
    Ok(raw.apply(base))
}

impl RawSettings {
    /// Checks the names in `kv_namespace` and `userspace_write`; the error names its key.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(ns) = &self.kv_namespace {
            if !plain_name(ns) {
                let shown: String = ns.chars().take(64).collect();
                return Err((
                    "kv_namespace",
                    format!(
                        "kv_namespace {shown:?} must be 1 to 64 characters of A-Z, a-z, 0-9, '_' \
                         or '-' (a name flows share, e.g. \"callers\")"
                    ),
                ));
            }
        }
        for area in self.userspace_write.iter().flatten() {
            if let Err(e) = crate::store::check_area(area) {
                return Err(("userspace_write", format!("userspace_write: {e}")));
            }
        }
        Ok(())
    }
}

/// `[A-Za-z0-9_-]{1,64}`.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The line where `key` is set, for an error about its value.
fn line_of(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| l.trim_start().starts_with(key))
        .map(|i| i + 1)
}

/// True when `host:port` is allowed by `patterns`: `name` or `*.domain` allow the scheme's
/// default port only; `name:port` or `*.domain:port` allow that port, `name:*` any port.
pub fn host_allowed(patterns: &[String], host: &str, port: u16, default_port: bool) -> bool {
    let host = host.to_ascii_lowercase();
    patterns.iter().any(|p| {
        let p = p.to_ascii_lowercase();
        let (name, port_ok) = match p.rsplit_once(':') {
            Some((name, "*")) => (name.to_owned(), true),
            Some((name, wanted)) if wanted.bytes().all(|b| b.is_ascii_digit()) => (
                name.to_owned(),
                wanted.parse::<u16>().is_ok_and(|w| w == port),
            ),
            _ => (p.clone(), default_port),
        };
        let name_ok = match name.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => name == host,
        };
        name_ok && port_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layering_and_caps() {
        let base = RawSettings {
            timeout_ms: Some(3000),
            env: Some(BTreeMap::from([("A".into(), "1".into())])),
            ..RawSettings::default()
        }
        .apply(&FlowSettings::default());
        let flow = RawSettings {
            timeout_ms: Some(60_000),
            env: Some(BTreeMap::from([("B".into(), "2".into())])),
            ..RawSettings::default()
        }
        .apply(&base);
        assert_eq!(flow.timeout_ms, MAX_TIMEOUT_MS);
        assert_eq!(flow.env.len(), 2);
        assert_eq!(flow.memory_mb, DEFAULT_MEMORY_MB);
    }

    #[test]
    fn class5_tables_are_checked_where_they_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("desk.settings.toml");
        let text = "timeout_ms = 1000\n\n[extensions]\n1002 = \"fax:12\"\n";
        std::fs::write(&file, text).unwrap();
        let err = load(&file, &FlowSettings::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("desk.settings.toml:4"), "{err}");
        assert!(err.contains("1002"), "{err}");
        std::fs::write(&file, "[extensions]\n1002 = \"user:u2\"\n").unwrap();
        let loaded = load(&file, &FlowSettings::default()).unwrap();
        assert_eq!(loaded.tables().extensions["1002"], "user:u2");
    }

    #[test]
    fn hosts() {
        let p = vec![
            "api.example.com".to_owned(),
            "*.crm.test".to_owned(),
            "127.0.0.1:8081".to_owned(),
        ];
        assert!(host_allowed(&p, "API.example.com", 443, true));
        assert!(host_allowed(&p, "eu.crm.test", 80, true));
        assert!(!host_allowed(&p, "crm.test", 443, true));
        assert!(!host_allowed(&p, "example.com", 443, true));
        assert!(!host_allowed(&p, "api.example.com.evil.test", 443, true));
        assert!(!host_allowed(&p, "api.example.com", 6379, false));
        assert!(host_allowed(&p, "127.0.0.1", 8081, false));
        assert!(!host_allowed(&p, "127.0.0.1", 8082, false));
        assert!(!host_allowed(&p, "127.0.0.1", 80, true));
        assert!(host_allowed(
            &["localhost:*".to_owned()],
            "localhost",
            9999,
            false
        ));
    }
}
