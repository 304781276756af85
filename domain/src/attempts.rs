//! Guessing attempts counted in the database, so that several relays on one PostgreSQL
//! database hold a guesser to one allowance between them (the relay's throttles count in memory
//! first; see the server's `throttle`). Keys are stored hashed: they name addresses and
//! accounts, and the table only needs to tell them apart. Rows older than their window are
//! removed as new ones come.

use crate::sql::{params, Connection, OptionalExtension};
use crate::util::hash_token;

/// Counts an attempt of `key` under `kind` unless `limit` are already counted within
/// `window_ms` before `now`: its id, or `None` when the key has used up its attempts.
pub fn reserve(
    conn: &Connection,
    kind: &str,
    key: &str,
    limit: usize,
    window_ms: i64,
    now: i64,
) -> anyhow::Result<Option<i64>> {
    crate::db::immediate(conn, |c| {
        c.execute("DELETE FROM attempts WHERE kind = ?1 AND at < ?2", params![kind, now - window_ms])?;
        let counted: i64 = c.query_row(
            "SELECT count(*) FROM attempts WHERE kind = ?1 AND key = ?2",
            params![kind, hash_token(key)],
            |r| r.get(0),
        )?;
        if counted >= limit as i64 {
            return Ok(None);
        }
        Ok(Some(c.query_row(
            "INSERT INTO attempts(kind, key, at) VALUES (?1, ?2, ?3) RETURNING id",
            params![kind, hash_token(key), now],
            |r| r.get(0),
        )?))
    })
}

/// Takes back one counted attempt (it succeeded).
pub fn release(conn: &Connection, id: i64) -> anyhow::Result<()> {
    conn.execute("DELETE FROM attempts WHERE id = ?1", [id])?;
    Ok(())
}

/// Forgets every attempt of `key` under `kind`.
pub fn clear(conn: &Connection, kind: &str, key: &str) -> anyhow::Result<()> {
    conn.execute("DELETE FROM attempts WHERE kind = ?1 AND key = ?2", params![kind, hash_token(key)])?;
    Ok(())
}

/// Records a failure of `key` under `kind` at `now`.
pub fn record(conn: &Connection, kind: &str, key: &str, now: i64) -> anyhow::Result<()> {
    conn.execute("INSERT INTO attempts(kind, key, at) VALUES (?1, ?2, ?3)", params![kind, hash_token(key), now])?;
    Ok(())
}

/// How many attempts of `key` under `kind` are counted since `since`.
pub fn recent(conn: &Connection, kind: &str, key: &str, since: i64) -> anyhow::Result<usize> {
    let n: Option<i64> = conn
        .query_row(
            "SELECT count(*) FROM attempts WHERE kind = ?1 AND key = ?2 AND at >= ?3",
            params![kind, hash_token(key), since],
            |r| r.get(0),
        )
        .optional()?;
    Ok(n.unwrap_or(0) as usize)
}
