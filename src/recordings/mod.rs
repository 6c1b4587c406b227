//! The recording receiver: Kazoo uploads call recordings (`record_call` / `record_caller` with a
//! `url`) and this module stores them, one file each, with their metadata in the [`Store`].
//!
//! An upload's URL is parsed into a name and call details ([`upload`]); the file goes to
//! `ROOT/ACCOUNT/YYYY-MM-DD/NAME.EXT`, every part encoded by the service ([`layout`]); the body
//! streams to a temporary file beside it, hashed as it goes, and is renamed into place only when
//! complete and on disk ([`writer`]). The PBX retries failed uploads, so a recording's id is
//! derived from what names it: a retry lands on the same id and path and replaces the file in one
//! rename, never a second copy. Replacing the file and its metadata happens under a per-id lock,
//! so two copies of one upload arriving together can't leave the file of one with the
//! metadata of the other.

pub mod auth;
pub mod config;
pub mod format;
pub mod layout;
mod sweep;
pub mod upload;
pub mod writer;

pub use crate::store::{CallDetails, Recording, RecordingQuery};
pub use auth::{Access, Denied};
pub use config::{RecordingsConfig, RecordingsFileConfig};
pub use upload::{NameError, UploadName};

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use futures_util::Stream;

use crate::clock::Clock;
use crate::store::{Store, StoreError};
use writer::{io_error, Part};

/// Locks that serialise replacing one recording (file and metadata); ids spread over them.
const LOCK_STRIPES: usize = 64;

/// Why an upload, listing or delete failed; each maps to one HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The URL can't name a recording (400).
    #[error(transparent)]
    Name(#[from] NameError),
    /// No body (400).
    #[error("the upload is empty: send the recording's bytes as the request body")]
    Empty,
    /// The client went away before the body ended (400; nothing is kept).
    #[error("the upload ended before its last byte ({0}); nothing was stored, send it again")]
    Interrupted(String),
    /// The sender stopped or trickled (408; nothing is kept).
    #[error("the upload was dropped: {0}; nothing was stored, send it again at full speed")]
    Stalled(String),
    /// Over the size limit (413; nothing is kept).
    #[error(
        "the recording is larger than the {limit}-byte limit; nothing was stored (raise \
         [recordings] max_bytes to accept larger files)"
    )]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The disk or quota is full (507; nothing is kept, the PBX retries later).
    #[error(
        "no space left for recordings ({0}); nothing was stored: free disk space, and the PBX's \
         retry will store it"
    )]
    DiskFull(io::Error),
    /// Any other file-system failure (500).
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file or folder.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The store failed (500, or 400 for input it refused).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A fault of the service (500).
    #[error("{0}")]
    Internal(String),
}

/// A stored upload.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its metadata as stored.
    pub recording: Recording,
    /// Whether it replaced an earlier copy (a retry) rather than being new.
    pub replaced: bool,
}

/// Where an upload goes: its path (relative, as stored) and file, and whether a copy is there.
struct Slot {
    path: String,
    target: PathBuf,
    existed: bool,
}

/// The recordings folder, its settings and the store holding metadata; cheap to clone.
#[derive(Clone)]
pub struct Recordings(Arc<Shared>);

struct Shared {
    root: PathBuf,
    max_bytes: u64,
    pace: writer::Pace,
    access: Access,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    locks: Vec<Mutex<()>>,
}

impl Recordings {
    /// Creates the recordings folder if needed and sweeps unfinished uploads of an earlier run
    /// in the background.
    pub fn open(
        root: PathBuf,
        config: &RecordingsConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> io::Result<Recordings> {
        std::fs::create_dir_all(&root).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "can't create the recordings folder {}: {e}; set [recordings] dir to a \
                     writable folder",
                    root.display()
                ),
            )
        })?;
        sweep::start(root.clone());
        Ok(Recordings(Arc::new(Shared {
            root,
            max_bytes: config.max_bytes,
            pace: writer::Pace {
                idle: std::time::Duration::from_millis(config.idle_timeout_ms),
                min_bytes_per_s: config.min_bytes_per_s,
                grace: std::time::Duration::from_millis(config.rate_grace_ms),
            },
            access: Access::new(config),
            store,
            clock,
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
        })))
    }

    /// The largest upload accepted, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.0.max_bytes
    }

    /// Who may upload, list, download and delete.
    pub fn access(&self) -> &Access {
        &self.0.access
    }

    /// Stores one upload: streams `body` to disk, checks and hashes it, and records its
    /// metadata; a retry of a stored recording replaces it.
    pub async fn receive<S, B, E>(
        &self,
        name: UploadName,
        body: S,
    ) -> Result<Received, RecordingError>
    where
        S: Stream<Item = Result<B, E>> + Unpin,
        B: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let UploadName {
            stem,
            format,
            mut details,
        } = name;
        let ext = format::extension(format);
        let id = layout::recording_id(&details.account_id, &stem, &details.recording_id, ext);
        let fresh_path = layout::relative_path(
            &details.account_id,
            self.0.clock.now(),
            &stem,
            &details.recording_id,
            ext,
        );
        let shared = self.0.clone();
        let lookup_id = id.clone();
        let (slot, part) = blocking(move || shared.prepare(&lookup_id, fresh_path)).await?;
        let streamed = writer::stream_into(part, body, self.0.max_bytes, self.0.pace).await?;
        if streamed.size == 0 {
            return Err(RecordingError::Empty);
        }
        let check = format::check(format, &streamed.head, streamed.size);
        if details.duration_ms.is_none() {
            details.duration_ms = check.duration_ms;
        }
        let recording = Recording {
            id,
            details,
            size: streamed.size,
            sha256: String::new(),
            format,
            format_ok: check.ok,
            received_at_ms: self.0.clock.now().timestamp_millis(),
            path: slot.path.clone(),
        };
        let shared = self.0.clone();
        blocking(move || shared.commit(streamed.part, recording, slot)).await
    }

    /// A recording's metadata.
    pub async fn get(&self, id: String) -> Result<Option<Recording>, RecordingError> {
        let shared = self.0.clone();
        blocking(move || Ok(shared.store.rec_get(&id)?)).await
    }

    /// Recordings matching `query`, newest first.
    pub async fn list(&self, query: RecordingQuery) -> Result<Vec<Recording>, RecordingError> {
        let shared = self.0.clone();
        blocking(move || Ok(shared.store.rec_list(&query)?)).await
    }

    /// Deletes a recording's file and metadata; returns what was deleted.
    pub async fn delete(&self, id: String) -> Result<Option<Recording>, RecordingError> {
        let shared = self.0.clone();
        blocking(move || shared.delete(&id)).await
    }

    /// The audio file of a recording, or `None` when its stored path is not one the service
    /// builds.
    pub fn file(&self, recording: &Recording) -> Option<PathBuf> {
        layout::resolve(&self.0.root, &recording.path)
    }
}

