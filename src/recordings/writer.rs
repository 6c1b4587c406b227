//! Receiving one upload onto disk without ever holding it whole in memory.
//!
//! The body streams into a temporary file ([`Part`]) in the folder the recording will live in,
//! in batches of [`BATCH`] bytes written (and hashed) on a blocking thread while the next batch
//! is read from the network, so at most two batches per upload are in memory; the disk starts
//! writing as the upload goes (`sync_file_range`). Once complete, the file is fsync'd, renamed
//! over its final name (atomic on one file system: a reader sees the old file or the new one,
//! never a partial one), and the folder fsync'd so the rename survives a crash. A [`Part`]
//! dropped before that (client gone, size limit, full disk, a stalled sender) removes its
//! temporary file; one left by a crash is removed by the next start-up's sweep, which knows it
//! from a live upload's by the lock every [`Part`] holds on its file (see `sweep`).
//!
//! A sender that stops, or trickles, is cut off by its [`Pace`]: the PBX uploads a finished file
//! at LAN speed, so an upload that waits long for its next byte, or averages far below that, is a
//! broken or hostile client holding a connection and a file open.

use std::fs::File;
use std::io::{self, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::format::HEAD_BYTES;
use super::layout::hex;
use super::RecordingError;

/// Bytes collected before a write: large enough that the hop to a blocking thread is noise
/// (256 KiB took ~15% longer per GiB on two cores), small enough that many concurrent uploads
/// hold little memory (at most two batches each, and only as much as they have sent).
pub const BATCH: usize = 1024 * 1024;
/// Writeback is started every this many bytes (see `start_writeback`).
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;
/// Temporary files start with this (hidden, never a recording's encoded name).
pub const TEMP_PREFIX: &str = ".upload-";
/// Temporary files end with this.
pub const TEMP_SUFFIX: &str = ".part";

/// Tells temporary files of one process apart.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);
/// Tries at a fresh temporary name when a sweep removed the file before it was locked.
const CREATE_ATTEMPTS: usize = 8;

/// Whether an I/O error means the disk (or the quota) is full: the upload may succeed later,
/// so it is answered with 507, which the PBX retries.
pub fn is_disk_full(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded | ErrorKind::FileTooLarge
    )
}

/// An I/O error while storing, as a [`RecordingError`]: 507 for a full disk, else 500 naming
/// what was being done.
pub fn io_error(context: impl Into<String>, err: io::Error) -> RecordingError {
    if is_disk_full(&err) {
        RecordingError::DiskFull(err)
    } else {
        RecordingError::Io {
            context: context.into(),
            source: err,
        }
    }
}

/// A temporary file being written; removed when dropped unless renamed into place.
pub struct Part {
    file: File,
    path: PathBuf,
    hasher: Sha256,
    placed: bool,
    /// Bytes written so far.
    written: u64,
    /// Bytes whose writeback has been started.
    handed_to_disk: u64,
}

impl Part {
    /// Creates a new temporary file in `dir` and holds its lock until it is dropped (blocking).
    ///
    /// The lock (`flock`, exclusive) is what tells the start-up sweep of any process sharing the
    /// folder that the file is being written: the sweep removes only files whose lock it can
    /// take. A sweep can still take the lock in the instant between the file's creation and
    /// ours and remove it; then the name no longer leads to our file, and we start again.
    pub fn create(dir: &Path) -> io::Result<Part> {
        for _ in 0..CREATE_ATTEMPTS {
            let path = dir.join(temp_name());
            // create_new: never write into a file someone else holds.
            let file = File::options().write(true).create_new(true).open(&path)?;
            lock(&file)?;
            if names_file(&path, &file) {
                return Ok(Part {
                    file,
                    path,
                    hasher: Sha256::new(),
                    placed: false,
                    written: 0,
                    handed_to_disk: 0,
                });
            }
        }
        Err(io::Error::other(format!(
            "temporary files in {} kept being removed as they were created ({CREATE_ATTEMPTS} \
             tries): is another process sweeping the folder in a loop?",
            dir.display()
        )))
    }

    /// Appends bytes and feeds them to the hash (blocking).
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.hasher.update(bytes);
        self.file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        if self.written - self.handed_to_disk >= WRITEBACK_EVERY {
            start_writeback(&self.file, self.handed_to_disk, self.written);
            self.handed_to_disk = self.written;
        }
        Ok(())
    }

    /// Flushes the file to disk and returns its SHA-256 (blocking).
    pub fn sync(&mut self) -> io::Result<String> {
        self.file.sync_all()?;
        Ok(hex(&std::mem::take(&mut self.hasher).finalize()))
    }

    /// Renames the (synced) file to `target`, replacing any file there, then fsyncs the folder
    /// so the new name is on disk (blocking).
    pub fn place(mut self, target: &Path) -> io::Result<()> {
        std::fs::rename(&self.path, target)?;
        self.placed = true;
        match target.parent() {
            Some(dir) => sync_dir(dir),
            None => Ok(()),
        }
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if !self.placed {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove an unfinished upload");
            }
        }
    }
}

