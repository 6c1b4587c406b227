//! Why a module name and `data` object do not make an [`Action`](super::Action); the enum itself
//! is declared by the registry (`modules!` in `callflow/mod.rs`).

/// Why a module name and `data` object do not make an [`Action`](super::Action).
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The module name is not one Kazoo 4.3 knows; the message carries a hint.
    #[error("{0}")]
    UnknownModule(String),
    /// The `data` object does not fit the module's typed model.
    #[error("invalid `data` for module `{module}`: {source}")]
    Data {
        /// Module whose data was rejected.
        module: &'static str,
        /// What serde found wrong.
        source: serde_json::Error,
    },
}
