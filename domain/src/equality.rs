//! Equality-monitoring answers: special-category data, stored on the server only (never in a
//! document), never shown singly; national figures are counted from them with disclosure
//! control ([`crate::national`]).

use crate::audit::audit;
use crate::sql::{params, Connection};
use crate::util::now_ms;
use signpost_shared::equality::Answers;

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

/// Every active roster volunteer (as projected from the directory documents): their scheme's
/// kind (`not-set` when unset) and their answers, if they gave any. For the national tables.
pub fn answers_of_active(conn: &Connection) -> anyhow::Result<Vec<(String, Option<Answers>)>> {
    let mut stmt = conn.prepare(
        "SELECT COALESCE(s.scheme_type, 'not-set'), e.answers FROM roster_facts r
         JOIN schemes s ON s.id = r.scheme_id
         LEFT JOIN equality_answers e ON e.scheme_id = r.scheme_id AND e.volunteer_id = r.volunteer_id
         WHERE r.active = 1",
    )?;
    let rows = stmt.query_map((), |r| {
        let answers: Option<String> = r.get(1)?;
        Ok((r.get(0)?, answers.map(|json| serde_json::from_str(&json).unwrap_or_default())))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