/// A temporary file's name: unique across processes and hosts sharing the folder (process ids
/// repeat from one host to the next, so a random part is added).
fn temp_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
    // A fresh RandomState is seeded from the OS's randomness.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    format!(
        "{TEMP_PREFIX}{}-{n}-{random:016x}{TEMP_SUFFIX}",
        std::process::id()
    )
}

/// Takes the exclusive advisory lock on `file`, waiting for it (a sweep holds it an instant).
#[cfg(target_os = "linux")]
fn lock(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: flock only reads its integer arguments; the descriptor is open for as long
        // as `file` is borrowed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// Takes the exclusive advisory lock on `file` if no one holds it: false when someone does.
/// It is released when the file is closed, or when its process dies.
#[cfg(target_os = "linux")]
pub(super) fn try_lock(file: &File) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: as in `lock`.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    if err.kind() == ErrorKind::WouldBlock {
        Ok(false)
    } else {
        Err(err)
    }
}

/// Without `flock` (not Linux), nothing is locked…
#[cfg(not(target_os = "linux"))]
fn lock(_file: &File) -> io::Result<()> {
    Ok(())
}

/// …and a temporary file counts as held until it is an hour old, as before locks.
#[cfg(not(target_os = "linux"))]
pub(super) fn try_lock(file: &File) -> io::Result<bool> {
    let age = file.metadata()?.modified()?.elapsed().unwrap_or_default();
    Ok(age >= std::time::Duration::from_secs(3600))
}

/// Whether `path` still leads to the open `file` (same device and inode): false once the file
/// was removed, or its name taken by another file.
pub(super) fn names_file(path: &Path, file: &File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(path), file.metadata()) {
            (Ok(named), Ok(open)) => named.dev() == open.dev() && named.ino() == open.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

/// Asks the kernel to start writing bytes `from..to` of `file` to disk now, without waiting.
///
/// Left alone, the kernel starts only once gigabytes are dirty, so the final fsync would wait
/// for the whole file; started as the upload goes, the disk works while the network does, the
/// fsync finds little left, and no upload holds much of the page cache dirty. A hint only: an
/// error here shows up again at the fsync, which is checked.
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, from: u64, to: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(from), i64::try_from(to - from)) else {
        return;
    };
    // SAFETY: sync_file_range only reads its integer arguments; the descriptor is open for as
    // long as `file` is borrowed.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

/// Elsewhere the final fsync does all the work.
#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _from: u64, _to: u64) {}

/// Makes a folder's entries durable (a rename or a new file in it).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// How slow an upload may be before it is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Longest wait for the next bytes.
    pub idle: Duration,
    /// Slowest average (bytes per second) once `grace` has passed; 0 turns the check off.
    pub min_bytes_per_s: u64,
    /// How long an upload runs before its average counts.
    pub grace: Duration,
}

impl Pace {
    /// No limit at all (for callers that bound time themselves).
    pub const UNLIMITED: Pace = Pace {
        idle: Duration::MAX,
        min_bytes_per_s: 0,
        grace: Duration::MAX,
    };

    /// When the upload must have sent more, having sent `size` bytes since `started` and its
    /// last bytes at `last`: whichever of the idle and the average deadlines comes first.
    fn deadline(&self, started: Instant, last: Instant, size: u64) -> (Instant, Stall) {
        let idle = last.checked_add(self.idle);
        let slow = (self.min_bytes_per_s > 0)
            .then(|| {
                // The average falls below the floor once `size / elapsed < min`, i.e. once
                // `elapsed > size / min`; never before the grace period ends.
                let due = Duration::try_from_secs_f64(size as f64 / self.min_bytes_per_s as f64)
                    .unwrap_or(Duration::MAX);
                started.checked_add(due.max(self.grace))
            })
            .flatten();
        match (idle, slow) {
            (Some(i), Some(s)) if s < i => (s, Stall::Slow),
            (Some(i), _) => (i, Stall::Idle),
            (None, Some(s)) => (s, Stall::Slow),
            // Both beyond any representable instant: a year from now is for ever enough.
            (None, None) => (last + Duration::from_secs(365 * 86_400), Stall::Idle),
        }
    }

