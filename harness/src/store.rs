//! What a test compares before and after an attack: the whole database as text, and the
//! relay's resident memory.

use std::path::Path;

/// Whether any of the data folder's files (database, write-ahead log, shared memory) holds
/// `marker`: the byte scan after a purge or an erasure. Notes short enough to be stored
/// uncompressed are visible to it (automerge deflates only large columns).
pub fn data_files_contain(data: &Path, marker: &str) -> bool {
    std::fs::read_dir(data).expect("the data folder lists").any(|f| {
        let bytes = std::fs::read(f.expect("an entry").path()).unwrap_or_default();
        bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
    })
}

/// A connection to the store behind the folder `data` (its SQLite file, or the PostgreSQL
/// database that stands behind it): for tests that look at or change what the relay stored.
pub fn connect(data: &Path) -> signpost_domain::sql::Connection {
    match crate::process::database_url(data) {
        Some(url) => signpost_domain::sql::Connection::postgres(&url).expect("the test database connects"),
        None => {
            let conn = rusqlite::Connection::open(data.join("signpost.sqlite3")).expect("the relay's database opens");
            conn.busy_timeout(std::time::Duration::from_secs(10)).expect("a busy timeout");
            signpost_domain::sql::Connection::sqlite(conn)
        }
    }
}

/// The whole database as text, table by table, row by row in a fixed order. Leaves out the
/// relay's record of when it synced with or refused a tablet, which an attempt is meant to
/// leave behind (it is what its coordinator sees), and on PostgreSQL the guessing attempts the
/// relays count together (an attempt is meant to be counted).
pub fn snapshot(data: &Path) -> String {
    if let Some(url) = crate::process::database_url(data) {
        return postgres_snapshot(&url);
    }
    let conn = rusqlite::Connection::open_with_flags(
        data.join("signpost.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("the relay's database opens");
    let mut out = String::new();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'device_activity' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("the tables list");
    for t in tables {
        out.push_str(&format!("## {t}\n"));
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).expect("a table reads");
        let n = stmt.column_count();
        let mut rows = stmt.query([]).expect("a table reads");
        let mut lines = Vec::new();
        while let Some(row) = rows.next().expect("a row reads") {
            let cells: Vec<String> = (0..n).map(|i| format!("{:?}", row.get_ref(i).expect("a cell"))).collect();
            lines.push(cells.join(" | "));
        }
        // Some tables have no rowid: sorted, the order is the same every time.
        lines.sort();
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
}

/// The same for a PostgreSQL database: every table of the public schema, each row as text
/// (`psql`'s unaligned output), sorted.
fn postgres_snapshot(url: &str) -> String {
    let pg = crate::postgres::Postgres::shared();
    let name = url.rsplit('/').next().expect("a database name");
    let tables = pg
        .psql(
            name,
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('device_activity', 'attempts') ORDER BY 1",
        )
        .expect("the tables list");
    let mut out = String::new();
    for t in tables.lines() {
        out.push_str(&format!("## {t}\n"));
        let rows = pg.psql(name, &format!("SELECT * FROM \"{t}\"")).expect("a table reads");
        let mut lines: Vec<&str> = rows.lines().collect();
        lines.sort();
        for l in lines {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// Resident memory of a process, in MiB (0 when it cannot be read).
pub fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// The most resident memory a process has had, in MiB (`VmHWM`: since it started, or since
/// [`reset_peak_rss`]); 0 when it cannot be read.
pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Starts a process's peak of resident memory afresh from what it holds now (Linux:
/// `clear_refs`); false when that is not allowed, and the peak is then the one since it started.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}
