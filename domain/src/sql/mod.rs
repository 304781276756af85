//! The storage boundary: one connection type over SQLite (the embedded default) and PostgreSQL
//! (several relays on one database), with the small part of rusqlite's interface the domain
//! uses — `execute`, `query_row`, `prepare(_cached)` with `query_map`/`query`/`exists`,
//! transactions and savepoints — so each domain module keeps its SQL next to its rules and runs
//! on either.
//!
//! The SQL the domain writes is the dialect both databases share: numbered parameters (`?1`,
//! rewritten to `$1` for PostgreSQL), `INSERT … ON CONFLICT`, `coalesce`, integer columns as
//! 64-bit integers. The few places the dialects differ ask [`Connection::backend`]. Values cross
//! the boundary as SQLite's five kinds ([`Value`]); PostgreSQL's typed parameters and columns
//! are converted at the edge (`postgres.rs`), so an integer bound where PostgreSQL wants a
//! boolean or text still binds, and `SUM` (a `numeric` there) reads back as an integer.
//!
//! Written here rather than taken from a library: sqlx and diesel are async or generate the SQL,
//! and the domain's SQL and its blocking-thread use (see `db::blocking`) predate the second
//! database; this layer is a thin adapter, not an ORM.

mod postgres;
mod rows;
mod translate;
mod value;

use rows::StatementInner;
pub use rows::{Row, RowIndex, Rows, Statement};
pub use value::{FromSql, ToSql, Value, ValueRef};

use std::cell::Cell;

/// How long a SQLite connection waits for another's write lock before it gives up.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Which database a connection speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A failure of the database or of reading a value back.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", postgres::describe(.0))]
    Postgres(#[from] ::postgres::Error),
    /// The query returned no row where one was asked for (see [`OptionalExtension`]).
    #[error("the query returned no rows")]
    NoRows,
    /// A column could not be read as the type asked for.
    #[error("column {column}: {reason}")]
    Conversion { column: usize, reason: String },
}

impl Error {
    /// Whether the database refused a write for a unique or primary key already taken.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Error::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            }
            Error::Postgres(e) => e.code() == Some(&::postgres::error::SqlState::UNIQUE_VIOLATION),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `.optional()` on a query for one row: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(t) => Ok(Some(t)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The parameters of a statement: an array of values (`[&a, &b]`, `()` for none) or
/// [`params!`](crate::params)'s slice of mixed types.
pub trait Params {
    fn values(&self) -> Vec<ValueRef<'_>>;
}

impl Params for () {
    fn values(&self) -> Vec<ValueRef<'_>> {
        Vec::new()
    }
}

impl<T: ToSql, const N: usize> Params for [T; N] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(ToSql::to_sql).collect()
    }
}

impl Params for &[&dyn ToSql] {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(|v| v.to_sql()).collect()
    }
}

impl<T: ToSql> Params for Vec<T> {
    fn values(&self) -> Vec<ValueRef<'_>> {
        self.iter().map(ToSql::to_sql).collect()
    }
}

/// Parameters of mixed types, as rusqlite's macro of the same name.
#[macro_export]
macro_rules! params {
    () => { () };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::sql::ToSql),+] as &[&dyn $crate::sql::ToSql] };
}
pub use crate::params;

/// One connection to the database. Not shared between threads: each thread (the relay's, each
/// blocking task) has its own from the store's pool.
pub struct Connection {
    inner: Inner,
    /// Open transactions and savepoints, innermost last (savepoint names are made from it).
    depth: Cell<u32>,
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(postgres::Client),
}

impl Connection {
    /// A SQLite connection (opened and configured by the caller).
    pub fn sqlite(conn: rusqlite::Connection) -> Connection {
        conn.set_prepared_statement_cache_capacity(128);
        Connection { inner: Inner::Sqlite(conn), depth: Cell::new(0) }
    }

