//! A bounded pool of synchronous Redis connections, with a deadline on every wait.
//!
//! The store's traits are synchronous and their callers already run off the HTTP workers (on
//! blocking threads, the JS threads, the store's own writer threads), so a blocking client on
//! sockets with read and write timeouts is enough: every command waits at most `op_timeout`,
//! waiting for a free connection does too, and so does connecting. No runtime of its own.
//!
//! Reconnecting. A connection that failed at the socket (refused, dropped, timed out) is thrown
//! away with every idle one (they point at the same server, which most likely restarted), and
//! the next operation connects anew; a read that met such a connection runs again on the new
//! one, so only a write can fail on what a restart left in the pool. A failed connect starts a backoff, doubling from
//! [`FIRST_BACKOFF`] to [`MAX_BACKOFF`]: until it ends, operations fail at once instead of each
//! waiting for a connect to time out, so a node whose Redis is down answers quickly (503, a
//! script's fallback) and recovers within [`MAX_BACKOFF`] once Redis is back, without a restart.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::{Client, Connection, RedisError};

use super::RedisStoreError;
use crate::store::StoreError;

/// The first pause after a failed connect.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest pause between two connect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Connections to one Redis, at most `size` at once.
pub(super) struct Pool {
    client: Client,
    /// `host:port/db` of the server, for messages (never the password).
    at: String,
    size: usize,
    timeout: Duration,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    idle: Vec<Connection>,
    /// Connections handed out or being opened.
    busy: usize,
    /// No connect before this instant (after a failed one).
    retry_at: Option<Instant>,
    backoff: Duration,
}

impl Pool {
    /// A pool for `client`; connects lazily, on first use.
    pub(super) fn new(client: Client, at: String, size: usize, timeout: Duration) -> Pool {
        Pool {
            client,
            at,
            size: size.max(1),
            timeout,
            state: Mutex::new(State {
                idle: Vec::new(),
                busy: 0,
                retry_at: None,
                backoff: FIRST_BACKOFF,
            }),
            freed: Condvar::new(),
        }
    }

    /// Where the server is, for messages.
    pub(super) fn at(&self) -> &str {
        &self.at
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain counters behind: still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on a connection: waits at most the operation timeout for one, and gives it
    /// back afterwards unless it failed at the socket.
    pub(super) fn run<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        self.run_on(self.checkout()?.0, f)
    }

    /// [`Pool::run`] for a command that changes nothing (a read, `PING`): when the idle
    /// connection it was given turns out dropped — the server restarted or closed it while it
    /// sat in the pool — it runs once more on a new connection, so the first read after a Redis
    /// restart does not fail. A write is never sent twice: it may have been applied.
    pub(super) fn read<T>(
        &self,
        f: impl Fn(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        let (conn, reused) = self.checkout()?;
        let mut dropped = false;
        let first = self.run_on(conn, |c| {
            let result = f(c);
            dropped = result
                .as_ref()
                .is_err_and(RedisError::is_connection_dropped);
            result
        });
        if first.is_ok() || !(reused && dropped) {
            return first;
        }
        // The failure emptied the pool: this checkout connects anew.
        self.run_on(self.checkout()?.0, f)
    }

    fn run_on<T>(
        &self,
        mut conn: Connection,
        f: impl FnOnce(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, StoreError> {
        let result = f(&mut conn);
        let broken = match &result {
            Err(e) => is_broken(e),
            Ok(_) => false,
        };
        let mut state = self.lock();
        state.busy -= 1;
        if broken {
            // The others most likely point at the same dead server.
            state.idle.clear();
        } else {
            state.idle.push(conn);
        }
        drop(state);
        self.freed.notify_one();
        result.map_err(|e| self.error(&e))
    }

    /// A connection: an idle one (true: it was), else a new one while fewer than `size` are
    /// out.
    fn checkout(&self) -> Result<(Connection, bool), StoreError> {
        let deadline = Instant::now() + self.timeout;
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                state.busy += 1;
                return Ok((conn, true));
            }
            if state.busy < self.size {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(RedisStoreError::Busy {
                    at: self.at.clone(),
                    size: self.size,
                    waited_ms: self.timeout.as_millis(),
                }
                .into());
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if let Some(at) = state.retry_at {
            let now = Instant::now();
            if now < at {
                return Err(self.unreachable(format!(
                    "the last connect failed; next try in {} ms",
                    (at - now).as_millis()
                )));
            }
        }
        state.busy += 1;
        drop(state);
        match self.connect() {
            Ok(conn) => {
                let mut state = self.lock();
                state.retry_at = None;
                state.backoff = FIRST_BACKOFF;
                Ok((conn, false))
            }
            Err(e) => {
                let mut state = self.lock();
                state.busy -= 1;
                state.retry_at = Some(Instant::now() + state.backoff);
                state.backoff = (state.backoff * 2).min(MAX_BACKOFF);
                drop(state);
                self.freed.notify_one();
                tracing::warn!(redis = %self.at, error = %e, "connecting to Redis failed; will retry");
                Err(self.unreachable(e.to_string()))
            }
        }
    }

    fn connect(&self) -> Result<Connection, RedisError> {
        let conn = self.client.get_connection_with_timeout(self.timeout)?;
        conn.set_read_timeout(Some(self.timeout))?;
        conn.set_write_timeout(Some(self.timeout))?;
        Ok(conn)
    }

    fn unreachable(&self, detail: String) -> StoreError {
        RedisStoreError::Unreachable {
            at: self.at.clone(),
            detail,
        }
        .into()
    }

    /// A Redis error as the store reports it: socket failures say the server is unreachable.
    pub(super) fn error(&self, e: &RedisError) -> StoreError {
        if is_broken(e) {
            return self.unreachable(e.to_string());
        }
        RedisStoreError::Command {
            at: self.at.clone(),
            detail: e.to_string(),
        }
        .into()
    }
}

/// Whether `e` means the connection can't be used again.
fn is_broken(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}
