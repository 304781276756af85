//! Web accounts: coordinator, national and administrator accounts (argon2id passwords, one-time
//! set-password codes, sessions). Plain SQLite over a `Connection`; the web layer decides who may
//! call what, these functions keep the data consistent (a code is used once, a coordinator
//! belongs to a scheme).

use crate::audit::audit;
use crate::db::immediate;
use crate::error::refuse;
use crate::schemes::scheme_exists;
use crate::sql::{params, Connection, OptionalExtension};
use crate::util::{hash_token, now_ms, random_id, random_token};
use argon2::password_hash::{self, rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// How long a set-password code (invitation or reset) stays valid.
pub const PASSWORD_CODE_MS: i64 = 72 * 3600 * 1000;
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
    /// False once an administrator deactivated the account: it cannot sign in or set a
    /// password until it is reactivated.
    pub active: bool,
}

impl User {
    /// How the audit log names this person.
    pub fn actor(&self) -> String {
        format!("{} ({})", self.email, self.role.name())
    }
}

pub fn normalise_email(email: &str) -> anyhow::Result<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && e.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !valid {
        return refuse(
            "Enter an email address in the correct format, like name@example.org",
            "Rhowch gyfeiriad e-bost yn y fformat cywir, fel enw@example.org",
        );
    }
    Ok(e)
}

/// Password rules: long rather than complicated (three random words make a good one).
pub fn check_password(password: &str, email: &str) -> anyhow::Result<()> {
    let n = password.chars().count();
    if n < 12 {
        return refuse("The password must be 12 characters or more", "Rhaid i'r cyfrinair fod yn 12 nod neu fwy");
    }
    if n > 128 {
        return refuse("The password must be 128 characters or fewer", "Rhaid i'r cyfrinair fod yn 128 nod neu lai");
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return refuse(
            "The password must not be your email address",
            "Ni chaiff y cyfrinair fod yn gyfeiriad e-bost i chi",
        );
    }
    Ok(())
}

fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let argon = Argon2::default();
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    let out_len = argon.params().output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(out_len, |out| {
        argon2_into(&argon, password.as_bytes(), salt_bytes, out).map_err(password_hash::Error::from)
    })
    .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
    let hash = PasswordHash {
        algorithm: Algorithm::default().ident(),
        version: Some(Version::default().into()),
        params: ParamsString::try_from(argon.params()).map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `password` is the one `hash` (a PHC string, as [`hash_password`] writes) was made
/// from, compared in constant time. What argon2's own `verify_password` does, with
/// [`argon2_into`]'s working memory.
fn password_matches(password: &str, hash: &str) -> bool {
    let matches = || -> password_hash::Result<bool> {
        let hash = PasswordHash::new(hash)?;
        let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return Ok(false) };
        let argon = Argon2::new(
            Algorithm::try_from(hash.algorithm)?,
            hash.version.map(Version::try_from).transpose()?.unwrap_or_default(),
            Params::try_from(&hash)?,
        );
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
        let out_len = argon.params().output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let computed = Output::init_with(out_len, |out| {
            argon2_into(&argon, password.as_bytes(), salt_bytes, out).map_err(password_hash::Error::from)
        })?;
        // `Output`'s equality takes the same time wherever the first difference is.
        Ok(computed == expected)
    };
    matches().unwrap_or(false)
}

/// Working memory for argon2 (19 MiB a password with our parameters), kept and used again.
/// Allocated afresh for each password, the allocator kept most of each block it was given back
/// (fragmented between small allocations) and the relay's memory grew by 19 MiB a password up
/// to 300 MiB. The relay checks a few passwords at a time, so a few of these are kept.
static ARGON2_MEMORY: std::sync::Mutex<Vec<Vec<Block>>> = std::sync::Mutex::new(Vec::new());

/// Blocks of working memory kept at most (one for each password being checked at once); a
/// block larger than 64 MiB (parameters not ours) is never kept.
const ARGON2_MEMORY_KEPT: usize = 8;

/// argon2 into `out`, in working memory kept from one password to the next.
fn argon2_into(argon: &Argon2<'_>, password: &[u8], salt: &[u8], out: &mut [u8]) -> argon2::Result<()> {
    let blocks = argon.params().block_count();
    let mut memory = ARGON2_MEMORY.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let result = argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks]);
    if memory.len() * std::mem::size_of::<Block>() <= 64 << 20 {
        let mut kept = ARGON2_MEMORY.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() < ARGON2_MEMORY_KEPT {
            kept.push(memory);
        }
    }
    result
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
    password_matches(password, hash) && real
}