    fn stalled(&self, why: Stall, size: u64, started: Instant) -> RecordingError {
        let elapsed = started.elapsed().as_secs_f64();
        RecordingError::Stalled(match why {
            Stall::Idle => format!(
                "no bytes for {} ms after {size} bytes ([recordings] idle_timeout_ms)",
                self.idle.as_millis()
            ),
            Stall::Slow => format!(
                "{size} bytes in {elapsed:.1} s is slower than {} bytes/s ([recordings] \
                 min_bytes_per_s)",
                self.min_bytes_per_s
            ),
        })
    }
}

/// Which limit a stalled upload hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stall {
    Idle,
    Slow,
}

/// What [`stream_into`] produced.
pub struct Streamed {
    /// The temporary file, complete but not yet synced.
    pub part: Part,
    /// Bytes received.
    pub size: u64,
    /// The first bytes (up to [`HEAD_BYTES`]), for the header check.
    pub head: Vec<u8>,
}

/// Streams `body` into `part`, refusing more than `limit` bytes and a sender slower than `pace`.
/// On any error the temporary file is removed before this returns.
pub async fn stream_into<S, B, E>(
    part: Part,
    mut body: S,
    limit: u64,
    pace: Pace,
) -> Result<Streamed, RecordingError>
where
    S: Stream<Item = Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: std::fmt::Display,
{
    let mut writer = Writer {
        part: Some(part),
        busy: None,
    };
    let mut batch = Vec::new();
    let mut size = 0u64;
    let mut head = Vec::new();
    let started = Instant::now();
    let mut last = started;
    let result = async {
        loop {
            let (due, why) = pace.deadline(started, last, size);
            let next = match tokio::time::timeout_at(due, body.next()).await {
                Ok(next) => next,
                Err(_) => return Err(pace.stalled(why, size, started)),
            };
            let Some(chunk) = next else { break };
            last = Instant::now();
            let chunk = chunk.map_err(|e| RecordingError::Interrupted(e.to_string()))?;
            let bytes = chunk.as_ref();
            size += bytes.len() as u64;
            if size > limit {
                return Err(RecordingError::TooLarge { limit });
            }
            if head.len() < HEAD_BYTES {
                let take = bytes.len().min(HEAD_BYTES - head.len());
                head.extend_from_slice(&bytes[..take]);
            }
            batch.extend_from_slice(bytes);
            if batch.len() >= BATCH {
                batch = writer.send(std::mem::take(&mut batch)).await?;
            }
        }
        if !batch.is_empty() {
            writer.send(batch).await?;
        }
        writer.finish().await
    }
    .await;
    match result {
        Ok(part) => Ok(Streamed { part, size, head }),
        Err(e) => {
            // Let a write in flight end, so its file is gone when the caller answers.
            let _ = writer.finish().await;
            Err(e)
        }
    }
}

/// A batch write on a blocking thread; it hands back the file and the emptied buffer.
type BatchWrite = JoinHandle<io::Result<(Part, Vec<u8>)>>;

/// Keeps at most one batch being written while the next one fills.
struct Writer {
    /// The file, when no write is in flight.
    part: Option<Part>,
    /// The write in flight.
    busy: Option<BatchWrite>,
}

impl Writer {
    /// Waits for the write in flight; returns its emptied buffer for reuse.
    async fn settle(&mut self) -> Result<Vec<u8>, RecordingError> {
        let Some(busy) = self.busy.take() else {
            return Ok(Vec::new());
        };
        let (part, buffer) = busy
            .await
            .map_err(|e| RecordingError::Internal(format!("the upload writer failed: {e}")))?
            .map_err(|e| io_error("writing the upload", e))?;
        self.part = Some(part);
        Ok(buffer)
    }

    /// Starts writing `batch` once the previous write is done; returns a buffer to fill next.
    async fn send(&mut self, mut batch: Vec<u8>) -> Result<Vec<u8>, RecordingError> {
        let spare = self.settle().await?;
        let mut part = self.take_part()?;
        self.busy = Some(tokio::task::spawn_blocking(move || {
            part.write(&batch)?;
            batch.clear();
            Ok((part, batch))
        }));
        Ok(spare)
    }

    /// Waits for the last write and returns the file.
    async fn finish(&mut self) -> Result<Part, RecordingError> {
        self.settle().await?;
        self.take_part()
    }

