//! The errors every store backend reports, in words that hold for any backend: what a
//! backend alone can advise (which file to restore, which server to start) travels in
//! [`StoreError::Backend`], as the backend's own error.

/// Errors from a store. Display says what to do next where possible.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Input broke a rule (key length, area name, value size, non-integer incr); the message
    /// names the rule. Callers answering HTTP map this to 400.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// An I/O error, with what was being done when it happened.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file or directory.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A stored record is not what this service writes (damage, or a newer version's data).
    #[error(
        "the store holds a record this version can't read ({0}); restore the store from a \
         backup, or run the version that wrote it"
    )]
    Corrupt(String),
    /// A malformed list file.
    #[error("{location}: {message}")]
    List {
        /// `FILE:LINE` of the offending row (or just `FILE`).
        location: String,
        /// What is wrong with it.
        message: String,
    },
    /// The post-call queue is at its bound in bytes: the event is refused (callers answer 503).
    #[error(
        "the post-call queue holds {pending} bytes of events waiting and this one would pass its \
         bound of {limit} bytes ([events] max_pending_bytes): the event is not stored"
    )]
    QueueFull {
        /// Bytes of events waiting.
        pending: u64,
        /// The bound.
        limit: u64,
    },
    /// `event_retry` or `event_dead` named an event that is not queued.
    #[error("no queued event with id {0} (already done or dead-lettered, or never pushed)")]
    NoSuchEvent(u64),
    /// The backend's server can't be reached now (down, unreachable, every connection busy):
    /// a passing fault, so callers answering HTTP map it to 503 and the sender tries again.
    #[error(transparent)]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// The backend's own failure (its database, its server); its message says what to do.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}
