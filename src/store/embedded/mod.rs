//! The embedded backend: one redb file, `DATA_DIR/pivotforge.redb`, no server to run.
//!
//! This file owns the database: opening it, transactions, durability, and the backend's own
//! errors ([`EmbeddedError`], which name the file to restore or free). Each domain — `kv`,
//! `userspace`, `queue`, `recordings`, `calls` and `journals` — has its tables, what is done with
//! them and its trait's implementation in its own file; input reaches them checked by the
//! domain traits. `group` lets durable journal writes share commits.
//!
//! Durability. redb 4.x offers two levels: `Immediate` (fsync before `commit` returns) and
//! `None` (the commit is visible at once and reaches the disk with the next `Immediate` commit).
//! `None` is still crash-safe: redb flips its on-disk commit slot only in a durable commit, so a
//! crash rolls the file back to the last durable commit, consistent and never torn. cxKV writes,
//! which scripts make on every call, use `None`, and a flusher thread makes them durable within
//! [`FLUSH_INTERVAL`] (an empty `Immediate` commit): a crash loses at most about a second of cxKV
//! writes, and a script's write does not wait for an fsync. Userspace writes (a `dnc` entry must
//! not vanish after it was acknowledged), every event-queue change and recording metadata use
//! `Immediate`. The exchange log, a record for people written in batches by its own thread, uses
//! `None` like cxKV; journals use `Immediate`. Closing the store makes pending writes durable too.
//! A scratch store ([`EmbeddedStore::open_scratch`], a simulated call's, removed after it) makes
//! every commit `None` and never syncs: nothing in it outlives the process.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use redb::{
    Database, DatabaseError, Durability, ReadTransaction, ReadableDatabase, StorageError,
    WriteTransaction,
};

use super::{JournalWrite, Store, StoreError};

mod calls;
mod group;
mod journals;
mod kv;
mod queue;
mod recordings;
mod userspace;

/// The database file's name under the data directory.
const FILE_NAME: &str = "pivotforge.redb";
/// Memory redb may hold for its page cache and write buffer. Its default, 1 GiB, fills as the
/// file grows (the exchange log stores every step), so the service's RSS followed the file up
/// to it (found by `benches/soak.sh`). What a running service reads back — the newest steps,
/// live calls' journals, cxKV — fits in this; older pages are read from the OS's page cache.
const CACHE_BYTES: usize = 16 * 1024 * 1024;
/// Longest time a non-durable cxKV write waits to reach the disk.
const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// The embedded [`Store`]: a redb file, shared by the threads of one process.
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    flusher: Option<Flusher>,
}

/// What the store's methods and the flusher thread share.
struct Shared {
    db: Database,
    /// Set after a non-durable commit; whoever next commits durably clears it.
    dirty: AtomicBool,
    /// False for a scratch store: no commit waits for the disk.
    sync: bool,
    /// Journal writes waiting to share a commit.
    journal_puts: group::Group<journals::Put, Result<JournalWrite, StoreError>>,
}

/// The flusher thread; dropping `stop` tells it to finish.
struct Flusher {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
}

/// What only the embedded backend can go wrong with, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The database file is held by another process.
    #[error(
        "database file {} is already open in another process; stop that process or give this one \
         another data directory",
        path.display()
    )]
    Locked {
        /// The database file.
        path: std::path::PathBuf,
    },
    /// The database file is damaged or is not a database.
    #[error(
        "database is corrupt ({0}); restore {FILE_NAME} from a backup, or move it aside to \
         start empty"
    )]
    Corrupt(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(String),
}

impl From<EmbeddedError> for StoreError {
    fn from(err: EmbeddedError) -> StoreError {
        StoreError::Backend(Box::new(err))
    }
}

/// Maps any redb error to a [`StoreError`], keeping corruption and I/O distinguishable.
fn db_error(err: impl Into<redb::Error>) -> StoreError {
    match err.into() {
        redb::Error::Corrupted(msg) => EmbeddedError::Corrupt(msg).into(),
        redb::Error::Io(source) => StoreError::Io {
            context: format!("reading or writing {FILE_NAME}"),
            source,
        },
        other => EmbeddedError::Database(other.to_string()).into(),
    }
}

