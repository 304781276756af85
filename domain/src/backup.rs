//! Backups of a data folder, taken while a relay serves it, and restores into an empty one.
//!
//! Everything Signpost keeps is in the folder's one SQLite database, so a backup is one file:
//! `VACUUM INTO` writes a consistent snapshot of it (one read transaction; the relay commits on
//! beside it), compacted and without the write-ahead log. A backup is checked as soon as it is
//! written and again before it is restored; a restore never writes over a database.

use crate::sql::Connection;
use anyhow::{bail, Context};
use rusqlite::OpenFlags;
use std::path::{Path, PathBuf};

/// The database's file in a data folder.
pub fn database(data: &Path) -> PathBuf {
    data.join("signpost.sqlite3")
}

/// What a backup or a restore holds.
#[derive(Debug)]
pub struct Summary {
    pub bytes: u64,
    pub version: i64,
    pub documents: i64,
    pub referrals: i64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} bytes, database version {}, {} documents, {} referrals",
            self.bytes, self.version, self.documents, self.referrals
        )
    }
}

/// Writes a backup of the database in `data` to the new file `to`, and checks it.
pub fn backup(data: &Path, to: &Path) -> anyhow::Result<Summary> {
    let db = database(data);
    if !db.exists() {
        bail!("there is no Signpost database in {}", data.display());
    }
    if to.exists() {
        bail!("{} exists already: back up to a new file", to.display());
    }
    let conn = rusqlite::Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("cannot open {}", db.display()))?;
    conn.busy_timeout(crate::db::BUSY_TIMEOUT)?;
    let target = to.to_str().context("the backup's path must be UTF-8")?;
    conn.execute("VACUUM INTO ?1", [target]).with_context(|| format!("cannot write {}", to.display()))?;
    std::fs::File::open(to)?.sync_all()?;
    checked(to).with_context(|| format!("the backup in {} does not check out; it is kept for inspection", to.display()))
}

/// Restores the backup `from` into the data folder `data`, which must hold no database yet;
/// brings it up to this release's version. The relay is started on the folder afterwards.
pub fn restore(from: &Path, data: &Path) -> anyhow::Result<Summary> {
    let db = database(data);
    if db.exists() {
        bail!(
            "{} holds a database already: restore into a new, empty folder (move a damaged one aside first)",
            data.display()
        );
    }
    checked(from).with_context(|| format!("{} is not a sound Signpost backup", from.display()))?;
    std::fs::create_dir_all(data).with_context(|| format!("cannot create {}", data.display()))?;
    let part = data.join("signpost.sqlite3.restoring");
    std::fs::copy(from, &part).with_context(|| format!("cannot copy into {}", data.display()))?;
    std::fs::File::open(&part)?.sync_all()?;
    std::fs::rename(&part, &db)?;
    let store = crate::db::Store::open(data, crate::db::Sync::Full)?;
    summary(&store.connect()?, &db)
}

/// Checks a database file (a backup): SQLite's integrity check, a Signpost database this release
/// can read. It is opened read-only and not changed.
pub fn checked(file: &Path) -> anyhow::Result<Summary> {
    let conn = Connection::sqlite(
        rusqlite::Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("cannot open {}", file.display()))?,
    );
    let problems: Vec<String> =
        conn.prepare("PRAGMA integrity_check")?.query_map((), |r| r.get(0))?.collect::<Result<_, _>>()?;
    if problems != ["ok"] {
        bail!("SQLite's integrity check failed: {}", problems.join("; "));
    }
    let version = crate::db::migrations::version(&conn)?;
    if version == 0 {
        bail!("it is not a Signpost database");
    }
    if version > crate::db::migrations::latest() {
        bail!("it was written by a newer release of Signpost (database version {version})");
    }
    summary(&conn, file)
}

fn summary(conn: &Connection, file: &Path) -> anyhow::Result<Summary> {
    Ok(Summary {
        bytes: std::fs::metadata(file)?.len(),
        version: crate::db::migrations::version(conn)?,
        documents: conn.query_row("SELECT count(*) FROM documents", (), |r| r.get(0))?,
        referrals: conn.query_row("SELECT count(*) FROM referral_facts", (), |r| r.get(0))?,
    })
}