fn user_from_row(r: &crate::sql::Row<'_>) -> crate::sql::Result<(User, Option<String>)> {
    let role: String = r.get(2)?;
    let scheme: Option<String> = r.get(3)?;
    let hash: Option<String> = r.get(4)?;
    let deactivated: Option<i64> = r.get(5)?;
    let role = Role::parse(&role, scheme).unwrap_or(Role::National);
    let user =
        User { id: r.get(0)?, email: r.get(1)?, role, has_password: hash.is_some(), active: deactivated.is_none() };
    Ok((user, hash))
}

const USER_COLUMNS: &str = "id, email, role, scheme_id, password_hash, deactivated_at";

pub fn user_by_id(conn: &Connection, id: &str) -> anyhow::Result<Option<User>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
    Ok(conn.query_row(&sql, [id], user_from_row).optional()?.map(|(u, _)| u))
}

pub fn users(conn: &Connection, scheme: Option<&str>) -> anyhow::Result<Vec<User>> {
    let sql =
        format!("SELECT {USER_COLUMNS} FROM users WHERE CAST(?1 AS TEXT) IS NULL OR scheme_id = ?1 ORDER BY email");
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([scheme], user_from_row)?;
    Ok(rows.map(|r| r.map(|(u, _)| u)).collect::<Result<_, _>>()?)
}

/// Creates an account and returns it with a one-time set-password code.
pub fn create_user(conn: &Connection, email: &str, role: &Role, actor: &str) -> anyhow::Result<(User, String)> {
    let email = normalise_email(email)?;
    immediate(conn, |conn| create_user_in(conn, email, role, actor))
}

fn create_user_in(conn: &Connection, email: String, role: &Role, actor: &str) -> anyhow::Result<(User, String)> {
    if let Some(scheme) = role.scheme() {
        if !scheme_exists(conn, scheme)? {
            return refuse(
                format!("There is no scheme with id {scheme:?}"),
                format!("Nid oes cynllun â'r id {scheme:?}"),
            );
        }
    }
    let exists: bool = conn.prepare("SELECT 1 FROM users WHERE email = ?1")?.exists([&email])?;
    if exists {
        return refuse(
            format!("There is already an account for {email}"),
            format!("Mae cyfrif eisoes ar gyfer {email}"),
        );
    }
    let id = random_id("usr");
    conn.execute(
        "INSERT INTO users(id, email, role, scheme_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, email, role.name(), role.scheme(), now_ms()],
    )?;
    let user = User { id, email, role: role.clone(), has_password: false, active: true };
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
    immediate(conn, |conn| {
        let Some(user) = user_by_id(conn, user_id)? else {
            return refuse("There is no such account", "Nid oes cyfrif o'r fath");
        };
        if !user.active {
            return refuse(
                "This account is deactivated. Reactivate it first",
                "Mae'r cyfrif hwn wedi'i ddadactifadu. Ail-actifadwch ef yn gyntaf",
            );
        }
        conn.execute("UPDATE users SET password_hash = NULL WHERE id = ?1", [user_id])?;
        conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
        let code = issue_password_code(conn, user_id)?;
        audit(conn, actor, "password reset", user.role.scheme(), &user.email)?;
        Ok((user, code))
    })
}