    fn take_part(&mut self) -> Result<Part, RecordingError> {
        self.part
            .take()
            .ok_or_else(|| RecordingError::Internal("the upload's file was already closed".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_files(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    fn chunks(sizes: &[usize]) -> impl Stream<Item = Result<Vec<u8>, String>> + Unpin {
        let mut n = 0u8;
        let items: Vec<Result<Vec<u8>, String>> = sizes
            .iter()
            .map(|&len| {
                Ok((0..len)
                    .map(|_| {
                        n = n.wrapping_add(1);
                        n
                    })
                    .collect())
            })
            .collect();
        futures_util::stream::iter(items)
    }

    #[tokio::test]
    async fn streams_hashes_and_places_atomically() {
        let dir = tempfile::tempdir().unwrap();
        // Past WRITEBACK_EVERY, so writeback is started on the way.
        let sizes = [1, BATCH - 1, BATCH * 2 + 7, 10, 9 << 20, BATCH];
        let part = Part::create(dir.path()).unwrap();
        let streamed = stream_into(part, chunks(&sizes), u64::MAX, Pace::UNLIMITED)
            .await
            .unwrap();
        let total: usize = sizes.iter().sum();
        assert_eq!(streamed.size, total as u64);
        assert_eq!(streamed.head.len(), HEAD_BYTES);
        let mut part = streamed.part;
        let sha = part.sync().unwrap();
        let target = dir.path().join("final.mp3");
        std::fs::write(&target, b"old").unwrap();
        part.place(&target).unwrap();
        let stored = std::fs::read(&target).unwrap();
        assert_eq!(stored.len(), total);
        assert_eq!(sha, hex(&Sha256::digest(&stored)));
        assert_eq!(temp_files(dir.path()), ["final.mp3"]);
    }

    #[tokio::test]
    async fn errors_leave_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let part = Part::create(dir.path()).unwrap();
        let over = stream_into(
            part,
            chunks(&[BATCH, BATCH, 5]),
            2 * BATCH as u64 + 4,
            Pace::UNLIMITED,
        )
        .await;
        assert!(matches!(over, Err(RecordingError::TooLarge { .. })));
        assert!(temp_files(dir.path()).is_empty());

        let part = Part::create(dir.path()).unwrap();
        let items: Vec<Result<Vec<u8>, String>> =
            vec![Ok(vec![1; BATCH + 1]), Err("connection reset".into())];
        let cut = stream_into(
            part,
            futures_util::stream::iter(items),
            u64::MAX,
            Pace::UNLIMITED,
        )
        .await;
        assert!(matches!(cut, Err(RecordingError::Interrupted(m)) if m == "connection reset"));
        assert!(temp_files(dir.path()).is_empty());

        drop(Part::create(dir.path()).unwrap());
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn the_pace_deadline_is_the_idle_or_the_average_whichever_comes_first() {
        let pace = Pace {
            idle: Duration::from_secs(30),
            min_bytes_per_s: 1000,
            grace: Duration::from_secs(30),
        };
        let t0 = Instant::now();
        // Nothing sent yet: the grace period and the idle limit end together.
        assert_eq!(pace.deadline(t0, t0, 0).0, t0 + Duration::from_secs(30));
        // 100 kB after 50 s: the average holds until 100 s, the idle limit ends first.
        let last = t0 + Duration::from_secs(50);
        assert_eq!(
            pace.deadline(t0, last, 100_000),
            (last + pace.idle, Stall::Idle)
        );
        // 40 kB after 35 s: the average fell below the floor at 40 s, before the idle limit.
        let last = t0 + Duration::from_secs(35);
        assert_eq!(
            pace.deadline(t0, last, 40_000),
            (t0 + Duration::from_secs(40), Stall::Slow)
        );
        // Turned off: only the idle limit counts.
        let idle_only = Pace {
            min_bytes_per_s: 0,
            ..pace
        };
        assert_eq!(
            idle_only.deadline(t0, last, 0),
            (last + pace.idle, Stall::Idle)
        );
        assert!(Pace::UNLIMITED.deadline(t0, t0, 0).0 > t0 + Duration::from_secs(86_400));
    }

    #[test]
    fn full_disks_and_quotas_map_to_disk_full() {
        for kind in [
            ErrorKind::StorageFull,
            ErrorKind::QuotaExceeded,
            ErrorKind::FileTooLarge,
        ] {
            assert!(is_disk_full(&io::Error::from(kind)), "{kind:?}");
        }
        // The raw errno values a write or fsync returns on Linux: ENOSPC, EDQUOT.
        for errno in [28, 122] {
            let err = io::Error::from_raw_os_error(errno);
            assert!(matches!(io_error("x", err), RecordingError::DiskFull(_)));
        }
        let other = io_error("writing x", io::Error::from(ErrorKind::PermissionDenied));
        assert!(matches!(other, RecordingError::Io { .. }));
    }
}
