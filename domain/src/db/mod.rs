//! The database: one SQLite file in the data folder, opened in WAL mode, brought up to date by
//! [`migrations`] when it opens, with a small pool of connections for request handlers.
//!
//! One writer (the relay driver thread) and any number of readers (HTTP handlers, each with its
//! own connection). WAL mode lets readers run while the writer commits.

/// How long a connection waits for another's write lock before it gives up.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub mod documents;
pub mod migrations;

use anyhow::Context;
use rusqlite::{Connection, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};

/// How hard commits push data to disk. `Full` survives power loss; `Normal` (WAL) survives a
/// killed process, which is what `kill -9` tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    Full,
    Normal,
}

#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    sync: Sync,
    readers: std::sync::Arc<std::sync::Mutex<Vec<Connection>>>,
}

/// Connections kept open between requests (each keeps its page cache warm). Named readers, they
/// also serve the web pages' small writes (accounts, codes), which SQLite serialises.
const MAX_IDLE_READERS: usize = 8;

pub struct Reader {
    conn: Option<Connection>,
    pool: std::sync::Arc<std::sync::Mutex<Vec<Connection>>>,
}

impl std::ops::Deref for Reader {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn.as_ref().expect("present until dropped")
    }
}

impl std::ops::DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("present until dropped")
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            let mut pool = self.pool.lock().expect("reader pool");
            if pool.len() < MAX_IDLE_READERS {
                pool.push(c);
            }
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path, sync: Sync) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create data folder {}", dir.display()))?;
        let store = Store { path: dir.join("signpost.sqlite3"), sync, readers: Default::default() };
        let mut conn = store.connect()?;
        migrations::run(&mut conn)?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn connect(&self) -> anyhow::Result<Connection> {
        let conn = Connection::open(&self.path).with_context(|| format!("cannot open {}", self.path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            match self.sync {
                Sync::Full => "FULL",
                Sync::Normal => "NORMAL",
            },
        )?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted content is overwritten with zeros, not left in free pages: a purged day or an
        // erased referral must not survive in the file.
        conn.pragma_update(None, "secure_delete", "ON")?;
        // A warm page cache and memory-mapped reads keep the hot indexes out of read syscalls.
        conn.pragma_update(None, "cache_size", -32_768)?; // KiB
        conn.pragma_update(None, "mmap_size", 1i64 << 30)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        Ok(conn)
    }

    /// A connection from the pool of readers (HTTP handlers), returned to it when dropped.
    pub fn reader(&self) -> anyhow::Result<Reader> {
        let pooled = self.readers.lock().expect("reader pool").pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        Ok(Reader { conn: Some(conn), pool: self.readers.clone() })
    }

    /// This store's stable identity, announced to peers as the relay's storage id.
    pub fn storage_id(&self) -> anyhow::Result<String> {
        let conn = self.connect()?;
        let existing: Option<String> =
            conn.query_row("SELECT value FROM settings WHERE key = 'storage_id'", [], |r| r.get(0)).optional()?;
        if let Some(id) = existing {
            return Ok(id);
        }
        let id = crate::util::random_id("relay");
        conn.execute("INSERT OR IGNORE INTO settings(key, value) VALUES ('storage_id', ?1)", [&id])?;
        Ok(conn.query_row("SELECT value FROM settings WHERE key = 'storage_id'", [], |r| r.get(0))?)
    }
}

/// Copies the write-ahead log into the database and truncates it, so that no older version of a
/// page (holding content since deleted) stays in the log file. Retries while readers hold old
/// snapshots; fails if they still do after a few seconds.
pub fn checkpoint(conn: &Connection) -> anyhow::Result<()> {
    for _ in 0..50 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy == 0 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    anyhow::bail!("readers kept the write-ahead log busy")
}

/// A migrated database in memory, for tests of the layers above.
pub fn memory() -> anyhow::Result<Connection> {
    let mut conn = Connection::open_in_memory()?;
    migrations::run(&mut conn)?;
    Ok(conn)
}

/// Runs database work off the async threads (tokio's blocking pool) on a pooled connection:
/// the one way handlers reach SQLite. `E` is the caller's error type; a failure to get a
/// connection or a panicked task becomes one of its internal errors.
pub async fn blocking<T, E>(
    store: &Store,
    f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<anyhow::Error> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = store.reader().map_err(E::from)?;
        f(&mut conn)
    })
    .await
    .map_err(|e| E::from(anyhow::anyhow!("database work stopped: {e}")))?
}

/// Runs `f` as one IMMEDIATE transaction: all of its writes or none, holding the write lock
/// from the start, so that a read followed by a write never collides with another writer (it
/// waits its turn, up to the busy timeout, instead of failing). Inside a transaction already,
/// `f` simply runs in it.
pub fn immediate<T>(conn: &Connection, f: impl FnOnce(&Connection) -> anyhow::Result<T>) -> anyhow::Result<T> {
    if !conn.is_autocommit() {
        return f(conn);
    }
    let tx = Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    let t = f(&tx)?;
    tx.commit()?;
    Ok(t)
}