    /// A connection to the PostgreSQL database at `url` (`postgres://user@host:port/db`).
    pub fn postgres(url: &str) -> Result<Connection> {
        Ok(Connection { inner: Inner::Postgres(postgres::Client::connect(url)?), depth: Cell::new(0) })
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite connection underneath, for what only SQLite has (pragmas, backups, checks).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Postgres(_) => None,
        }
    }

    /// `sqlite` or `postgres`, whichever this connection speaks.
    pub fn pick<'s>(&self, sqlite: &'s str, postgres: &'s str) -> &'s str {
        match self.backend() {
            Backend::Sqlite => sqlite,
            Backend::Postgres => postgres,
        }
    }

    /// Runs one statement; the number of rows it changed.
    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare(sql)?.execute(params)
    }

    /// Runs several statements without parameters.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Postgres(c) => c.batch_execute(sql),
        }
    }

    /// The first row of a query, read by `f`; [`Error::NoRows`] when there is none.
    pub fn query_row<T>(&self, sql: &str, params: impl Params, f: impl FnOnce(&Row<'_>) -> Result<T>) -> Result<T> {
        self.prepare(sql)?.query_row(params, f)
    }

    /// A prepared statement (cached: preparing the same text again is cheap).
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        let inner = match &self.inner {
            Inner::Sqlite(c) => StatementInner::Sqlite(c.prepare_cached(sql)?),
            Inner::Postgres(c) => StatementInner::Postgres(c, c.prepare(sql)?),
        };
        Ok(Statement { inner })
    }

    /// The same as [`prepare`](Self::prepare) (every statement is cached).
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        self.prepare(sql)
    }

    /// Whether no transaction is open on this connection.
    pub fn is_autocommit(&self) -> bool {
        self.depth.get() == 0
    }

    /// A transaction that reads one snapshot and may write (SQLite: deferred; PostgreSQL:
    /// repeatable read). Rolled back when dropped unless committed.
    pub fn transaction(&self) -> Result<Transaction<'_>> {
        self.begin(match self.backend() {
            Backend::Sqlite => "BEGIN DEFERRED",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ",
        })
    }

    /// The same as [`transaction`](Self::transaction), for callers holding a shared reference.
    pub fn unchecked_transaction(&self) -> Result<Transaction<'_>> {
        self.transaction()
    }

    /// A transaction that holds the database's write lock from its start, so that what it reads
    /// stays true until it commits: writers queue rather than interleave. SQLite: `BEGIN
    /// IMMEDIATE`. PostgreSQL: the same lock as an advisory lock every such transaction takes,
    /// whichever relay runs it.
    pub fn immediate_transaction(&self) -> Result<Transaction<'_>> {
        match self.backend() {
            Backend::Sqlite => self.begin("BEGIN IMMEDIATE"),
            Backend::Postgres => {
                let tx = self.begin("BEGIN")?;
                tx.execute(&format!("SELECT pg_advisory_xact_lock({WRITE_LOCK})"), ())?;
                Ok(tx)
            }
        }
    }

    /// The same as [`immediate_transaction`](Self::immediate_transaction).
    pub fn transaction_with_behavior(&self, _immediate: Immediate) -> Result<Transaction<'_>> {
        self.immediate_transaction()
    }

    /// A savepoint inside the open transaction: its writes can be rolled back alone.
    pub fn savepoint(&self) -> Result<Transaction<'_>> {
        let name = format!("sp{}", self.depth.get());
        self.execute_batch(&format!("SAVEPOINT {name}"))?;
        self.depth.set(self.depth.get() + 1);
        Ok(Transaction { conn: self, end: End::Savepoint(name), done: false })
    }

    fn begin(&self, sql: &str) -> Result<Transaction<'_>> {
        if self.depth.get() > 0 {
            return self.savepoint();
        }
        self.execute_batch(sql)?;
        self.depth.set(1);
        Ok(Transaction { conn: self, end: End::Transaction, done: false })
    }
}

/// The advisory lock key of [`Connection::immediate_transaction`] on PostgreSQL ("SIGNPOST" in
/// ASCII, so that it does not collide with another application's lock by chance).
pub const WRITE_LOCK: i64 = 0x5349_474e_504f_5354;

/// Names `transaction_with_behavior`'s one behaviour (rusqlite's spelling, kept for callers).
pub struct Immediate;

/// A transaction or a savepoint: rolled back when dropped unless committed. Derefs to its
/// connection, so everything that takes `&Connection` runs inside it.
pub struct Transaction<'c> {
    conn: &'c Connection,
    end: End,
    done: bool,
}

enum End {
    Transaction,
    Savepoint(String),
}

impl Transaction<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn.depth.set(self.conn.depth.get() - 1);
        match &self.end {
            End::Transaction => self.conn.execute_batch("COMMIT").inspect_err(|_| {
                let _ = self.conn.execute_batch("ROLLBACK");
            }),
            End::Savepoint(name) => self.conn.execute_batch(&format!("RELEASE {name}")),
        }
    }

    pub fn rollback(mut self) -> Result<()> {
        self.finish_rollback()
    }

    /// A savepoint inside this transaction.
    pub fn savepoint(&self) -> Result<Transaction<'_>> {
        self.conn.savepoint()
    }

    fn finish_rollback(&mut self) -> Result<()> {
        self.done = true;
        self.conn.depth.set(self.conn.depth.get() - 1);
        match &self.end {
            End::Transaction => self.conn.execute_batch("ROLLBACK"),
            End::Savepoint(name) => self.conn.execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}")),
        }
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.finish_rollback();
        }
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

mod conformance;
pub use conformance::conformance;

#[cfg(test)]
mod tests;
