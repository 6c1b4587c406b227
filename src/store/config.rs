//! The `[store]` section: which backend holds the shared state, and the one factory that opens
//! it for the server, the CLI and the tests.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::{EmbeddedStore, Store, StoreError};

/// The backends this build can open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Backend {
    /// One file under the data directory (`pivotforge.redb`), no server to run.
    #[default]
    Embedded,
}

impl<'de> Deserialize<'de> for Backend {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Backend, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "embedded" => Ok(Backend::Embedded),
            // Name the key: the line number alone does not say which setting to fix.
            other => Err(serde::de::Error::custom(format!(
                "[store] backend = {other:?} is not a backend of this build; the only one is \
                 \"embedded\" (the default)"
            ))),
        }
    }
}

/// The `[store]` section (every setting optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Which backend (`embedded` by default).
    #[serde(default)]
    pub backend: Backend,
    /// Where a networked backend's server is; the embedded backend takes none.
    pub url: Option<String>,
}

/// Opens the configured backend; the embedded one keeps its file under `data_dir`.
pub fn open(config: &StoreConfig, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    match config.backend {
        Backend::Embedded => {
            if config.url.is_some() {
                return Err(StoreError::Invalid(
                    "[store] url: the embedded backend keeps its file in the data directory and \
                     takes no url; remove the setting"
                        .into(),
                ));
            }
            Ok(Arc::new(EmbeddedStore::open(data_dir)?))
        }
    }
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
        let with_url = parse("url = \"redis://localhost\"").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let err = open(&with_url, dir.path()).err().unwrap().to_string();
        assert!(err.contains("[store] url"), "{err}");
    }
}
