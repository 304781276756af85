//! People and tablets: coordinator, national and administrator accounts (argon2id passwords,
//! one-time set-password codes, sessions), tablet enrolment codes and devices, and the
//! append-only audit log. Plain SQLite over a `Connection`; the HTTP layer decides who may call
//! what, these functions make sure the data stays consistent (a code is used once, a coordinator
//! belongs to a scheme, a device is revoked only within its scheme).

use crate::store::{hash_token, now_ms, random_id, random_token};
use anyhow::Context;
use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rusqlite::{params, Connection, OptionalExtension};
use signpost_shared::relay::Principal;

pub const SCHEMA: &str = r#"
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

/// Columns added to tables of the first release, added to older databases when they open.
pub fn migrate(conn: &Connection) -> anyhow::Result<()> {
    for (table, column) in [("tokens", "label"), ("schemes", "region"), ("schemes", "scheme_type")] {
        let present: bool =
            conn.prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))?.exists([column])?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} TEXT"))?;
        }
    }
    Ok(())
}

/// How long a set-password code (invitation or reset) stays valid.
pub const PASSWORD_CODE_MS: i64 = 72 * 3600 * 1000;
/// How long an enrolment code stays valid.
pub const ENROL_CODE_MS: i64 = 15 * 60 * 1000;
/// How long a session lasts from sign-in.
pub const SESSION_MS: i64 = 12 * 3600 * 1000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Coordinator { scheme: String },
    National,
    Admin,
}

impl Role {
    pub fn name(&self) -> &'static str {
        match self {
            Role::Coordinator { .. } => "coordinator",
            Role::National => "national",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str, scheme: Option<String>) -> anyhow::Result<Role> {
        match (name, scheme) {
            ("coordinator", Some(scheme)) => Ok(Role::Coordinator { scheme }),
            ("coordinator", None) => anyhow::bail!("a coordinator needs a scheme (--scheme ID)"),
            ("national", None) => Ok(Role::National),
            ("admin", None) => Ok(Role::Admin),
            ("national" | "admin", Some(_)) => anyhow::bail!("only coordinators belong to a scheme"),
            (other, _) => anyhow::bail!("unknown role {other:?}: coordinator, national or admin"),
        }
    }

    /// Whether this role manages the scheme (its sites, tablets, roster, coordinators).
    pub fn manages(&self, scheme: &str) -> bool {
        match self {
            Role::Admin => true,
            Role::Coordinator { scheme: own } => own == scheme,
            Role::National => false,
        }
    }

    fn scheme(&self) -> Option<&str> {
        match self {
            Role::Coordinator { scheme } => Some(scheme),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub has_password: bool,
}

impl User {
    /// How the audit log names this person.
    pub fn actor(&self) -> String {
        format!("{} ({})", self.email, self.role.name())
    }
}

/// A problem with what was asked, to be shown to the person who asked.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn refuse<T>(msg: impl Into<String>) -> anyhow::Result<T> {
    Err(Refusal(msg.into()).into())
}

pub fn normalise_email(email: &str) -> anyhow::Result<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !valid {
        return refuse("Enter an email address in the correct format, like name@example.org");
    }
    Ok(e)
}

/// Password rules: long rather than complicated (three random words make a good one).
pub fn check_password(password: &str, email: &str) -> anyhow::Result<()> {
    let n = password.chars().count();
    if n < 12 {
        return refuse("The password must be 12 characters or more");
    }
    if n > 128 {
        return refuse("The password must be 128 characters or fewer");
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return refuse("The password must not be your email address");
    }
    Ok(())
}

fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?
        .to_string())
}

/// Verifies against a stored hash; with none (unknown email, no password yet) it still spends the
/// same time on a hash, so that response times do not tell which emails have accounts.
fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a real password at all").unwrap_or_default());
    let (hash, real) = match stored {
        Some(h) => (h, true),
        None => (dummy.as_str(), false),
    };
    let ok = PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
    ok && real
}

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(User, Option<String>)> {
    let role: String = r.get(2)?;
    let scheme: Option<String> = r.get(3)?;
    let hash: Option<String> = r.get(4)?;
    let role = Role::parse(&role, scheme).unwrap_or(Role::National);
    Ok((User { id: r.get(0)?, email: r.get(1)?, role, has_password: hash.is_some() }, hash))
}

const USER_COLUMNS: &str = "id, email, role, scheme_id, password_hash";

pub fn user_by_id(conn: &Connection, id: &str) -> anyhow::Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    Ok(conn.query_row(&sql, [id], user_from_row).optional()?.map(|(u, _)| u))
}

