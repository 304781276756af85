//! The database: one SQLite file in the data folder (the embedded default, WAL mode), or a
//! PostgreSQL database that several relays share, brought up to date by [`migrations`] when it
//! opens, with a small pool of connections for request handlers.
//!
//! On SQLite: one writer (the relay driver thread) and any number of readers (HTTP handlers,
//! each with its own connection); WAL mode lets readers run while the writer commits. On
//! PostgreSQL the same code runs through [`crate::sql`]; writes that must not interleave take
//! the write lock of [`Connection::immediate_transaction`].

pub use crate::sql::BUSY_TIMEOUT;

pub mod documents;
pub mod listen;
pub mod migrations;

use crate::sql::{Backend, Connection, OptionalExtension};
use anyhow::Context;
use std::path::{Path, PathBuf};

/// How hard commits push data to disk. `Full` survives power loss; `Normal` (WAL) survives a
/// killed process, which is what `kill -9` tests. (PostgreSQL's durability is its own setting.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sync {
    Full,
    Normal,
}

/// Where the data lives: a data folder (SQLite) or a PostgreSQL database's URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Folder(PathBuf),
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…` is a database; anything else a folder.
    pub fn parse(s: &str) -> Location {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Location::Postgres(s.to_owned())
        } else {
            Location::Folder(PathBuf::from(s))
        }
    }

    /// How to name it to a person: the folder, or the database's URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Location::Folder(dir) => dir.display().to_string(),
            Location::Postgres(url) => without_password(url),
        }
    }
}

/// A PostgreSQL URL as it may be logged: `postgres://user:secret@host/db` → `postgres://user@host/db`.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((auth, host)) => (Some(auth), host),
        None => (None, rest),
    };
    match auth {
        Some(auth) => format!("{scheme}://{}@{host}", auth.split(':').next().unwrap_or_default()),
        None => url.to_owned(),
    }
}

#[derive(Clone)]
pub struct Store {
    location: Location,
    /// The SQLite file (unused on PostgreSQL).
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
            // A connection left inside a transaction (a panic mid-way) is not reused.
            if !c.is_autocommit() {
                return;
            }
            let mut pool = self.pool.lock().expect("reader pool");
            if pool.len() < MAX_IDLE_READERS {
                pool.push(c);
            }
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database in the data folder `dir`.
    pub fn open(dir: &Path, sync: Sync) -> anyhow::Result<Store> {
        Store::open_at(&Location::Folder(dir.to_path_buf()), sync)
    }

    /// Opens the database at `location`, creating and migrating it as needed.
    pub fn open_at(location: &Location, sync: Sync) -> anyhow::Result<Store> {
        let path = match location {
            Location::Folder(dir) => {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create data folder {}", dir.display()))?;
                dir.join("signpost.sqlite3")
            }
            Location::Postgres(_) => PathBuf::new(),
        };
        let store = Store { location: location.clone(), path, sync, readers: Default::default() };
        let conn = store.connect()?;
        migrations::run(&conn)?;
        Ok(store)
    }

    /// The SQLite file (empty on PostgreSQL).
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    pub fn backend(&self) -> Backend {
        match self.location {
            Location::Folder(_) => Backend::Sqlite,
            Location::Postgres(_) => Backend::Postgres,
        }
    }

    pub fn connect(&self) -> anyhow::Result<Connection> {
        match &self.location {
            Location::Folder(_) => Ok(Connection::sqlite(self.connect_sqlite()?)),
            Location::Postgres(url) => {
                Connection::postgres(url).with_context(|| format!("cannot connect to {}", without_password(url)))
            }
        }
    }

    fn connect_sqlite(&self) -> anyhow::Result<rusqlite::Connection> {
        let conn =
            rusqlite::Connection::open(&self.path).with_context(|| format!("cannot open {}", self.path.display()))?;
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

    /// This store's stable identity, announced to peers as the relay's storage id (one for all
    /// the relays of one database: they hold the same documents).
    pub fn storage_id(&self) -> anyhow::Result<String> {
        let conn = self.connect()?;
        let existing: Option<String> =
            conn.query_row("SELECT value FROM settings WHERE key = 'storage_id'", (), |r| r.get(0)).optional()?;
        if let Some(id) = existing {
            return Ok(id);
        }
        let id = crate::util::random_id("relay");
        conn.execute("INSERT INTO settings(key, value) VALUES ('storage_id', ?1) ON CONFLICT DO NOTHING", [&id])?;
        Ok(conn.query_row("SELECT value FROM settings WHERE key = 'storage_id'", (), |r| r.get(0))?)
    }
}

/// How many bytes the database takes: the SQLite file and its write-ahead log at `path`, or
/// PostgreSQL's size of the database.
pub fn size_bytes(path: &Path, conn: &Connection) -> anyhow::Result<u64> {
    match conn.backend() {
        Backend::Sqlite => {
            let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            Ok(size(path.to_path_buf()) + size(path.with_extension("sqlite3-wal")))
        }
        Backend::Postgres => {
            Ok(conn.query_row("SELECT pg_database_size(current_database())", (), |r| r.get::<_, i64>(0))? as u64)
        }
    }
}

/// Copies the write-ahead log into the database and truncates it, so that no older version of a
/// page (holding content since deleted) stays in the log file. Retries while readers hold old
/// snapshots; fails if they still do after a few seconds.
pub fn checkpoint(conn: &Connection) -> anyhow::Result<()> {
    // PostgreSQL keeps no such log of ours: its own WAL and vacuum are the operator's.
    let Some(conn) = conn.as_sqlite() else { return Ok(()) };
    for _ in 0..50 {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", (), |r| r.get(0))?;
        if busy == 0 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    anyhow::bail!("readers kept the write-ahead log busy")
}

/// A migrated database in memory, for tests of the layers above.
pub fn memory() -> anyhow::Result<Connection> {
    let conn = Connection::sqlite(rusqlite::Connection::open_in_memory()?);
    migrations::run(&conn)?;
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
    let tx = conn.immediate_transaction()?;
    let t = f(&tx)?;
    tx.commit()?;
    Ok(t)
}
