//! Every change to the database's layout, in order, in one place. The database's
//! `user_version` says how many steps it has had; opening it runs the rest, each step and the
//! new version in one transaction, so a crash mid-way leaves the database as it was.
//!
//! Databases written before the steps were numbered have version 0 and get every step: the
//! first steps are written to find their work already done (`IF NOT EXISTS`, columns looked up
//! first, a setting recording a one-off recount). Steps added from now on run only on versioned
//! databases and need not be so careful. A database from a newer release is refused rather than
//! guessed at.
//!
//! Written by hand rather than with `rusqlite_migration`: its releases pin an older `rusqlite`
//! than the relay uses (two `libsqlite3-sys` cannot link into one binary), and four of our
//! steps are Rust (a column looked up first, a recount, rosters read from stored documents,
//! facts projected again),
//! which this list holds as plainly as SQL.

mod postgres;

use crate::sql::{Backend, Connection};
use anyhow::{bail, Context};

/// One step: its name (for errors) and what it does.
pub struct Step {
    pub name: &'static str,
    run: fn(&Connection) -> anyhow::Result<()>,
}

/// The steps in order; step `i` (from 0) takes the database to version `i + 1`.
pub const STEPS: &[Step] = &[
    Step { name: "documents, facts, schemes, sites and credentials", run: |tx| Ok(tx.execute_batch(DOCUMENTS)?) },
    Step {
        name: "accounts, codes, sessions, audit log and equality answers",
        run: |tx| Ok(tx.execute_batch(ACCOUNTS)?),
    },
    Step { name: "tablet names, scheme regions and kinds", run: added_columns },
    Step { name: "quarterly figures kept by triggers", run: quarter_figures },
    Step { name: "rosters projected from the stored directories", run: stored_rosters },
    Step { name: "what each tablet stored each day", run: |tx| Ok(tx.execute_batch(DEVICE_USAGE)?) },
    Step { name: "administrator tokens expire", run: admin_tokens_expire },
    Step { name: "retention periods and retired documents", run: retention },
    Step {
        name: "published quarters",
        run: |tx| {
            Ok(tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS published_quarters (
                     quarter TEXT PRIMARY KEY, published_at INTEGER NOT NULL, figures TEXT NOT NULL
                 ) WITHOUT ROWID;",
            )?)
        },
    },
    Step {
        name: "closed sites and deactivated accounts",
        run: |tx| add_columns(tx, &[("sites", "closed_at", "INTEGER"), ("users", "deactivated_at", "INTEGER")]),
    },
    Step {
        name: "follow-up outcomes",
        run: |tx| {
            add_columns(
                tx,
                &[
                    ("referral_facts", "follow_up_outcome", "TEXT"),
                    ("referral_facts", "follow_up_closed_at", "INTEGER"),
                ],
            )?;
            Ok(tx.execute_batch(
                "CREATE INDEX IF NOT EXISTS referral_facts_open_follow_ups ON referral_facts(site_id, day)
                 WHERE follow_up = 1 AND follow_up_outcome IS NULL AND voided = 0;",
            )?)
        },
    },
    Step { name: "days set aside", run: |tx| Ok(tx.execute_batch(SET_ASIDE)?) },
    Step { name: "facts with values out of bounds projected again", run: out_of_bounds_facts },
];

/// Desk days a tablet created dated outside the relay's window (a wrong clock): stored as
/// documents of kind `set-aside`, counted nowhere, listed here for the coordinator to file under
/// the date they were synced or to discard.
pub(crate) const SET_ASIDE: &str = "CREATE TABLE IF NOT EXISTS set_aside (
    doc_id TEXT PRIMARY KEY, scheme_id TEXT NOT NULL, site_id TEXT NOT NULL, device TEXT NOT NULL,
    day TEXT NOT NULL, synced_on TEXT NOT NULL, set_aside_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS set_aside_by_scheme ON set_aside(scheme_id);";

/// Facts stored before every value was bounded are projected again where they hold one that is
/// not (an entry's time far from its day, say): from now on they are invalid entries.
pub(super) fn out_of_bounds_facts(tx: &Connection) -> anyhow::Result<()> {
    super::documents::project_again_out_of_bounds(tx)
}

/// The version a database has when every step has run.
pub fn latest() -> i64 {
    STEPS.len() as i64
}

/// Brings the database up to date.
pub fn run(conn: &Connection) -> anyhow::Result<()> {
    match conn.backend() {
        Backend::Sqlite => run_to(conn, latest()),
        Backend::Postgres => postgres::run(conn),
    }
}