impl EmbeddedStore {
    /// Opens or creates `DIR/pivotforge.redb` (creating DIR). A second process opening the same file gets a clear error naming the file.
    pub fn open(data_dir: &Path) -> Result<EmbeddedStore, StoreError> {
        EmbeddedStore::open_with(data_dir, true)
    }

    /// Opens a store in a throw-away folder whose commits never wait for the disk (a busy
    /// disk made every simulated call's durable commits the cost of `pivotforge test`); what
    /// it holds is read back as from any store, and a crash may lose all of it.
    pub fn open_scratch(data_dir: &Path) -> Result<EmbeddedStore, StoreError> {
        EmbeddedStore::open_with(data_dir, false)
    }

    fn open_with(data_dir: &Path, sync: bool) -> Result<EmbeddedStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            context: format!("creating data directory {}", data_dir.display()),
            source,
        })?;
        let path = data_dir.join(FILE_NAME);
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|e| open_error(&path, e))?;
        // Create every table up front, so read transactions never meet a missing one.
        let mut txn = db.begin_write().map_err(db_error)?;
        if !sync {
            txn.set_durability(Durability::None).map_err(db_error)?;
        }
        kv::create_tables(&txn)?;
        userspace::create_tables(&txn)?;
        queue::create_tables(&txn)?;
        recordings::create_tables(&txn)?;
        calls::create_tables(&txn)?;
        journals::create_tables(&txn)?;
        txn.commit().map_err(db_error)?;

        let shared = Arc::new(Shared {
            db,
            dirty: AtomicBool::new(false),
            sync,
            journal_puts: group::Group::new(),
        });
        let legacy = shared
            .db
            .begin_read()
            .map_err(db_error)
            .and_then(|txn| kv::legacy_keys(&txn))?;
        if legacy > 0 {
            tracing::warn!(
                keys = legacy,
                "cxKV keys written before per-flow namespaces are kept in the old table but no \
                 script can reach them; set them again from the flow that owns them"
            );
        }
        let flusher = if sync {
            Some(start_flusher(Arc::clone(&shared))?)
        } else {
            None
        };
        tracing::info!(path = %path.display(), sync, "store opened");
        Ok(EmbeddedStore { shared, flusher })
    }

    /// Runs `f` in a write transaction and commits it; `durable` means fsync'd before return.
    fn write<T>(
        &self,
        durable: bool,
        f: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let durable = durable && self.shared.sync;
        let mut txn = self.shared.db.begin_write().map_err(db_error)?;
        if !durable {
            txn.set_durability(Durability::None).map_err(db_error)?;
        }
        let out = match f(&txn) {
            Ok(out) => out,
            Err(err) => {
                // Nothing of a failed operation may land.
                if let Err(abort) = txn.abort() {
                    tracing::warn!(error = %abort, "aborting a store transaction failed");
                }
                return Err(err);
            }
        };
        // A durable commit also makes every earlier non-durable one durable, so it settles the
        // flusher's debt. The flag is cleared before committing so that a flag set by a later
        // writer is never lost.
        let settled = durable && self.shared.dirty.swap(false, Ordering::SeqCst);
        if let Err(err) = txn.commit() {
            if settled {
                self.shared.dirty.store(true, Ordering::SeqCst);
            }
            return Err(db_error(err));
        }
        if !durable {
            self.shared.dirty.store(true, Ordering::SeqCst);
        }
        Ok(out)
    }

    /// Runs `f` in a read transaction (a consistent snapshot).
    fn read<T>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let txn = self.shared.db.begin_read().map_err(db_error)?;
        f(&txn)
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        if let Some(flusher) = self.flusher.take() {
            drop(flusher.stop);
            if flusher.handle.join().is_err() {
                tracing::warn!("store flusher thread panicked");
            }
        }
        // redb's close does this as well; doing it here means a failure is at least logged.
        if let Err(err) = self.shared.flush_if_dirty() {
            tracing::warn!(error = %err, "making cxKV writes durable on close failed");
        }
    }
}

