//! How many connections the server holds at once, so that the process never runs out of file
//! descriptors: at start-up the soft `RLIMIT_NOFILE` is raised to the hard limit, and open
//! connections are capped below it with room for the files and the store.
//!
//! Past the cap, actix stops accepting and new connections wait in the listen backlog; without
//! it, `accept` fails with EMFILE and so does every file a request needs (recordings were
//! refused with 500).

/// Descriptors kept for everything that is not a connection: the store, the listener, log
/// output, the flows watcher, the scripts' `fetch` sockets, the JS and blocking threads' files.
pub const RESERVED_FDS: u64 = 256;
/// Descriptors one connection may hold: its socket, and the file it uploads or downloads.
pub const FDS_PER_CONNECTION: u64 = 2;
/// actix-web's own per-worker default, used when the limit can't be read.
const ACTIX_DEFAULT_PER_WORKER: usize = 25_000;
/// Connections the kernel queues while the cap is reached (actix-web's own default for the
/// addresses it binds; the kernel caps it at `net.core.somaxconn`).
pub const BACKLOG: i32 = 1024;

/// The file-descriptor limit before and after start-up raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit the process started with.
    pub was: u64,
    /// The soft limit now (the hard limit, when raising worked).
    pub now: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; `None` where it can't be read.
#[cfg(target_os = "linux")]
pub fn raise_fd_limit() -> Option<FdLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct passed by pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let was = limit.rlim_cur;
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = limit.rlim_max;
        }
    }
    Some(FdLimit {
        was,
        now: limit.rlim_cur,
    })
}

/// Elsewhere the limit is left as it is and not known.
#[cfg(not(target_os = "linux"))]
pub fn raise_fd_limit() -> Option<FdLimit> {
    None
}

/// Lets `BACKLOG` connections wait to be accepted: `std` listens with 128, and past the cap a
/// full backlog makes the kernel drop new connections' SYNs (they are retried, seconds later).
/// Listening again on a listening socket only changes its backlog; a failure keeps the old one.
#[cfg(target_os = "linux")]
pub fn widen_backlog(listener: &std::net::TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: listen only reads its integer arguments; the descriptor is open while borrowed.
    if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "listen backlog not widened");
    }
}

/// Elsewhere the backlog stays as `std` set it.
#[cfg(not(target_os = "linux"))]
pub fn widen_backlog(_listener: &std::net::TcpListener) {}

/// The most connections that fit under `fd_limit` with the reserve kept (at least 1).
pub fn derived_cap(fd_limit: u64) -> usize {
    let cap = fd_limit.saturating_sub(RESERVED_FDS) / FDS_PER_CONNECTION;
    usize::try_from(cap.max(1)).unwrap_or(usize::MAX)
}

/// What the server was told to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Connections each worker accepts (actix counts per worker).
    pub per_worker: usize,
    /// Connections in all, `per_worker × workers`.
    pub total: usize,
}

/// Splits the cap (`configured`, else derived from `fd_limit`, and never above the derived cap)
/// over `workers`.
pub fn capacity(configured: Option<usize>, fd_limit: Option<u64>, workers: usize) -> Capacity {
    let workers = workers.max(1);
    let safe = fd_limit.map(derived_cap);
    let cap = match (configured, safe) {
        (Some(c), Some(s)) => c.min(s),
        (Some(c), None) => c,
        (None, Some(s)) => s,
        (None, None) => ACTIX_DEFAULT_PER_WORKER.saturating_mul(workers),
    };
    let per_worker = (cap / workers).max(1);
    Capacity {
        per_worker,
        total: per_worker * workers,
    }
}

/// Raises the limit, decides the cap for `workers` and logs both.
pub fn plan(configured: Option<usize>, workers: usize) -> Capacity {
    let limit = raise_fd_limit();
    let capacity = capacity(configured, limit.map(|l| l.now), workers);
    match limit {
        Some(FdLimit { was, now }) => tracing::info!(
            fd_limit_was = was,
            fd_limit = now,
            max_connections = capacity.total,
            per_worker = capacity.per_worker,
            workers,
            "file-descriptor limit {now} (was {was}): at most {} connections",
            capacity.total
        ),
        None => tracing::info!(
            max_connections = capacity.total,
            per_worker = capacity.per_worker,
            workers,
            "file-descriptor limit unknown: at most {} connections",
            capacity.total
        ),
    }
    if let (Some(asked), Some(FdLimit { now, .. })) = (configured, limit) {
        if asked > capacity.total && derived_cap(now) < asked {
            tracing::warn!(
                asked,
                max_connections = capacity.total,
                "[limits] max_connections {asked} does not fit under the file-descriptor limit \
                 {now}: capped at {}",
                capacity.total
            );
        }
    }
    capacity
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_keeps_a_reserve_and_two_descriptors_per_connection() {
        assert_eq!(derived_cap(1024), 384);
        assert_eq!(derived_cap(100), 1);
        let c = capacity(None, Some(1024), 2);
        assert_eq!((c.per_worker, c.total), (192, 384));
        // A configured cap is used below the safe one, and clamped above it.
        assert_eq!(capacity(Some(100), Some(1024), 3).total, 99);
        assert_eq!(capacity(Some(5000), Some(1024), 1).total, 384);
        assert_eq!(capacity(Some(1), Some(1024), 4).per_worker, 1);
        assert_eq!(capacity(None, None, 2).total, 50_000);
    }

    #[test]
    fn raising_never_lowers_the_limit() {
        if let Some(limit) = raise_fd_limit() {
            assert!(limit.now >= limit.was);
        }
    }
}
