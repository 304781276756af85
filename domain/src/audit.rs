//! The audit log: who did what to which scheme, append-only (triggers refuse updates and
//! deletes).

use crate::util::now_ms;
use anyhow::Context;
use rusqlite::{params, Connection};

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

    use crate::schemes::test_db as db;

    #[test]
    fn the_audit_log_cannot_be_changed() {
        let (conn, _, _) = db();
        audit(&conn, "a", "did", None, "x").unwrap();
        assert!(conn.execute("UPDATE audit_log SET actor = 'b'", []).is_err());
        assert!(conn.execute("DELETE FROM audit_log", []).is_err());
        assert_eq!(audit_entries(&conn, 10, None).unwrap()[0].actor, "a");
    }
}