/// Refuses a database written by a newer release.
fn newer(version: i64, latest: i64) -> anyhow::Result<()> {
    if version > latest {
        bail!(
            "this database was written by a newer release of Signpost (database version {version}, this \
             release knows {latest}); run that release, or restore a backup made for this one"
        );
    }
    Ok(())
}

/// Runs the SQLite steps up to version `target` (tests use it to make an older database).
pub fn run_to(conn: &Connection, target: i64) -> anyhow::Result<()> {
    // The write lock is taken (waiting its turn) before the version is read, so that commands
    // started together on a new data folder do not both run a step.
    let tx = conn.immediate_transaction()?;
    let version: i64 = tx.query_row("PRAGMA user_version", (), |r| r.get(0))?;
    if version > latest() {
        bail!(
            "this data folder was written by a newer release of Signpost (database version {version}, this \
             release knows {}); run that release, or restore a backup made for this one",
            latest()
        );
    }
    for (i, step) in STEPS.iter().enumerate().skip(version as usize).take((target - version).max(0) as usize) {
        (step.run)(&tx).with_context(|| format!("cannot update the database ({}: {})", i + 1, step.name))?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
    }
    tx.commit()?;
    Ok(())
}

/// The version of an open database.
pub fn version(conn: &Connection) -> anyhow::Result<i64> {
    match conn.backend() {
        Backend::Sqlite => Ok(conn.query_row("PRAGMA user_version", (), |r| r.get(0))?),
        Backend::Postgres => postgres::version(conn),
    }
}

/// The relay's count of what each device stored each day, for its daily allowance
/// (`signpost_shared::quota`). Days before the current one are history; retention may drop them.
const DEVICE_USAGE: &str = "
    CREATE TABLE IF NOT EXISTS device_usage (
        device TEXT NOT NULL,
        day TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        documents INTEGER NOT NULL,
        PRIMARY KEY (device, day)
    ) WITHOUT ROWID;";

const DOCUMENTS: &str = r#"
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS schemes (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sites (
    id TEXT PRIMARY KEY, scheme_id TEXT NOT NULL REFERENCES schemes(id), name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('device', 'admin')),
    subject TEXT NOT NULL, scheme_id TEXT, site_id TEXT,
    created_at INTEGER NOT NULL, revoked_at INTEGER
);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, scheme_id TEXT NOT NULL, site_id TEXT, day TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_by_site ON documents(scheme_id, site_id, day);
CREATE TABLE IF NOT EXISTS doc_chunks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, doc_id TEXT NOT NULL, bytes BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS doc_chunks_by_doc ON doc_chunks(doc_id, seq);
CREATE TABLE IF NOT EXISTS referral_facts (
    doc_id TEXT NOT NULL, id TEXT NOT NULL, scheme_id TEXT NOT NULL, site_id TEXT NOT NULL,
    day TEXT NOT NULL, recorded_at INTEGER NOT NULL, volunteer TEXT, helped TEXT NOT NULL,
    age_band TEXT, agency_kind TEXT NOT NULL, agency TEXT NOT NULL, help TEXT NOT NULL,
    follow_up INTEGER NOT NULL, voided INTEGER NOT NULL,
    PRIMARY KEY (doc_id, id)
);
-- Covers a scheme's period in export order (day, then referral), so an export streams without
-- sorting. It replaces the first release's (scheme_id, day) index.
CREATE INDEX IF NOT EXISTS referral_facts_by_scheme_day ON referral_facts(scheme_id, day, doc_id, id);
DROP INDEX IF EXISTS referral_facts_by_day;
CREATE TABLE IF NOT EXISTS referral_categories (
    doc_id TEXT NOT NULL, id TEXT NOT NULL, category TEXT NOT NULL, pathway TEXT NOT NULL,
    PRIMARY KEY (doc_id, id, category)
);
CREATE TABLE IF NOT EXISTS shift_facts (
    doc_id TEXT NOT NULL, id TEXT NOT NULL, scheme_id TEXT NOT NULL, site_id TEXT NOT NULL,
    day TEXT NOT NULL, volunteer TEXT NOT NULL, start_ms INTEGER NOT NULL, end_ms INTEGER,
    minutes INTEGER NOT NULL,
    PRIMARY KEY (doc_id, id)
);
CREATE INDEX IF NOT EXISTS shift_facts_by_day ON shift_facts(scheme_id, day);
CREATE TABLE IF NOT EXISTS roster_facts (
    scheme_id TEXT NOT NULL, volunteer_id TEXT NOT NULL, active INTEGER NOT NULL,
    PRIMARY KEY (scheme_id, volunteer_id)
);
-- What the relay last saw of each tablet: when it last synced with it, and the last time it
-- refused something of it (with the reason), for the coordinator's list of tablets.
CREATE TABLE IF NOT EXISTS device_activity (
    device TEXT PRIMARY KEY, last_synced_at INTEGER, refused_at INTEGER, refusal TEXT
);
CREATE TABLE IF NOT EXISTS invalid_entries (
    doc_id TEXT NOT NULL, key TEXT NOT NULL, scheme_id TEXT NOT NULL, site_id TEXT NOT NULL,
    reason TEXT NOT NULL, PRIMARY KEY (doc_id, key)
);
"#;