/// Deactivates an account (`active` false: its sessions and set-password codes end at once and
/// it cannot sign in) or reactivates it (its old password works again). Nobody deactivates
/// their own account, so an administrator cannot lock everyone out by accident.
pub fn set_active(conn: &Connection, user_id: &str, active: bool, by: &User) -> anyhow::Result<User> {
    if !active && by.id == user_id {
        return refuse(
            "You cannot deactivate your own account. Ask another administrator.",
            "Ni allwch ddadactifadu eich cyfrif eich hun. Gofynnwch i weinyddwr arall.",
        );
    }
    immediate(conn, |conn| {
        let Some(user) = user_by_id(conn, user_id)? else {
            return refuse("There is no such account", "Nid oes cyfrif o'r fath");
        };
        if active {
            conn.execute("UPDATE users SET deactivated_at = NULL WHERE id = ?1", [user_id])?;
        } else {
            conn.execute(
                "UPDATE users SET deactivated_at = coalesce(deactivated_at, ?2) WHERE id = ?1",
                params![user_id, now_ms()],
            )?;
            conn.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
            conn.execute(
                "UPDATE password_codes SET used_at = ?1 WHERE user_id = ?2 AND used_at IS NULL",
                params![now_ms(), user_id],
            )?;
        }
        let action = if active { "account reactivated" } else { "account deactivated" };
        audit(conn, &by.actor(), action, user.role.scheme(), &user.email)?;
        Ok(User { active, ..user })
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
        Some(id) => Ok(user_by_id(conn, &id)?.filter(|u| u.active)),
        None => Ok(None),
    }
}

/// Sets a password with a one-time code; the code is used up and other sessions end.
pub fn set_password(conn: &Connection, code: &str, password: &str) -> anyhow::Result<User> {
    let Some(user) = password_code_user(conn, code)? else {
        return refuse(
            "This link has expired or has already been used. Ask an administrator for a new one",
            "Mae'r ddolen hon wedi dod i ben neu wedi'i defnyddio eisoes. Gofynnwch i weinyddwr am un newydd",
        );
    };
    check_password(password, &user.email)?;
    let hash = hash_password(password)?;
    let tx = conn.transaction_with_behavior(crate::sql::Immediate)?;
    // The code is used up only if nobody used it meanwhile (two requests with one code: one wins).
    let now = now_ms();
    let used = tx.execute(
        "UPDATE password_codes SET used_at = ?1 WHERE hash = ?2 AND user_id = ?3 AND used_at IS NULL AND expires_at > ?1",
        params![now, hash_token(code), user.id],
    )?;
    if used != 1 {
        return refuse(
            "This link has expired or has already been used. Ask an administrator for a new one",
            "Mae'r ddolen hon wedi dod i ben neu wedi'i defnyddio eisoes. Gofynnwch i weinyddwr am un newydd",
        );
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
    // A deactivated account is refused like a wrong password: the page says nothing more.
    Ok(found.filter(|(u, _)| ok && u.active).map(|(u, _)| u))
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
    Ok(user_by_id(conn, &user_id)?.filter(|u| u.active).map(|u| (u, csrf)))
}

pub fn end_session(conn: &Connection, token: &str) -> anyhow::Result<()> {
    conn.execute("DELETE FROM sessions WHERE hash = ?1", [hash_token(token)])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deactivated_account_cannot_sign_in_or_use_its_sessions_or_codes_until_reactivated() {
        let (mut conn, _, _) = db();
        let (_, code) = create_user(&conn, "admin@example.org", &Role::Admin, "cli").unwrap();
        set_password(&mut conn, &code, "correct horse battery").unwrap();
        let admin = check_login(&conn, "admin@example.org", "correct horse battery").unwrap().unwrap();
        let (user, code) = create_user(&conn, "n@example.org", &Role::National, "cli").unwrap();
        set_password(&mut conn, &code, "another long password").unwrap();
        let (token, _) = create_session(&conn, &user).unwrap();
        let (_, unused_code) = reset_password(&conn, &user.id, &admin.actor()).unwrap();
        assert!(set_active(&conn, &admin.id, false, &admin).is_err(), "nobody deactivates themselves");
        assert!(!set_active(&conn, &user.id, false, &admin).unwrap().active);
        assert!(session(&conn, &token).unwrap().is_none());
        assert!(password_code_user(&conn, &unused_code).unwrap().is_none());
        assert!(check_login(&conn, "n@example.org", "another long password").unwrap().is_none());
        assert!(reset_password(&conn, &user.id, &admin.actor()).is_err());
        assert!(users(&conn, None).unwrap().iter().any(|u| u.id == user.id && !u.active));
        set_active(&conn, &user.id, true, &admin).unwrap();
        let (_, code) = reset_password(&conn, &user.id, &admin.actor()).unwrap();
        set_password(&mut conn, &code, "a third long password").unwrap();
        assert!(check_login(&conn, "n@example.org", "a third long password").unwrap().is_some());
        let actions: Vec<String> =
            crate::audit::audit_entries(&conn, 50, None).unwrap().into_iter().map(|e| e.action).collect();
        assert!(
            actions.contains(&"account deactivated".to_owned()) && actions.contains(&"account reactivated".to_owned())
        );
    }

    use crate::schemes::test_db as db;

    /// The hashes written here are argon2's own PHC strings: argon2's verifier takes them, and
    /// ours takes argon2's (those stored by earlier releases).
    #[test]
    fn passwords_are_argon2id_phc_strings_either_way() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_password("correct horse battery").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{ours}");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"correct horse battery!", &parsed).is_err());
        let theirs = Argon2::default()
            .hash_password(b"another password", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(password_matches("another password", &theirs));
        assert!(!password_matches("another passwore", &theirs));
        assert!(!password_matches("another password", "not a hash"));
        assert!(!password_matches("another password", &theirs.replace("$argon2id$", "$scrypt$")));
        assert!(verify_password("correct horse battery", Some(&ours)));
        assert!(!verify_password("not a real password at all", None), "never without an account");
        // The working memory is kept for the next password, a few blocks at most.
        let kept = ARGON2_MEMORY.lock().unwrap().len();
        assert!((1..=ARGON2_MEMORY_KEPT).contains(&kept), "{kept}");
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
}
