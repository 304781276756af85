//! The audit log: who did what to which scheme, append-only (triggers refuse updates and
//! deletes).

use crate::sql::{params, Connection};
use crate::util::now_ms;
use anyhow::Context;

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
         WHERE CAST(?1 AS BIGINT) IS NULL OR seq < ?1 ORDER BY seq DESC LIMIT ?2",
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

/// The names of the schemes, sites, tablets, volunteers and accounts the entries mention by
/// id, so that the log reads as names: id → name. Ids are what entries store, because names
/// change (a site renamed) and the log must not.
pub fn names(conn: &Connection, entries: &[AuditEntry]) -> anyhow::Result<std::collections::HashMap<String, String>> {
    let mut names = std::collections::HashMap::new();
    let mut add = |sql: &str| -> anyhow::Result<()> {
        let mut stmt = conn.prepare(sql)?;
        for row in stmt.query_map((), |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))? {
            let (id, name) = row?;
            names.insert(id, name);
        }
        Ok(())
    };
    add("SELECT id, name FROM schemes")?;
    add("SELECT id, name FROM sites")?;
    add("SELECT id, email FROM users")?;
    add("SELECT subject, label FROM tokens WHERE kind = 'device' AND label IS NOT NULL AND label != ''")?;
    let schemes: std::collections::BTreeSet<&String> = entries.iter().filter_map(|e| e.scheme.as_ref()).collect();
    for scheme in schemes {
        for v in crate::schemes::roster(conn, scheme)? {
            names.insert(v.id, v.name);
        }
    }
    Ok(names)
}

/// An entry's details with each id it mentions followed by its name: "site-abc (Court A)".
pub fn named(detail: &str, names: &std::collections::HashMap<String, String>) -> String {
    detail
        .split(' ')
        .map(|word| match names.get(word.trim_end_matches(',')) {
            Some(name) if name != word => format!("{word} ({name})"),
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::schemes::test_db as db;

    #[test]
    fn the_audit_log_cannot_be_changed() {
        let (conn, _, _) = db();
        audit(&conn, "a", "did", None, "x").unwrap();
        assert!(conn.execute("UPDATE audit_log SET actor = 'b'", ()).is_err());
        assert!(conn.execute("DELETE FROM audit_log", ()).is_err());
        assert_eq!(audit_entries(&conn, 10, None).unwrap()[0].actor, "a");
    }

    #[test]
    fn the_log_names_what_its_ids_are() {
        let (conn, scheme, site) = db();
        audit(&conn, "a", "enrolment code created", Some(&scheme), &format!("site {site}")).unwrap();
        let entries = audit_entries(&conn, 10, None).unwrap();
        let names = names(&conn, &entries).unwrap();
        assert_eq!(names.get(&scheme).map(String::as_str), Some("S"));
        assert_eq!(named(&entries[0].detail, &names), format!("site {site} (Court A)"));
        assert_eq!(named("nothing known here", &names), "nothing known here");
    }
}
