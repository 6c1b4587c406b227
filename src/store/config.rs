//! The `[store]` section: which backend holds the shared state, and the one factory that opens
//! it for the server, the CLI and the tests.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::redis::{
    RedisSettings, RedisStore, DEFAULT_OP_TIMEOUT_MS, DEFAULT_POOL_SIZE, DEFAULT_PREFIX,
};
use super::{EmbeddedStore, Store, StoreError};
use crate::secret::SecretUrl;

/// The backends this build can open: the embedded one unless `[store] url` names a server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// One file under the data directory (`pivotforge.redb`), no server to run.
    #[default]
    Embedded,
    /// A Redis 7 server shared by several nodes (`[store] url = "redis://…"`).
    Redis,
}

impl<'de> Deserialize<'de> for Backend {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Backend, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "embedded" => Ok(Backend::Embedded),
            // Name the key: the line number alone does not say which setting to fix.
            "redis" => Err(serde::de::Error::custom(
                "[store] backend = \"redis\": the backend follows [store] url; set url = \
                 \"redis://HOST:6379/0\" and remove backend (which takes only \"embedded\", the \
                 default)",
            )),
            other => Err(serde::de::Error::custom(format!(
                "[store] backend = {other:?} is not a backend of this build; the only name is \
                 \"embedded\" (the default), and [store] url = \"redis://…\" chooses Redis"
            ))),
        }
    }
}

/// The `[store]` section (every setting optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `embedded`, the default; a `url` chooses a networked backend instead.
    #[serde(default)]
    pub backend: Backend,
    /// Where a networked backend's server is: `redis://[:PASSWORD@]HOST[:PORT][/DB]` or
    /// `rediss://…` (TLS). `PIVOTFORGE_STORE` overrides it.
    pub url: Option<SecretUrl>,
    /// Prefix of every Redis key (default `pivotforge:`), so services can share one Redis.
    pub prefix: Option<String>,
    /// Longest wait of one Redis operation, in ms (default 1000).
    pub op_timeout_ms: Option<u64>,
    /// Redis connections at most (default 16).
    pub pool_size: Option<usize>,
}

impl StoreConfig {
    /// Which backend the settings choose, or what is wrong with them (naming the key).
    pub fn backend(&self) -> Result<Backend, StoreError> {
        let Some(url) = &self.url else {
            if self.prefix.is_some() || self.op_timeout_ms.is_some() || self.pool_size.is_some() {
                return Err(StoreError::Invalid(
                    "[store] prefix, op_timeout_ms and pool_size are Redis settings: set [store] \
                     url = \"redis://HOST:6379/0\" too, or remove them"
                        .into(),
                ));
            }
            return Ok(Backend::Embedded);
        };
        let text = url.expose();
        if !(text.starts_with("redis://") || text.starts_with("rediss://")) {
            let scheme = text.split_once("://").map_or(text, |(scheme, _)| scheme);
            let scheme: String = scheme.chars().take(32).collect();
            return Err(StoreError::Invalid(format!(
                "[store] url: the scheme {scheme:?} is not one this build speaks; write \
                 redis://HOST:6379/0 (or rediss:// for TLS), or remove url for the embedded store"
            )));
        }
        if self.prefix.as_deref() == Some("") {
            return Err(StoreError::Invalid(
                "[store] prefix must not be empty: it keeps this service's keys apart from \
                 others' in a shared Redis"
                    .into(),
            ));
        }
        if self.op_timeout_ms == Some(0) || self.pool_size == Some(0) {
            return Err(StoreError::Invalid(
                "[store] op_timeout_ms and pool_size must be at least 1".into(),
            ));
        }
        Ok(Backend::Redis)
    }

    /// The Redis settings, with defaults; `None` when the embedded backend is chosen.
    pub fn redis(&self) -> Option<RedisSettings> {
        let url = self.url.as_ref()?;
        Some(RedisSettings {
            url: url.expose().to_owned(),
            prefix: self
                .prefix
                .clone()
                .unwrap_or_else(|| DEFAULT_PREFIX.to_owned()),
            op_timeout: Duration::from_millis(self.op_timeout_ms.unwrap_or(DEFAULT_OP_TIMEOUT_MS)),
            pool_size: self.pool_size.unwrap_or(DEFAULT_POOL_SIZE),
        })
    }

    /// Applies `PIVOTFORGE_STORE`: a Redis URL, or `embedded` for the embedded store.
    pub fn override_url(&mut self, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        self.url = (value != "embedded").then(|| SecretUrl::new(value));
    }
}

/// Opens the configured backend; the embedded one keeps its file under `data_dir`.
pub fn open(config: &StoreConfig, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    match (config.backend()?, config.redis()) {
        (Backend::Redis, Some(settings)) => Ok(Arc::new(RedisStore::open(&settings)?)),
        _ => Ok(Arc::new(EmbeddedStore::open(data_dir)?)),
    }
}

/// Opens an embedded store in a throw-away folder (a simulated call's) whose commits are never
/// synced to disk.
pub fn open_scratch(dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(EmbeddedStore::open_scratch(dir)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StoreConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_embedded_backend_is_the_default_and_opens_under_the_data_dir() {
        assert_eq!(parse("").unwrap(), StoreConfig::default());
        let named = parse("backend = \"embedded\"").unwrap();
        assert_eq!(named.backend, Backend::Embedded);
        let dir = tempfile::tempdir().unwrap();
        let store = open(&named, &dir.path().join("data")).unwrap();
        store.ping().unwrap();
        assert!(dir.path().join("data").join("pivotforge.redb").is_file());
    }

    #[test]
    fn an_unknown_backend_or_setting_is_refused_naming_the_key() {
        let err = parse("backend = \"redis\"").unwrap_err();
        assert!(err.contains("[store] backend = \"redis\""), "{err}");
        assert!(err.contains("\"embedded\""), "{err}");
        let err = parse("backnd = \"embedded\"").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
        let with_url = parse("url = \"memcached://localhost\"").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = open(&with_url, dir.path()).err().unwrap().to_string();
        assert!(err.contains("[store] url"), "{err}");
        assert!(err.contains("\"memcached\""), "{err}");
    }

    #[test]
    fn a_redis_url_opens_redis_and_two_prefixes_share_one_server_apart() {
        let server = crate::store::redis::test_server::RedisServer::start();
        let dir = tempfile::tempdir().unwrap();
        let service = |prefix: &str| {
            let text = format!("url = {:?}\nprefix = {prefix:?}\n", server.url());
            open(&parse(&text).unwrap(), dir.path()).unwrap()
        };
        let (a, b) = (service("a:"), service("b:"));
        a.ping().unwrap();
        assert!(
            !dir.path().join("pivotforge.redb").exists(),
            "no embedded file"
        );
        a.kv_set("flow:f", "k", &serde_json::json!("a's"), None, 0)
            .unwrap();
        assert_eq!(b.kv_get("flow:f", "k", 0).unwrap(), None);
        assert_eq!(
            b.event_push("f", &serde_json::json!({}), 0, u64::MAX)
                .unwrap(),
            1
        );
        assert_eq!(
            a.event_push("f", &serde_json::json!({}), 0, u64::MAX)
                .unwrap(),
            1
        );
    }
}