impl Shared {
    /// Makes pending non-durable commits durable with an empty `Immediate` commit.
    fn flush_if_dirty(&self) -> Result<(), StoreError> {
        if !self.sync || !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let result = self
            .db
            .begin_write()
            .map_err(db_error)
            .and_then(|txn| txn.commit().map_err(db_error));
        if result.is_err() {
            self.dirty.store(true, Ordering::SeqCst);
        }
        result
    }
}

/// Starts the thread that bounds how long a cxKV write stays non-durable.
fn start_flusher(shared: Arc<Shared>) -> Result<Flusher, StoreError> {
    let (stop, stopped) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("store-flush".into())
        .spawn(move || {
            // Only a timeout means "flush"; a dropped sender means the store is closing.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(FLUSH_INTERVAL) {
                if let Err(err) = shared.flush_if_dirty() {
                    tracing::warn!(error = %err, "making cxKV writes durable failed; will retry");
                }
            }
        })
        .map_err(|source| StoreError::Io {
            context: "starting the store flusher thread".into(),
            source,
        })?;
    Ok(Flusher { stop, handle })
}

/// Turns an open failure into an error that names the file and says what to do.
fn open_error(path: &Path, err: DatabaseError) -> StoreError {
    match err {
        DatabaseError::DatabaseAlreadyOpen => EmbeddedError::Locked {
            path: path.to_path_buf(),
        }
        .into(),
        DatabaseError::Storage(StorageError::Io(source)) => StoreError::Io {
            context: format!("opening {}", path.display()),
            source,
        },
        DatabaseError::Storage(StorageError::Corrupted(msg)) => {
            EmbeddedError::Corrupt(format!("{}: {msg}", path.display())).into()
        }
        other => EmbeddedError::Database(format!("opening {}: {other}", path.display())).into(),
    }
}

impl Store for EmbeddedStore {
    fn flush(&self) -> Result<(), StoreError> {
        self.shared.flush_if_dirty()
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.read(kv::probe)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::store::{
        EventQueue, ExchangeLog, Journals, Kv, Recording, RecordingIndex, StepRecord, Userspace,
    };

    #[test]
    fn open_creates_the_directory_and_pings() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested").join("data");
        let store = EmbeddedStore::open(&data).unwrap();
        assert!(data.join("pivotforge.redb").is_file());
        store.ping().unwrap();
    }

