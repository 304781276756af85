//! Administrator credentials for the JSON API (statistics, rosters): issued from the command
//! line, valid for a limited time, listed and revoked there. Only a token's hash is stored; a
//! token is known by its id (`adm_…`), which is printed when it is issued.

use crate::audit::audit;
use crate::db::immediate;
use crate::sql::{params, Connection};
use crate::util::{hash_token, now_ms, random_id, random_token};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a token lives unless told otherwise, and the longest it may.
pub const DEFAULT_DAYS: u32 = 90;
pub const MAX_DAYS: u32 = 366;

/// A newly issued token, shown once.
pub struct Issued {
    pub token: String,
    pub id: String,
    pub expires_at: i64,
}

/// Issues a token valid for `days` (1 to [`MAX_DAYS`]).
pub fn issue(conn: &Connection, days: u32, actor: &str) -> anyhow::Result<Issued> {
    if !(1..=MAX_DAYS).contains(&days) {
        anyhow::bail!("an administrator token lives from 1 to {MAX_DAYS} days, not {days}");
    }
    let token = random_token("spa_", 32);
    let id = random_id("adm");
    let now = now_ms();
    let expires_at = now + i64::from(days) * DAY_MS;
    immediate(conn, |conn| {
        conn.execute(
            "INSERT INTO tokens(hash, kind, subject, created_at, expires_at) VALUES (?1, 'admin', ?2, ?3, ?4)",
            params![hash_token(&token), id, now, expires_at],
        )?;
        audit(conn, actor, "administrator token issued", None, &format!("token {id}, valid {days} days"))
    })?;
    Ok(Issued { token, id, expires_at })
}

/// One token as listed.
#[derive(Debug, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl Listed {
    pub fn valid_at(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// Every administrator token, newest first.
pub fn list(conn: &Connection) -> anyhow::Result<Vec<Listed>> {
    let mut stmt = conn.prepare(
        "SELECT subject, created_at, expires_at, revoked_at FROM tokens WHERE kind = 'admin' ORDER BY created_at DESC",
    )?;
    let rows = stmt.query_map((), |r| {
        Ok(Listed { id: r.get(0)?, created_at: r.get(1)?, expires_at: r.get(2)?, revoked_at: r.get(3)? })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Revokes a token at once; `false` when there is no unrevoked token with that id.
pub fn revoke(conn: &Connection, id: &str, actor: &str) -> anyhow::Result<bool> {
    immediate(conn, |conn| {
        let n = conn.execute(
            "UPDATE tokens SET revoked_at = ?1 WHERE kind = 'admin' AND subject = ?2 AND revoked_at IS NULL",
            params![now_ms(), id],
        )?;
        if n > 0 {
            audit(conn, actor, "administrator token revoked", None, &format!("token {id}"))?;
        }
        Ok(n > 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tablets::{check_token, Credential};

    #[test]
    fn a_token_works_until_it_expires_or_is_revoked() {
        let conn = crate::db::memory().unwrap();
        let a = issue(&conn, 30, "test").unwrap();
        let b = issue(&conn, 1, "test").unwrap();
        assert!(a.token.starts_with("spa_") && a.id.starts_with("adm"));
        assert_eq!(check_token(&conn, &a.token).unwrap(), Some(Credential::Admin));
        assert_eq!(check_token(&conn, &b.token).unwrap(), Some(Credential::Admin));
        assert!(issue(&conn, 0, "test").is_err() && issue(&conn, MAX_DAYS + 1, "test").is_err());
        // Expired: as if issued a day and a second ago.
        conn.execute("UPDATE tokens SET expires_at = ?1 WHERE subject = ?2", params![now_ms() - 1000, b.id]).unwrap();
        assert_eq!(check_token(&conn, &b.token).unwrap(), None, "an expired token is refused");
        assert!(revoke(&conn, &a.id, "test").unwrap());
        assert!(!revoke(&conn, &a.id, "test").unwrap(), "once");
        assert_eq!(check_token(&conn, &a.token).unwrap(), None, "a revoked token is refused");
        let listed = list(&conn).unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|t| !t.valid_at(now_ms())));
        let audited: i64 = conn
            .query_row("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'administrator token %'", (), |r| r.get(0))
            .unwrap();
        assert_eq!(audited, 3, "two issued, one revoked");
    }
}