pub fn users(conn: &Connection, scheme: Option<&str>) -> anyhow::Result<Vec<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE ?1 IS NULL OR scheme_id = ?1 ORDER BY email");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([scheme], user_from_row)?;
    Ok(rows.map(|r| r.map(|(u, _)| u)).collect::<Result<_, _>>()?)
}

/// Creates an account and returns it with a one-time set-password code.
pub fn create_user(conn: &Connection, email: &str, role: &Role, actor: &str) -> anyhow::Result<(User, String)> {
    let email = normalise_email(email)?;
    crate::store::immediate(conn, |conn| create_user_in(conn, email, role, actor))
}

fn create_user_in(conn: &Connection, email: String, role: &Role, actor: &str) -> anyhow::Result<(User, String)> {
    if let Some(scheme) = role.scheme() {
        if !crate::store::scheme_exists(conn, scheme)? {
            return refuse(format!("There is no scheme with id {scheme:?}"));
        }
    }
    let exists: bool = conn.prepare("SELECT 1 FROM users WHERE email = ?1")?.exists([&email])?;
    if exists {
        return refuse(format!("There is already an account for {email}"));
    }
    let id = random_id("usr");
    conn.execute(
        "INSERT INTO users(id, email, role, scheme_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, email, role.name(), role.scheme(), now_ms()],
    )?;
    let user = User { id, email, role: role.clone(), has_password: false };
    let code = issue_password_code(conn, &user.id)?;
    audit(conn, actor, "account created", role.scheme(), &format!("{} as {}", user.email, role.name()))?;
    Ok((user, code))
}

/// A new one-time set-password code for an account (an invitation, or a reset by an admin).
/// Earlier unused codes of the account stop working.
pub fn issue_password_code(conn: &Connection, user_id: &str) -> anyhow::Result<String> {
    let now = now_ms();
    conn.execute(
        "UPDATE password_codes SET used_at = ?1 WHERE user_id = ?2 AND used_at IS NULL",
        params![now, user_id],
    )?;
    let code = random_token("spw_", 24);
    conn.execute(
        "INSERT INTO password_codes(hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![hash_token(&code), user_id, now, now + PASSWORD_CODE_MS],
    )?;
    Ok(code)
}

/// Resets a password: the account's password and sessions stop working and a new set-password
/// code is returned.
pub fn reset_password(conn: &Connection, user_id: &str, actor: &str) -> anyhow::Result<(User, String)> {
    crate::store::immediate(conn, |conn| {
        let Some(user) = user_by_id(conn, user_id)? else { return refuse("There is no such account") };
        conn.execute("UPDATE users SET password_hash = NULL WHERE id = ?1", [user_id])?;
        conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
        let code = issue_password_code(conn, user_id)?;
        audit(conn, actor, "password reset", user.role.scheme(), &user.email)?;
        Ok((user, code))
    })
}

/// The account a set-password code is for, if the code is valid now.
pub fn password_code_user(conn: &Connection, code: &str) -> anyhow::Result<Option<User>> {
    if code.len() > 100 {
        return Ok(None);
    }
    let user_id: Option<String> = conn
        .query_row(
            "SELECT user_id FROM password_codes WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            params![hash_token(code), now_ms()],
            |r| r.get(0),
        )
        .optional()?;
    match user_id {
        Some(id) => user_by_id(conn, &id),
        None => Ok(None),
    }
}

/// Sets a password with a one-time code; the code is used up and other sessions end.
pub fn set_password(conn: &mut Connection, code: &str, password: &str) -> anyhow::Result<User> {
    let Some(user) = password_code_user(conn, code)? else {
        return refuse("This link has expired or has already been used. Ask an administrator for a new one");
    };
    check_password(password, &user.email)?;
    let hash = hash_password(password)?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // The code is used up only if nobody used it meanwhile (two requests with one code: one wins).
    let now = now_ms();
    let used = tx.execute(
        "UPDATE password_codes SET used_at = ?1 WHERE hash = ?2 AND user_id = ?3 AND used_at IS NULL AND expires_at > ?1",
        params![now, hash_token(code), user.id],
    )?;
    if used != 1 {
        return refuse("This link has expired or has already been used. Ask an administrator for a new one");
    }
    tx.execute("UPDATE users SET password_hash = ?1 WHERE id = ?2", params![hash, user.id])?;
    tx.execute("DELETE FROM sessions WHERE user_id = ?1", [&user.id])?;
    audit(&tx, &user.actor(), "password set", user.role.scheme(), "")?;
    tx.commit()?;
    Ok(User { has_password: true, ..user })
}

