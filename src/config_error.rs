//! Why a configuration can't be used: the error every config section's check returns, and the
//! checks several sections share. A leaf, so each domain can check its own section without
//! depending on the module that assembles them all (`config`).

/// A configuration that can't be used, with what to change.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// `value`, or an error naming `key` when it is zero.
pub fn at_least_one<T: PartialEq + Default>(key: &str, value: T) -> Result<T, ConfigError> {
    if value == T::default() {
        return Err(ConfigError(format!("{key} must be at least 1")));
    }
    Ok(value)
}