impl Shared {
    fn lock(&self, id: &str) -> MutexGuard<'_, ()> {
        let hash = id.bytes().fold(0usize, |h, b| {
            h.wrapping_mul(31).wrapping_add(usize::from(b))
        });
        // The lock guards no data, so a panic while holding it leaves nothing inconsistent.
        self.locks[hash % self.locks.len()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Picks the path (a retry goes where the first copy went, even on another day), creates
    /// its folder and the temporary file beside it.
    fn prepare(&self, id: &str, fresh_path: String) -> Result<(Slot, Part), RecordingError> {
        let previous = self.store.rec_get(id)?;
        let existed = previous.is_some();
        let path = previous
            .map(|p| p.path)
            .filter(|p| layout::resolve(&self.root, p).is_some())
            .unwrap_or(fresh_path);
        let target = layout::resolve(&self.root, &path)
            .ok_or_else(|| RecordingError::Internal(format!("built a bad path `{path}`")))?;
        let dir = target
            .parent()
            .map(Path::to_path_buf)
            .ok_or_else(|| RecordingError::Internal(format!("built a bad path `{path}`")))?;
        if !dir.is_dir() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| io_error(format!("creating folder {}", dir.display()), e))?;
            // New folders must survive a crash too: their entries live in the parents.
            for parent in dir.ancestors().skip(1).take(2) {
                writer::sync_dir(parent)
                    .map_err(|e| io_error(format!("syncing folder {}", parent.display()), e))?;
            }
        }
        let part = Part::create(&dir)
            .map_err(|e| io_error(format!("creating a temporary file in {}", dir.display()), e))?;
        Ok((
            Slot {
                path,
                target,
                existed,
            },
            part,
        ))
    }

    /// Makes the upload durable, puts it in place and records its metadata.
    fn commit(
        &self,
        mut part: Part,
        mut recording: Recording,
        slot: Slot,
    ) -> Result<Received, RecordingError> {
        let Slot {
            target, existed, ..
        } = slot;
        recording.sha256 = part
            .sync()
            .map_err(|e| io_error("flushing the upload to disk", e))?;
        let _guard = self.lock(&recording.id);
        part.place(&target)
            .map_err(|e| io_error(format!("moving the upload to {}", target.display()), e))?;
        let previous = match self.store.rec_put(&recording) {
            Ok(previous) => previous,
            Err(e) => {
                // A new file without metadata would be invisible and never cleaned up; a
                // replaced one is put right by the PBX's retry of this failed upload.
                if !existed {
                    let _ = std::fs::remove_file(&target);
                }
                return Err(e.into());
            }
        };
        // Two first copies racing over midnight can pick different days: keep one file.
        if let Some(old) = previous.as_ref().filter(|p| p.path != recording.path) {
            if let Some(old_file) = layout::resolve(&self.root, &old.path) {
                if let Err(e) = std::fs::remove_file(&old_file) {
                    tracing::warn!(path = %old_file.display(), call_id = recording.details.call_id, error = %e, "replaced recording's old file not removed");
                }
            }
        }
        Ok(Received {
            recording,
            replaced: previous.is_some(),
        })
    }

    /// Removes the file, then the metadata: a failure leaves a record that a second DELETE
    /// can finish, never a file nothing points to.
    fn delete(&self, id: &str) -> Result<Option<Recording>, RecordingError> {
        let _guard = self.lock(id);
        let Some(recording) = self.store.rec_get(id)? else {
            return Ok(None);
        };
        if let Some(file) = layout::resolve(&self.root, &recording.path) {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(format!("removing {}", file.display()), e)),
            }
        }
        Ok(self.store.rec_delete(id)?)
    }
}

/// Runs file-system and store work on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RecordingError> + Send + 'static,
) -> Result<T, RecordingError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RecordingError::Internal(format!("a storage task failed: {e}")))?
}