    #[test]
    fn a_second_open_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let _first = EmbeddedStore::open(dir.path()).unwrap();
        let err = match EmbeddedStore::open(dir.path()) {
            Ok(_) => panic!("second open succeeded"),
            Err(err) => err,
        };
        let locked = match &err {
            StoreError::Backend(inner) => inner.downcast_ref::<EmbeddedError>(),
            _ => None,
        };
        assert!(
            matches!(locked, Some(EmbeddedError::Locked { .. })),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("pivotforge.redb") && msg.contains("already open"),
            "{msg}"
        );
    }

    /// Child half of the cross-process lock test: opens the directory the parent holds.
    #[test]
    #[ignore = "run by another_process_is_refused_naming_the_file"]
    fn lock_child() {
        let Some(dir) = std::env::var_os("PIVOTFORGE_STORE_LOCK_DIR") else {
            return;
        };
        match EmbeddedStore::open(std::path::Path::new(&dir)) {
            Ok(_) => println!("CHILD-OPENED"),
            Err(err) => println!("CHILD-ERROR {err}"),
        }
    }

    #[test]
    fn another_process_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let _held = EmbeddedStore::open(dir.path()).unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "store::embedded::tests::lock_child"])
            .args(["--nocapture", "--test-threads=1"])
            .env("PIVOTFORGE_STORE_LOCK_DIR", dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("CHILD-ERROR database file")
                && stdout.contains("pivotforge.redb is already open in another process"),
            "{stdout}"
        );
    }

    /// Child half of the crash test: writes, waits `PIVOTFORGE_STORE_CRASH_WAIT_MS`, aborts.
    #[test]
    #[ignore = "run by a_crash_keeps_the_file_consistent_and_loses_at_most_a_second"]
    fn crash_child() {
        let Some(dir) = std::env::var_os("PIVOTFORGE_STORE_CRASH_DIR") else {
            return;
        };
        let wait: u64 = std::env::var("PIVOTFORGE_STORE_CRASH_WAIT_MS")
            .unwrap()
            .parse()
            .unwrap();
        let s = EmbeddedStore::open(std::path::Path::new(&dir)).unwrap();
        s.us_put("dnc", "durable", &json!(true)).unwrap();
        s.event_push("f", &json!({"n": 1}), 0, u64::MAX).unwrap();
        s.kv_set("flow:t", "soft", &json!(wait), None, 0).unwrap();
        std::thread::sleep(Duration::from_millis(wait));
        // No destructors, no close: as close to a crash as a test can get.
        std::process::abort();
    }

    #[test]
    fn a_crash_keeps_the_file_consistent_and_loses_at_most_a_second() {
        for wait_ms in [0u64, 2_500] {
            let dir = tempfile::tempdir().unwrap();
            let status = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--ignored",
                    "--exact",
                    "store::embedded::tests::crash_child",
                ])
                .args(["--test-threads=1"])
                .env("PIVOTFORGE_STORE_CRASH_DIR", dir.path())
                .env("PIVOTFORGE_STORE_CRASH_WAIT_MS", wait_ms.to_string())
                .output()
                .unwrap()
                .status;
            assert!(!status.success(), "the child was meant to abort");
            let s = EmbeddedStore::open(dir.path()).unwrap();
            // Durable writes always survive.
            assert_eq!(s.us_get("dnc", "durable").unwrap(), Some(json!(true)));
            assert_eq!(s.events_pending().unwrap(), 1);
            let soft = s.kv_get("flow:t", "soft", 0).unwrap();
            if wait_ms > 0 {
                // The flusher had time to make the cxKV write durable.
                assert_eq!(soft, Some(json!(wait_ms)));
            } else {
                // Lost or kept, but never torn.
                assert!(soft.is_none() || soft == Some(json!(0)), "{soft:?}");
            }
        }
    }

    #[test]
    fn a_data_dir_that_is_a_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "x").unwrap();
        let err = match EmbeddedStore::open(&file) {
            Ok(_) => panic!("opened a file as a directory"),
            Err(err) => err,
        };
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains("not-a-dir"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pivotforge.redb"), vec![7u8; 8192]).unwrap();
        let err = match EmbeddedStore::open(dir.path()) {
            Ok(_) => panic!("opened garbage"),
            Err(err) => err,
        };
        assert!(err.to_string().contains("pivotforge.redb"), "{err}");
    }

    #[test]
    fn keys_from_before_namespaces_are_kept_but_reach_no_flow() {
        let dir = tempfile::tempdir().unwrap();
        {
            // What an older version wrote: the same value layout, no namespace.
            let legacy: redb::TableDefinition<&str, (Option<i64>, &str)> =
                redb::TableDefinition::new("kv");
            let db = Database::create(dir.path().join(FILE_NAME)).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(legacy)
                .unwrap()
                .insert("blocked:+14155550100", (None, "\"3\""))
                .unwrap();
            txn.commit().unwrap();
        }
        let s = EmbeddedStore::open(dir.path()).unwrap();
        let txn = s.shared.db.begin_read().unwrap();
        assert_eq!(kv::legacy_keys(&txn).unwrap(), 1, "kept");
        for ns in ["flow:honeypot", "shared:honeypot", "flow:"] {
            assert_eq!(s.kv_get(ns, "blocked:+14155550100", 0).unwrap(), None);
            assert!(s.kv_keys(ns, 0, 10).unwrap().is_empty());
        }
    }

    #[test]
    fn everything_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (pending, dead) = {
            let s = EmbeddedStore::open(dir.path()).unwrap();
            s.kv_set("flow:t", "greeting", &json!("hello"), None, 0)
                .unwrap();
            s.kv_set("flow:t", "otp", &json!("1"), Some(1_000), 0)
                .unwrap();
            assert_eq!(s.kv_incr("flow:t", "hits", 3, None, 0).unwrap(), 3);
            s.us_put("dnc", "+15550100", &json!(true)).unwrap();
            let pending = s
                .event_push("sales", &json!({"call_id": "a"}), 5, u64::MAX)
                .unwrap();
            let dead = s
                .event_push("sales", &json!({"call_id": "b"}), 6, u64::MAX)
                .unwrap();
            s.event_retry(pending, 50, "down").unwrap();
            s.event_dead(dead, "gave up", 0).unwrap();
            // The last write is non-durable: closing must still keep it.
            s.kv_set("flow:t", "last", &json!({"n": 1}), None, 0)
                .unwrap();
            (pending, dead)
        };
        let s = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(
            s.kv_get("flow:t", "greeting", 0).unwrap(),
            Some(json!("hello"))
        );
        assert_eq!(s.kv_get("flow:t", "otp", 999).unwrap(), Some(json!("1")));
        assert_eq!(s.kv_get("flow:t", "otp", 1_000).unwrap(), None);
        assert_eq!(s.kv_get("flow:t", "hits", 0).unwrap(), Some(json!(3)));
        assert_eq!(
            s.kv_get("flow:t", "last", 0).unwrap(),
            Some(json!({"n": 1}))
        );
        assert_eq!(s.us_get("dnc", "+15550100").unwrap(), Some(json!(true)));
        assert_eq!(s.events_pending().unwrap(), 1);
        let due = s.events_due(50, 10).unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!((due[0].id, due[0].attempts), (pending, 1));
        assert_eq!(due[0].event, json!({"call_id": "a"}));
        assert_eq!(s.events_dead(10).unwrap()[0].id, dead);
        // The id counter survived too: no id is handed out twice.
        assert!(s.event_push("sales", &json!({}), 7, u64::MAX).unwrap() > dead);
    }

    #[test]
    fn the_flusher_makes_kv_writes_durable_without_a_close() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedStore::open(dir.path()).unwrap();
        s.kv_set("flow:t", "k", &json!(1), None, 0).unwrap();
        assert!(s.shared.dirty.load(Ordering::SeqCst));
        let deadline = std::time::Instant::now() + FLUSH_INTERVAL * 5;
        while s.shared.dirty.load(Ordering::SeqCst) {
            assert!(std::time::Instant::now() < deadline, "flusher never ran");
            std::thread::sleep(Duration::from_millis(50));
        }
        // A durable write settles the debt at once.
        s.kv_set("flow:t", "k", &json!(2), None, 0).unwrap();
        s.us_put("dnc", "1", &json!(true)).unwrap();
        assert!(!s.shared.dirty.load(Ordering::SeqCst));
    }

    #[test]
    fn the_store_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<EmbeddedStore>();
        let dir = tempfile::tempdir().unwrap();
        let s: Box<dyn Store> = Box::new(EmbeddedStore::open(dir.path()).unwrap());
        s.ping().unwrap();
    }

    fn step(
        call_id: &'static str,
        seq: u64,
        at_ms: i64,
        flow: &'static str,
    ) -> StepRecord<'static> {
        StepRecord {
            call_id,
            facts: crate::store::StepFacts {
                seq,
                at_ms,
                flow,
                outcome: "tree",
                status: 200,
            },
            json: format!("{{\"step\":0,\"seq\":{seq}}}").into(),
        }
    }

    #[test]
    fn steps_summaries_and_order_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = EmbeddedStore::open(dir.path()).unwrap();
            assert_eq!(s.calls_reserve(0).unwrap(), 0);
            s.calls_append(&[step("a", 0, 100, "f"), step("b", 1, 200, "g")])
                .unwrap();
            // A later batch moves `a` to the front: its index entry must move with it.
            s.calls_append(&[step("a", 7, 300, "g")]).unwrap();
        }
        let s = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(s.calls_reserve(0).unwrap(), 8);
        let mut listed = Vec::new();
        s.calls_scan(i64::MIN, &mut |c| {
            listed.push((c.call_id, c.steps));
            true
        })
        .unwrap();
        assert_eq!(listed, [("a".into(), 2), ("b".into(), 1)]);
        let mut recent = Vec::new();
        s.calls_scan(250, &mut |c| {
            recent.push((c.call_id, c.steps));
            true
        })
        .unwrap();
        assert_eq!(recent, [("a".into(), 2)]);
        assert!(s.calls_steps("nobody").unwrap().is_empty());
        let steps = s.calls_steps("a").unwrap();
        assert_eq!(
            steps.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
            [0, 7]
        );
        assert_eq!(steps[1].1, "{\"step\":0,\"seq\":7}");
        let found = s.calls_summaries(&["b", "nobody", "a"]).unwrap();
        assert_eq!(found[0].as_ref().unwrap().flows, ["g"]);
        assert!(found[1].is_none());
        let a = found[2].as_ref().unwrap();
        assert_eq!((a.first_at_ms, a.last_at_ms, a.last_seq), (100, 300, 7));
        assert_eq!(a.flows, ["f", "g"]);
        // Reserved numbers survive a restart too, used or not.
        assert_eq!(s.calls_reserve(5).unwrap(), 8);
        drop(s);
        let s = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(s.calls_reserve(0).unwrap(), 13);
    }

    #[test]
    fn puts_committed_together_are_each_checked_in_order_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let put = |key: &str, text: &str, expected| journals::Put {
            key: key.into(),
            text: text.into(),
            expected,
            expires_at_ms: None,
            now_ms: 0,
        };
        {
            let s = EmbeddedStore::open(dir.path()).unwrap();
            let got = s.commit_journal_puts(&[
                put("a", "1", 0),
                put("a", "2", 0),
                put("b", "3", 0),
                put("a", "4", 1),
            ]);
            let got: Vec<JournalWrite> = got.into_iter().map(Result::unwrap).collect();
            assert_eq!(
                got,
                [
                    JournalWrite::Written { version: 1 },
                    JournalWrite::Stale { current: 1 },
                    JournalWrite::Written { version: 1 },
                    JournalWrite::Written { version: 2 },
                ]
            );
        }
        let s = EmbeddedStore::open(dir.path()).unwrap();
        let a = s.journal_get_text("a", 0).unwrap().unwrap();
        assert_eq!((a.version, a.text.as_str()), (2, "4"));
        assert_eq!(s.journal_get_text("b", 0).unwrap().unwrap().text, "3");
    }

    #[test]
    fn recordings_journals_and_leases_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recording {
            id: "b".into(),
            details: crate::store::CallDetails::default(),
            size: 10,
            sha256: "ab".repeat(32),
            format: crate::callflow::RecordingFormat::Mp3,
            format_ok: true,
            received_at_ms: 5,
            path: "acc/2026-01-01/b.mp3".into(),
        };
        let leased = {
            let s = EmbeddedStore::open(dir.path()).unwrap();
            s.rec_put(&rec).unwrap();
            s.journal_put("j", &json!({"n": 1}), 0, None, 0).unwrap();
            let id = s.event_push("f", &json!({}), 0, u64::MAX).unwrap();
            s.events_claim("w1", 0, 1_000, 10).unwrap();
            id
        };
        // The metadata survives a restart.
        let s = EmbeddedStore::open(dir.path()).unwrap();
        assert_eq!(s.rec_get("b").unwrap().unwrap().received_at_ms, 5);
        assert_eq!(s.journal_get("j", 0).unwrap().unwrap().version, 1);
        // So does the lease: the restarted worker waits for it like any other.
        assert!(s.events_claim("w2", 999, 1_000, 10).unwrap().is_empty());
        assert_eq!(
            s.events_claim("w2", 1_000, 1_000, 10).unwrap()[0].id,
            leased
        );
    }
}