/// The account for an email and password, if they match.
pub fn check_login(conn: &Connection, email: &str, password: &str) -> anyhow::Result<Option<User>> {
    let email = email.trim().to_lowercase();
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = ?1");
    let found = conn.query_row(&sql, [&email], user_from_row).optional()?;
    let stored = found.as_ref().and_then(|(_, h)| h.clone());
    let ok = verify_password(password, stored.as_deref());
    Ok(found.filter(|_| ok).map(|(u, _)| u))
}

/// A new session: (cookie value, CSRF token). Only the cookie value's hash is stored.
pub fn create_session(conn: &Connection, user: &User) -> anyhow::Result<(String, String)> {
    let token = random_token("", 32);
    let csrf = random_token("", 24);
    let now = now_ms();
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?;
    conn.execute(
        "INSERT INTO sessions(hash, user_id, csrf, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![hash_token(&token), user.id, csrf, now, now + SESSION_MS],
    )?;
    Ok((token, csrf))
}

/// The signed-in account and the session's CSRF token.
pub fn session(conn: &Connection, token: &str) -> anyhow::Result<Option<(User, String)>> {
    if token.is_empty() || token.len() > 100 {
        return Ok(None);
    }
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT user_id, csrf FROM sessions WHERE hash = ?1 AND expires_at > ?2",
            params![hash_token(token), now_ms()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((user_id, csrf)) = row else { return Ok(None) };
    Ok(user_by_id(conn, &user_id)?.map(|u| (u, csrf)))
}

pub fn end_session(conn: &Connection, token: &str) -> anyhow::Result<()> {
    conn.execute("DELETE FROM sessions WHERE hash = ?1", [hash_token(token)])?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Tablets.

/// Letters and digits a person reads off a screen without confusing them (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// What a person typed, as stored: upper case, without spaces or dashes.
pub fn normalise_enrol_code(code: &str) -> Option<String> {
    let c: String = code.chars().filter(|c| !matches!(c, ' ' | '-')).collect::<String>().to_uppercase();
    (c.len() == 8 && c.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(c)
}

/// A one-time enrolment code for a site, shown as `ABCD-EFGH` (31⁸ ≈ 8.5 × 10¹¹ codes).
pub fn create_enrol_code(conn: &Connection, site: &str, actor: &str) -> anyhow::Result<String> {
    let scheme: Option<String> =
        conn.query_row("SELECT scheme_id FROM sites WHERE id = ?1", [site], |r| r.get(0)).optional()?;
    let Some(scheme) = scheme else { return refuse(format!("There is no site with id {site:?}")) };
    let mut buf = [0u8; 8];
    rand::fill(&mut buf[..]);
    // 256 is not a multiple of 31: redraw the bytes that would skew the distribution.
    for b in buf.iter_mut() {
        while *b >= 248 {
            let mut one = [0u8; 1];
            rand::fill(&mut one[..]);
            *b = one[0];
        }
    }
    let code: String = buf.iter().map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char).collect();
    let now = now_ms();
    crate::store::immediate(conn, |conn| {
        conn.execute(
            "INSERT INTO enrol_codes(hash, site_id, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hash_token(&code), site, actor, now, now + ENROL_CODE_MS],
        )?;
        audit(conn, actor, "enrolment code created", Some(&scheme), &format!("site {site}"))
    })?;
    Ok(format!("{}-{}", &code[..4], &code[4..]))
}

/// Exchanges a valid enrolment code for a device credential: (token, who it is).
pub fn redeem_enrol_code(
    conn: &mut Connection,
    code: &str,
    label: &str,
) -> anyhow::Result<Option<(String, Principal)>> {
    let Some(code) = normalise_enrol_code(code) else { return Ok(None) };
    let label = label.trim();
    if label.chars().count() > 60 || label.chars().any(char::is_control) {
        return refuse("The tablet's name must be 60 characters or fewer");
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let now = now_ms();
    let site: Option<String> = tx
        .query_row(
            "SELECT site_id FROM enrol_codes WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            params![hash_token(&code), now],
            |r| r.get(0),
        )
        .optional()?;
    let Some(site) = site else { return Ok(None) };
    let (token, principal) = crate::store::issue_device_token_labelled(&tx, &site, label)?;
    tx.execute(
        "UPDATE enrol_codes SET used_at = ?1, device = ?2 WHERE hash = ?3",
        params![now, principal.device, hash_token(&code)],
    )?;
    audit(
        &tx,
        &format!("tablet {}", principal.device),
        "tablet enrolled",
        Some(&principal.scheme),
        &format!("site {site}"),
    )?;
    tx.commit()?;
    Ok(Some((token, principal)))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: String,
    pub label: String,
    pub site: String,
    pub site_name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// When the relay last synced with it.
    pub last_synced_at: Option<i64>,
    /// The last time the relay refused something of it, and why.
    pub refused: Option<(i64, String)>,
}

impl Device {
    /// A refusal in the last week, later than the tablet's last good sync: a problem for its
    /// coordinator to act on (the tablet holds entries it cannot send).
    pub fn recent_refusal(&self, now_ms: i64) -> Option<&(i64, String)> {
        const WEEK_MS: i64 = 7 * 86_400_000;
        self.refused.as_ref().filter(|(at, _)| *at > now_ms - WEEK_MS && self.last_synced_at.is_none_or(|s| *at >= s))
    }
}

/// A scheme's tablets, newest first.
pub fn devices(conn: &Connection, scheme: &str) -> anyhow::Result<Vec<Device>> {
    let mut stmt = conn.prepare(
        "SELECT t.subject, COALESCE(t.label, ''), t.site_id, s.name, t.created_at, t.revoked_at,
                a.last_synced_at, a.refused_at, a.refusal
         FROM tokens t JOIN sites s ON s.id = t.site_id LEFT JOIN device_activity a ON a.device = t.subject
         WHERE t.kind = 'device' AND t.scheme_id = ?1 ORDER BY t.created_at DESC",
    )?;
    let rows = stmt.query_map([scheme], |r| {
        Ok(Device {
            id: r.get(0)?,
            label: r.get(1)?,
            site: r.get(2)?,
            site_name: r.get(3)?,
            created_at: r.get(4)?,
            revoked_at: r.get(5)?,
            last_synced_at: r.get(6)?,
            refused: match (r.get::<_, Option<i64>>(7)?, r.get::<_, Option<String>>(8)?) {
                (Some(at), Some(why)) => Some((at, why)),
                _ => None,
            },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes a tablet of a scheme. `false` if the scheme has no such (unrevoked) tablet.
pub fn revoke_device(conn: &Connection, scheme: &str, device: &str, actor: &str) -> anyhow::Result<bool> {
    crate::store::immediate(conn, |conn| {
        let n = conn.execute(
            "UPDATE tokens SET revoked_at = ?1 WHERE kind = 'device' AND subject = ?2 AND scheme_id = ?3 AND revoked_at IS NULL",
            params![now_ms(), device, scheme],
        )?;
        if n > 0 {
            audit(conn, actor, "tablet revoked", Some(scheme), &format!("tablet {device}"))?;
        }
        Ok(n > 0)
    })
}

/// Every revoked tablet (the relay refuses their connections even mid-handshake).
pub fn revoked_devices(conn: &Connection) -> anyhow::Result<Vec<String>> {
    revoked_since(conn, i64::MIN)
}

/// Tablets revoked at or after `since_ms`.
pub fn revoked_since(conn: &Connection, since_ms: i64) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT subject FROM tokens WHERE kind = 'device' AND revoked_at IS NOT NULL AND revoked_at >= ?1",
    )?;
    let rows = stmt.query_map([since_ms], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// ---------------------------------------------------------------------------------------------
// Equality monitoring answers (special-category data: never in a document, never shown singly).

/// Stores a volunteer's answers, replacing earlier ones.
pub fn store_equality(
    conn: &Connection,
    scheme: &str,
    volunteer: &str,
    answers: &signpost_shared::equality::Answers,
) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO equality_answers(scheme_id, volunteer_id, answers, submitted_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(scheme_id, volunteer_id) DO UPDATE SET answers = excluded.answers, submitted_at = excluded.submitted_at",
        params![scheme, volunteer, serde_json::to_string(answers)?, now_ms()],
    )?;
    Ok(())
}

/// Which volunteers of a scheme have given answers, and when (never the answers themselves).
pub fn equality_given(conn: &Connection, scheme: &str) -> anyhow::Result<std::collections::HashMap<String, i64>> {
    let mut stmt = conn.prepare("SELECT volunteer_id, submitted_at FROM equality_answers WHERE scheme_id = ?1")?;
    let rows = stmt.query_map([scheme], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes a volunteer's answers on request. `false` if there were none.
pub fn withdraw_equality(conn: &Connection, scheme: &str, volunteer: &str, actor: &str) -> anyhow::Result<bool> {
    let n =
        conn.execute("DELETE FROM equality_answers WHERE scheme_id = ?1 AND volunteer_id = ?2", [scheme, volunteer])?;
    if n > 0 {
        audit(conn, actor, "equality answers withdrawn", Some(scheme), &format!("volunteer {volunteer}"))?;
    }
    Ok(n > 0)
}

// ---------------------------------------------------------------------------------------------
// Audit log.

pub fn audit(conn: &Connection, actor: &str, action: &str, scheme: Option<&str>, detail: &str) -> anyhow::Result<()> {
    conn.execute(
        "INSERT INTO audit_log(at, actor, action, scheme_id, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now_ms(), actor, action, scheme, detail],
    )
    .context("cannot write the audit log")?;
    Ok(())
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub scheme: Option<String>,
    pub detail: String,
}

/// The newest entries first, `limit` of them, older than `before` when given.
pub fn audit_entries(conn: &Connection, limit: u32, before: Option<i64>) -> anyhow::Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, scheme_id, detail FROM audit_log
         WHERE ?1 IS NULL OR seq < ?1 ORDER BY seq DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![before, limit], |r| {
        Ok(AuditEntry {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            scheme: r.get(4)?,
            detail: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (Connection, String, String) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(crate::store::SCHEMA).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        migrate(&conn).unwrap();
        let scheme = crate::store::create_scheme(&conn, "S").unwrap();
        let site = crate::store::create_site(&conn, &scheme, "Court A").unwrap();
        (conn, scheme, site)
    }

    #[test]
    fn a_set_password_code_works_once_and_a_reset_ends_the_old_password() {
        let (mut conn, scheme, _) = db();
        let role = Role::Coordinator { scheme };
        let (user, code) = create_user(&conn, " Ann@Example.org ", &role, "cli").unwrap();
        assert_eq!(user.email, "ann@example.org");
        assert!(check_login(&conn, "ann@example.org", "").unwrap().is_none());
        assert!(set_password(&mut conn, &code, "short").is_err());
        set_password(&mut conn, &code, "correct horse battery").unwrap();
        assert!(set_password(&mut conn, &code, "another good password").is_err(), "a code works once");
        assert_eq!(check_login(&conn, "ANN@example.org", "correct horse battery").unwrap().unwrap().id, user.id);
        assert!(check_login(&conn, "ann@example.org", "wrong horse battery").unwrap().is_none());
        let (_, code2) = reset_password(&conn, &user.id, "admin").unwrap();
        assert!(check_login(&conn, "ann@example.org", "correct horse battery").unwrap().is_none());
        set_password(&mut conn, &code2, "a brand new password").unwrap();
        assert!(create_user(&conn, "ann@example.org", &Role::National, "cli").is_err(), "emails are unique");
        assert!(Role::parse("coordinator", None).is_err());
        assert!(Role::parse("admin", Some("x".into())).is_err());
    }

    #[test]
    fn an_enrolment_code_works_once_and_only_before_it_expires() {
        let (mut conn, scheme, site) = db();
        let code = create_enrol_code(&conn, &site, "c").unwrap();
        assert_eq!(code.len(), 9);
        let typed = code.to_lowercase().replace('-', " ");
        let (token, p) = redeem_enrol_code(&mut conn, &typed, "Tablet 1").unwrap().unwrap();
        assert_eq!((p.scheme.as_str(), p.site.as_str()), (scheme.as_str(), site.as_str()));
        assert!(matches!(crate::store::check_token(&conn, &token).unwrap(), Some(crate::store::Credential::Device(_))));
        assert!(redeem_enrol_code(&mut conn, &code, "again").unwrap().is_none(), "used");
        let late = create_enrol_code(&conn, &site, "c").unwrap();
        conn.execute("UPDATE enrol_codes SET expires_at = 0 WHERE used_at IS NULL", []).unwrap();
        assert!(redeem_enrol_code(&mut conn, &late, "late").unwrap().is_none(), "expired");
        assert!(redeem_enrol_code(&mut conn, "not a code", "").unwrap().is_none());
        let listed = devices(&conn, &scheme).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].label, "Tablet 1");
        assert!(!revoke_device(&conn, "other-scheme", &p.device, "c").unwrap(), "scoped to the scheme");
        assert!(revoke_device(&conn, &scheme, &p.device, "c").unwrap());
        assert!(crate::store::check_token(&conn, &token).unwrap().is_none());
        assert_eq!(revoked_devices(&conn).unwrap(), vec![p.device]);
    }

    #[test]
    fn the_audit_log_cannot_be_changed() {
        let (conn, _, _) = db();
        audit(&conn, "a", "did", None, "x").unwrap();
        assert!(conn.execute("UPDATE audit_log SET actor = 'b'", []).is_err());
        assert!(conn.execute("DELETE FROM audit_log", []).is_err());
        assert_eq!(audit_entries(&conn, 10, None).unwrap()[0].actor, "a");
    }
}