const ACCOUNTS: &str = r#"
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('coordinator', 'national', 'admin')),
    scheme_id TEXT REFERENCES schemes(id), password_hash TEXT,
    created_at INTEGER NOT NULL,
    CHECK ((role = 'coordinator') = (scheme_id IS NOT NULL))
);
CREATE TABLE IF NOT EXISTS password_codes (
    hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER
);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id), csrf TEXT NOT NULL,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS enrol_codes (
    hash TEXT PRIMARY KEY, site_id TEXT NOT NULL REFERENCES sites(id), created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER, device TEXT
);
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, scheme_id TEXT, detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS equality_answers (
    scheme_id TEXT NOT NULL, volunteer_id TEXT NOT NULL, answers TEXT NOT NULL, submitted_at INTEGER NOT NULL,
    PRIMARY KEY (scheme_id, volunteer_id)
);
CREATE TRIGGER IF NOT EXISTS audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"#;

/// Columns added to tables of the first release (looked up first: an unversioned database may
/// have them already).
fn added_columns(tx: &Connection) -> anyhow::Result<()> {
    add_columns(tx, &[("tokens", "label", "TEXT"), ("schemes", "region", "TEXT"), ("schemes", "scheme_type", "TEXT")])
}

/// Adds each (table, column, type) the table does not have yet.
fn add_columns(tx: &Connection, columns: &[(&str, &str, &str)]) -> anyhow::Result<()> {
    for (table, column, kind) in columns {
        let present: bool =
            tx.prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))?.exists([column])?;
        if !present {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// Runs a one-off step of an unversioned database unless a setting records that it was done;
/// records it in the same transaction.
fn once(tx: &Connection, key: &str, step: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    if tx.prepare("SELECT 1 FROM settings WHERE key = ?1")?.exists([key])? {
        return Ok(());
    }
    step()?;
    tx.execute("INSERT INTO settings(key, value) VALUES (?1, '1')", [key])?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Each scheme's figures per calendar quarter (read by [`crate::figures`]), kept by triggers as the
// relay writes and replaces facts. Triggers rather than code in the projection: every write of a
// fact, whoever makes it, keeps them right, inside the same transaction.

/// The quarter (`2026-Q3`) of a `YYYY-MM-DD` day column, in SQL.
pub(crate) fn quarter_of(day: &str) -> String {
    format!("(substr({day}, 1, 4) || '-Q' || ((CAST(substr({day}, 6, 2) AS INTEGER) + 2) / 3))")
}

/// After taking away: the volunteer's row goes once nothing of theirs is counted.
fn gone(row: &str, q: &str, sign: i32) -> String {
    if sign > 0 {
        return String::new();
    }
    format!(
        "DELETE FROM quarter_volunteers
             WHERE scheme_id = {row}.scheme_id AND quarter = {q} AND volunteer = {row}.volunteer AND entries <= 0;"
    )
}

/// Adds (`sign` 1) or takes away (`sign` -1) one referral row's contribution.
fn referral(row: &str, sign: i32) -> String {
    let q = quarter_of(&format!("{row}.day"));
    format!(
        "INSERT INTO quarter_figures(scheme_id, quarter, referrals, minutes)
             SELECT {row}.scheme_id, {q}, {sign}, 0 WHERE {row}.voided = 0
             ON CONFLICT DO UPDATE SET referrals = referrals + excluded.referrals;
         INSERT INTO quarter_volunteers(scheme_id, quarter, volunteer, entries)
             SELECT {row}.scheme_id, {q}, {row}.volunteer, {sign} WHERE {row}.voided = 0 AND {row}.volunteer IS NOT NULL
             ON CONFLICT DO UPDATE SET entries = entries + excluded.entries;
         {}",
        gone(row, &q, sign)
    )
}

/// Adds or takes away one shift row's contribution.
fn shift(row: &str, sign: i32) -> String {
    let q = quarter_of(&format!("{row}.day"));
    format!(
        "INSERT INTO quarter_figures(scheme_id, quarter, referrals, minutes)
             SELECT {row}.scheme_id, {q}, 0, {sign} * {row}.minutes WHERE true
             ON CONFLICT DO UPDATE SET minutes = minutes + excluded.minutes;
         INSERT INTO quarter_volunteers(scheme_id, quarter, volunteer, entries)
             SELECT {row}.scheme_id, {q}, {row}.volunteer, {sign} WHERE true
             ON CONFLICT DO UPDATE SET entries = entries + excluded.entries;
         {}",
        gone(row, &q, sign)
    )
}

/// The tables and their triggers (facts are inserted and deleted; an update counts as both).
fn schema() -> String {
    let mut sql = String::from(
        "CREATE TABLE IF NOT EXISTS quarter_figures (
             scheme_id TEXT NOT NULL, quarter TEXT NOT NULL,
             referrals INTEGER NOT NULL, minutes INTEGER NOT NULL,
             PRIMARY KEY (scheme_id, quarter)
         ) WITHOUT ROWID;
         -- One row per volunteer active in a scheme in a quarter, with how many of their
         -- referrals and shifts are counted (the row goes when that reaches 0).
         CREATE TABLE IF NOT EXISTS quarter_volunteers (
             scheme_id TEXT NOT NULL, quarter TEXT NOT NULL, volunteer TEXT NOT NULL,
             entries INTEGER NOT NULL,
             PRIMARY KEY (scheme_id, quarter, volunteer)
         ) WITHOUT ROWID;\n",
    );
    for (table, body) in [("referral_facts", referral as fn(&str, i32) -> String), ("shift_facts", shift)] {
        sql += &format!(
            "CREATE TRIGGER IF NOT EXISTS {table}_counted AFTER INSERT ON {table} BEGIN {} END;
             CREATE TRIGGER IF NOT EXISTS {table}_uncounted AFTER DELETE ON {table} BEGIN {} END;
             CREATE TRIGGER IF NOT EXISTS {table}_recounted AFTER UPDATE ON {table} BEGIN {} {} END;\n",
            body("NEW", 1),
            body("OLD", -1),
            body("OLD", -1),
            body("NEW", 1),
        );
    }
    sql
}

/// Creates the tables and triggers; counts the facts stored before them, once.
fn quarter_figures(tx: &Connection) -> anyhow::Result<()> {
    tx.execute_batch(&schema())?;
    let (rq, sq) = (quarter_of("r.day"), quarter_of("s.day"));
    once(tx, "quarter_figures_counted", || {
        Ok(tx.execute_batch(&format!(
            "DELETE FROM quarter_figures;
         DELETE FROM quarter_volunteers;
         INSERT INTO quarter_figures(scheme_id, quarter, referrals, minutes)
             SELECT scheme_id, quarter, SUM(referrals), SUM(minutes) FROM (
                 SELECT r.scheme_id, {rq} AS quarter, COUNT(*) AS referrals, 0 AS minutes
                     FROM referral_facts r WHERE r.voided = 0 GROUP BY 1, 2
                 UNION ALL
                 SELECT s.scheme_id, {sq}, 0, SUM(s.minutes) FROM shift_facts s GROUP BY 1, 2
             ) GROUP BY scheme_id, quarter;
         INSERT INTO quarter_volunteers(scheme_id, quarter, volunteer, entries)
             SELECT scheme_id, quarter, volunteer, COUNT(*) FROM (
                 SELECT r.scheme_id, {rq} AS quarter, r.volunteer
                     FROM referral_facts r WHERE r.voided = 0 AND r.volunteer IS NOT NULL
                 UNION ALL
                 SELECT s.scheme_id, {sq}, s.volunteer FROM shift_facts s
             ) GROUP BY scheme_id, quarter, volunteer;"
        ))?)
    })
}

/// Rosters stored before they were projected as they change are projected once, from their
/// directory documents.
fn stored_rosters(tx: &Connection) -> anyhow::Result<()> {
    once(tx, "rosters_projected", || super::documents::project_stored_rosters(tx))
}

/// Administrator tokens get an expiry date. Those issued before had none: they now expire 90
/// days after the update, which gives their holders notice to issue new ones.
fn admin_tokens_expire(tx: &Connection) -> anyhow::Result<()> {
    // Written to find its work done, as the first steps are: tests replay every step.
    if tx.prepare("SELECT 1 FROM pragma_table_info('tokens') WHERE name = 'expires_at'")?.exists(())? {
        return Ok(());
    }
    tx.execute_batch("ALTER TABLE tokens ADD COLUMN expires_at INTEGER")?;
    const NOTICE_MS: i64 = 90 * 24 * 60 * 60 * 1000;
    let expires = crate::util::now_ms() + NOTICE_MS;
    tx.execute("UPDATE tokens SET expires_at = ?1 WHERE kind = 'admin' AND revoked_at IS NULL", [expires])?;
    Ok(())
}

/// Each scheme's retention period and how many days its tablets keep (defaults for the schemes
/// that exist), and the documents removed for good: purged at the end of the retention period
/// or replaced by a rewritten copy. A retired id keeps no content, only enough to refuse it.
fn retention(tx: &Connection) -> anyhow::Result<()> {
    // Written to find its work done, as the first steps are: tests replay every step.
    if !tx.prepare("SELECT 1 FROM pragma_table_info('schemes') WHERE name = 'retention_months'")?.exists(())? {
        tx.execute_batch(
            "ALTER TABLE schemes ADD COLUMN retention_months INTEGER NOT NULL DEFAULT 36;
             ALTER TABLE schemes ADD COLUMN tablet_days INTEGER NOT NULL DEFAULT 7;",
        )?;
    }
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS retired_documents (
             id TEXT PRIMARY KEY, scheme_id TEXT NOT NULL, site_id TEXT, day TEXT,
             reason TEXT NOT NULL CHECK (reason IN ('purged', 'replaced')),
             replaced_by TEXT, retired_at INTEGER NOT NULL
         ) WITHOUT ROWID;
         CREATE INDEX IF NOT EXISTS retired_documents_by_time ON retired_documents(retired_at);",
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{documents::create_server_doc, Store, Sync};
    use signpost_shared::schema::Header;
    use signpost_shared::schema::{self, Volunteer};

    fn roster_rows(conn: &Connection) -> Vec<(String, String, bool)> {
        let mut stmt = conn.prepare("SELECT scheme_id, volunteer_id, active FROM roster_facts ORDER BY 2").unwrap();
        stmt.query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
    }

    /// A database whose directories were stored before rosters were projected gets them
    /// projected when it is next opened, once.
    #[test]
    fn stored_rosters_are_projected_once_when_opened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let st = Store::open(&dir, Sync::Normal).unwrap();
        let conn = st.connect().unwrap();
        // A scheme without the directory a new scheme gets: the test writes its own.
        let scheme = "sch-s".to_owned();
        conn.execute("INSERT INTO schemes(id, name, created_at) VALUES (?1, 'S', 0)", [&scheme]).unwrap();
        let header = Header::directory(&scheme);
        let mut doc = automerge::Automerge::new();
        let mut tx = doc.transaction();
        schema::write_header(&mut tx, &header).unwrap();
        for (id, active) in [("v1", true), ("v2", false)] {
            let v = Volunteer { id: id.into(), name: id.into(), active, pin: None };
            schema::write_volunteer(&mut tx, &v).unwrap();
        }
        tx.commit();
        create_server_doc(&conn, &header.well_known_id(), &header, &doc.save()).unwrap();
        // As a database from before the projection: no rows, no record of having done it, and
        // from before the steps were numbered.
        conn.execute_batch("DELETE FROM roster_facts; DELETE FROM settings WHERE key = 'rosters_projected';").unwrap();
        conn.execute_batch("PRAGMA user_version = 0").unwrap();

        Store::open(&dir, Sync::Normal).unwrap();
        let want = vec![(scheme.clone(), "v1".to_owned(), true), (scheme.clone(), "v2".to_owned(), false)];
        assert_eq!(roster_rows(&conn), want);
        // Once: a later open leaves the rows to the relay's projection.
        conn.execute("DELETE FROM roster_facts WHERE volunteer_id = 'v2'", ()).unwrap();
        Store::open(&dir, Sync::Normal).unwrap();
        assert_eq!(roster_rows(&conn).len(), 1);
    }
}
