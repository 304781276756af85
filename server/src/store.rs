//! Durable storage in SQLite: accounts and credentials, documents as ordered chunks, and the
//! statistics facts projected from them.
//!
//! One writer (the relay driver thread) and any number of readers (HTTP handlers, each with its
//! own connection). WAL mode lets readers run while the writer commits.

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};
use signpost_shared::ids::DocumentId;
use signpost_shared::projection::{self, Fact, Projection, Roster};
use signpost_shared::relay::{Meta, Principal, StoredDoc, Write};
use signpost_shared::schema::{DocKind, EntryKey, Header};
use std::path::{Path, PathBuf};

pub const SCHEMA: &str = r#"
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

/// How hard commits push data to disk. `Full` survives power loss; `Normal` (WAL) survives a
/// killed process, which is what `kill -9` tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
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

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn hash_token(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random identifier or secret: `prefix` then `bytes` random bytes in URL-safe base64.
pub fn random_token(prefix: &str, bytes: usize) -> String {
    use base64::Engine;
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

/// A short random id such as `sch-4fj29dk1`: lowercase letters and digits, no look-alikes.
pub fn random_id(prefix: &str) -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut buf = [0u8; 10];
    rand::fill(&mut buf[..]);
    let s: String = buf.iter().map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect();
    format!("{prefix}-{s}")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Device(Principal),
    Admin,
}

impl Store {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path, sync: Sync) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create data folder {}", dir.display()))?;
        let store = Store { path: dir.join("signpost.sqlite3"), sync, readers: Default::default() };
        let mut conn = store.connect()?;
        // One immediate transaction: the write lock is taken (waiting its turn) before anything
        // is read, so that commands started together on a new data folder do not trip over
        // each other creating it.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(SCHEMA).context("cannot create the database schema")?;
        tx.execute_batch(crate::accounts::SCHEMA).context("cannot create the database schema")?;
        crate::accounts::migrate(&tx).context("cannot update the database schema")?;
        crate::figures::create(&tx).context("cannot create the quarterly figures")?;
        project_stored_rosters(&tx).context("cannot project the stored rosters")?;
        tx.commit()?;
        Ok(store)
    }

    pub fn connect(&self) -> anyhow::Result<Connection> {
        let conn = Connection::open(&self.path).with_context(|| format!("cannot open {}", self.path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
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
        let id = random_id("relay");
        conn.execute("INSERT OR IGNORE INTO settings(key, value) VALUES ('storage_id', ?1)", [&id])?;
        Ok(conn.query_row("SELECT value FROM settings WHERE key = 'storage_id'", [], |r| r.get(0))?)
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts and credentials.

pub fn create_scheme(conn: &Connection, name: &str) -> anyhow::Result<String> {
    let name = checked_name(name)?;
    let id = random_id("sch");
    conn.execute("INSERT INTO schemes(id, name, created_at) VALUES (?1, ?2, ?3)", params![id, name, now_ms()])?;
    Ok(id)
}

pub fn create_site(conn: &Connection, scheme: &str, name: &str) -> anyhow::Result<String> {
    let name = checked_name(name)?;
    if !exists(conn, "SELECT 1 FROM schemes WHERE id = ?1", scheme)? {
        anyhow::bail!("no scheme with id {scheme:?}");
    }
    let id = random_id("site");
    conn.execute(
        "INSERT INTO sites(id, scheme_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, scheme, name, now_ms()],
    )?;
    Ok(id)
}

/// Where a scheme works and what kind it is, for the national figures.
pub fn set_scheme_profile(
    conn: &Connection,
    scheme: &str,
    region: Option<signpost_shared::vocab::Region>,
    kind: Option<signpost_shared::vocab::SchemeType>,
) -> anyhow::Result<()> {
    let n = conn.execute(
        "UPDATE schemes SET region = ?2, scheme_type = ?3 WHERE id = ?1",
        params![scheme, region.map(|r| r.code()), kind.map(|k| k.code())],
    )?;
    if n == 0 {
        anyhow::bail!("no scheme with id {scheme:?}");
    }
    Ok(())
}

fn checked_name(name: &str) -> anyhow::Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        anyhow::bail!("a name must be 1 to 120 printable characters");
    }
    Ok(name)
}

fn exists(conn: &Connection, sql: &str, arg: &str) -> anyhow::Result<bool> {
    Ok(conn.query_row(sql, [arg], |_| Ok(())).optional()?.is_some())
}

pub fn scheme_exists(conn: &Connection, scheme: &str) -> anyhow::Result<bool> {
    exists(conn, "SELECT 1 FROM schemes WHERE id = ?1", scheme)
}

/// Issues a device credential for a site. Only the token's hash is stored.
pub fn issue_device_token(conn: &Connection, site: &str) -> anyhow::Result<String> {
    Ok(issue_device_token_labelled(conn, site, "")?.0)
}

/// Issues a device credential for a site with a name people recognise ("Tablet by the door").
pub fn issue_device_token_labelled(conn: &Connection, site: &str, label: &str) -> anyhow::Result<(String, Principal)> {
    let scheme: Option<String> =
        conn.query_row("SELECT scheme_id FROM sites WHERE id = ?1", [site], |r| r.get(0)).optional()?;
    let Some(scheme) = scheme else { anyhow::bail!("no site with id {site:?}") };
    let token = random_token("spd_", 32);
    let device = random_id("dev");
    conn.execute(
        "INSERT INTO tokens(hash, kind, subject, scheme_id, site_id, created_at, label) VALUES (?1, 'device', ?2, ?3, ?4, ?5, ?6)",
        params![hash_token(&token), device, scheme, site, now_ms(), (!label.is_empty()).then_some(label)],
    )?;
    Ok((token, Principal { device, scheme, site: site.to_owned() }))
}

pub fn issue_admin_token(conn: &Connection) -> anyhow::Result<String> {
    let token = random_token("spa_", 32);
    conn.execute(
        "INSERT INTO tokens(hash, kind, subject, created_at) VALUES (?1, 'admin', ?2, ?3)",
        params![hash_token(&token), random_id("adm"), now_ms()],
    )?;
    Ok(token)
}

pub fn check_token(conn: &Connection, token: &str) -> anyhow::Result<Option<Credential>> {
    if token.len() > 200 {
        return Ok(None);
    }
    let row = conn
        .query_row(
            "SELECT kind, subject, scheme_id, site_id FROM tokens WHERE hash = ?1 AND revoked_at IS NULL",
            [hash_token(token)],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )
        .optional()?;
    Ok(row.and_then(|(kind, subject, scheme, site)| match (kind.as_str(), scheme, site) {
        ("device", Some(scheme), Some(site)) => Some(Credential::Device(Principal { device: subject, scheme, site })),
        ("admin", _, _) => Some(Credential::Admin),
        _ => None,
    }))
}

/// A scheme's sites as (id, name), by name.
pub fn sites_of(conn: &Connection, scheme: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached("SELECT id, name FROM sites WHERE scheme_id = ?1 ORDER BY name")?;
    let rows = stmt.query_map([scheme], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The names of a site and its scheme.
pub fn site_and_scheme_names(conn: &Connection, site: &str) -> anyhow::Result<Option<(String, String)>> {
    Ok(conn
        .query_row(
            "SELECT s.name, c.name FROM sites s JOIN schemes c ON c.id = s.scheme_id WHERE s.id = ?1",
            [site],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

// ---------------------------------------------------------------------------------------------
// Documents.

fn meta_columns(meta: &Meta) -> (&'static str, String, Option<String>, Option<String>) {
    match meta {
        Meta::Draft { scheme, site } => ("draft", scheme.clone(), Some(site.clone()), None),
        Meta::Doc(h) => {
            (h.kind.as_str(), h.scheme.clone(), h.site.clone(), h.date.map(|d| d.format("%Y-%m-%d").to_string()))
        }
    }
}

pub fn load_doc(conn: &Connection, id: &DocumentId) -> anyhow::Result<Option<StoredDoc>> {
    let key = id.to_string();
    let meta = conn
        .query_row("SELECT kind, scheme_id, site_id, day FROM documents WHERE id = ?1", [&key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .optional()?;
    let Some((kind, scheme, site, day)) = meta else { return Ok(None) };
    let meta = if kind == "draft" {
        Meta::Draft { scheme, site: site.unwrap_or_default() }
    } else {
        let kind = DocKind::parse(&kind).with_context(|| format!("document {key} has unknown kind {kind}"))?;
        let date = day.map(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")).transpose()?;
        Meta::Doc(Header { kind, scheme, site, date })
    };
    let mut stmt = conn.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let chunks = stmt.query_map([&key], |r| r.get::<_, Vec<u8>>(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(Some(StoredDoc { meta, chunks }))
}

/// A stored document, loaded into automerge.
pub fn load_automerge(conn: &Connection, id: &DocumentId) -> anyhow::Result<Option<(Meta, automerge::Automerge)>> {
    let Some(stored) = load_doc(conn, id)? else { return Ok(None) };
    let mut doc = automerge::Automerge::new();
    for c in &stored.chunks {
        doc.load_incremental(c).with_context(|| format!("document {id} does not load"))?;
    }
    Ok(Some((stored.meta, doc)))
}

/// Applies the relay's writes inside the caller's transaction.
pub fn apply_write(tx: &Connection, w: &Write) -> anyhow::Result<()> {
    match w {
        Write::Create { doc, meta, chunk } => {
            let (kind, scheme, site, day) = meta_columns(meta);
            tx.prepare_cached(
                "INSERT INTO documents(id, kind, scheme_id, site_id, day, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![doc.to_string(), kind, scheme, site, day, now_ms()])?;
            append_chunk(tx, doc, chunk)?;
        }
        Write::SetMeta { doc, meta } => {
            let (kind, scheme, site, day) = meta_columns(meta);
            tx.prepare_cached("UPDATE documents SET kind = ?2, scheme_id = ?3, site_id = ?4, day = ?5 WHERE id = ?1")?
                .execute(params![doc.to_string(), kind, scheme, site, day])?;
        }
        Write::Append { doc, chunk } => append_chunk(tx, doc, chunk)?,
        Write::Compact { doc, snapshot } => {
            tx.prepare_cached("DELETE FROM doc_chunks WHERE doc_id = ?1")?.execute([doc.to_string()])?;
            append_chunk(tx, doc, snapshot)?;
        }
        Write::Project { doc, projection } => project(tx, doc, projection)?,
        Write::Roster { roster, .. } => project_roster(tx, roster)?,
    }
    Ok(())
}

fn project_roster(tx: &Connection, r: &Roster) -> anyhow::Result<()> {
    tx.prepare_cached("DELETE FROM roster_facts WHERE scheme_id = ?1")?.execute([&r.scheme])?;
    let mut insert =
        tx.prepare_cached("INSERT OR REPLACE INTO roster_facts(scheme_id, volunteer_id, active) VALUES (?1, ?2, ?3)")?;
    for (volunteer, active) in &r.volunteers {
        insert.execute(params![r.scheme, volunteer, active])?;
    }
    Ok(())
}

/// Records that the relay synced with a tablet at `at_ms`.
pub fn note_synced(conn: &Connection, device: &str, at_ms: i64) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO device_activity(device, last_synced_at) VALUES (?1, ?2)
         ON CONFLICT(device) DO UPDATE SET last_synced_at = excluded.last_synced_at",
    )?
    .execute(params![device, at_ms])?;
    Ok(())
}

/// Records that the relay refused something of a tablet at `at_ms`, and why.
pub fn note_refused(conn: &Connection, device: &str, at_ms: i64, reason: &str) -> anyhow::Result<()> {
    let reason: String = reason.chars().take(200).collect();
    conn.prepare_cached(
        "INSERT INTO device_activity(device, refused_at, refusal) VALUES (?1, ?2, ?3)
         ON CONFLICT(device) DO UPDATE SET refused_at = excluded.refused_at, refusal = excluded.refusal",
    )?
    .execute(params![device, at_ms, reason])?;
    Ok(())
}

/// Runs database work off the async threads (tokio's blocking pool) on a pooled connection:
/// the one way handlers reach SQLite. `E` is the caller's error type; a failure to get a
/// connection or a panicked task becomes one of its internal errors.
pub async fn blocking<T, E>(store: &Store, f: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static) -> Result<T, E>
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

/// Runs a one-off step of bringing an older database up to date, unless a setting records that
/// it was done; records it in the same transaction.
pub fn once(tx: &Transaction<'_>, key: &str, step: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    if tx.prepare("SELECT 1 FROM settings WHERE key = ?1")?.exists([key])? {
        return Ok(());
    }
    step()?;
    tx.execute("INSERT INTO settings(key, value) VALUES (?1, '1')", [key])?;
    Ok(())
}

/// Rosters stored before they were projected as they change are projected once, from their
/// directory documents.
fn project_stored_rosters(tx: &Transaction<'_>) -> anyhow::Result<()> {
    once(tx, "rosters_projected", || {
        let ids: Vec<String> = tx
            .prepare("SELECT id FROM documents WHERE kind = ?1")?
            .query_map([DocKind::Directory.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for id in ids.iter().filter_map(|id| id.parse::<DocumentId>().ok()) {
            match load_automerge(tx, &id) {
                Ok(Some((Meta::Doc(header), doc))) => {
                    if let Some(roster) = projection::project_roster(&doc, &header) {
                        project_roster(tx, &roster)?;
                    }
                }
                Ok(_) => {}
                // Its roster is projected when the relay next stores a change to it.
                Err(e) => tracing::warn!(document = %id, error = %e, "a stored directory document does not load"),
            }
        }
        Ok(())
    })
}

/// Whether the volunteer is on the scheme's roster and active, as last projected.
pub fn on_roster(conn: &Connection, scheme: &str, volunteer: &str) -> anyhow::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM roster_facts WHERE scheme_id = ?1 AND volunteer_id = ?2 AND active = 1")?
        .exists([scheme, volunteer])?)
}

fn append_chunk(tx: &Connection, doc: &DocumentId, chunk: &[u8]) -> anyhow::Result<()> {
    tx.prepare_cached("INSERT INTO doc_chunks(doc_id, bytes) VALUES (?1, ?2)")?
        .execute(params![doc.to_string(), chunk])?;
    Ok(())
}

fn project(tx: &Connection, doc: &DocumentId, p: &Projection) -> anyhow::Result<()> {
    let doc = doc.to_string();
    let day = p.date.format("%Y-%m-%d").to_string();
    for f in &p.facts {
        let key = match f {
            Fact::Referral(r) => EntryKey::Referral(r.id.clone()),
            Fact::Shift(s) => EntryKey::Shift(s.id.clone()),
            Fact::Invalid { key, .. } | Fact::Removed(key) => key.clone(),
        };
        // Start from nothing for this entry, then write what the document says now. Replaying
        // the same projection leaves the same rows: idempotent.
        match &key {
            EntryKey::Referral(id) => {
                tx.prepare_cached("DELETE FROM referral_facts WHERE doc_id = ?1 AND id = ?2")?
                    .execute(params![doc, id])?;
                tx.prepare_cached("DELETE FROM referral_categories WHERE doc_id = ?1 AND id = ?2")?
                    .execute(params![doc, id])?;
            }
            EntryKey::Shift(id) => {
                tx.prepare_cached("DELETE FROM shift_facts WHERE doc_id = ?1 AND id = ?2")?
                    .execute(params![doc, id])?;
            }
        }
        tx.prepare_cached("DELETE FROM invalid_entries WHERE doc_id = ?1 AND key = ?2")?
            .execute(params![doc, key.root_key()])?;
        match f {
            Fact::Referral(r) => {
                let (agency_kind, agency) = match &r.agency {
                    signpost_shared::schema::AgencyRef::Directory(a) => ("directory", a.as_str()),
                    signpost_shared::schema::AgencyRef::Other(o) => ("other", o.as_str()),
                };
                tx.prepare_cached(
                    "INSERT INTO referral_facts(doc_id, id, scheme_id, site_id, day, recorded_at, volunteer, helped, age_band, agency_kind, agency, help, follow_up, voided)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )?
                .execute(params![
                    doc,
                    r.id,
                    p.scheme,
                    p.site,
                    day,
                    r.recorded_at_ms,
                    r.volunteer,
                    r.helped.code(),
                    r.age_band.map(|a| a.code()),
                    agency_kind,
                    agency,
                    r.help.code(),
                    r.follow_up,
                    r.voided
                ])?;
                for c in &r.categories {
                    tx.prepare_cached(
                        "INSERT INTO referral_categories(doc_id, id, category, pathway) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![doc, r.id, c.code(), c.pathway().code()])?;
                }
            }
            Fact::Shift(s) => {
                tx.prepare_cached(
                    "INSERT INTO shift_facts(doc_id, id, scheme_id, site_id, day, volunteer, start_ms, end_ms, minutes)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    doc,
                    s.id,
                    p.scheme,
                    p.site,
                    day,
                    s.volunteer,
                    s.start_ms,
                    s.end_ms,
                    s.minutes()
                ])?;
            }
            Fact::Invalid { reason, .. } => {
                tx.prepare_cached(
                    "INSERT INTO invalid_entries(doc_id, key, scheme_id, site_id, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![doc, key.root_key(), p.scheme, p.site, reason])?;
            }
            Fact::Removed(_) => {}
        }
    }
    Ok(())
}

/// Stores a document written on the server side (such as a new scheme's directory).
pub fn create_server_doc(conn: &Connection, id: &DocumentId, header: &Header, bytes: &[u8]) -> anyhow::Result<()> {
    immediate(conn, |tx| apply_write(tx, &Write::Create { doc: *id, meta: Meta::Doc(header.clone()), chunk: bytes.to_vec() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use signpost_shared::schema::{self, Volunteer};

    fn roster_rows(conn: &Connection) -> Vec<(String, String, bool)> {
        let mut stmt = conn.prepare("SELECT scheme_id, volunteer_id, active FROM roster_facts ORDER BY 2").unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap().collect::<Result<_, _>>().unwrap()
    }

    /// A database whose directories were stored before rosters were projected gets them
    /// projected when it is next opened, once.
    #[test]
    fn stored_rosters_are_projected_once_when_opened() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let st = Store::open(&dir, Sync::Normal).unwrap();
        let conn = st.connect().unwrap();
        let scheme = create_scheme(&conn, "S").unwrap();
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
        // As a database from before the projection: no rows, no record of having done it.
        conn.execute_batch("DELETE FROM roster_facts; DELETE FROM settings WHERE key = 'rosters_projected';").unwrap();

        Store::open(&dir, Sync::Normal).unwrap();
        let want = vec![(scheme.clone(), "v1".to_owned(), true), (scheme.clone(), "v2".to_owned(), false)];
        assert_eq!(roster_rows(&conn), want);
        // Once: a later open leaves the rows to the relay's projection.
        conn.execute("DELETE FROM roster_facts WHERE volunteer_id = 'v2'", []).unwrap();
        Store::open(&dir, Sync::Normal).unwrap();
        assert_eq!(roster_rows(&conn).len(), 1);
    }
}
