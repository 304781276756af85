//! Each scheme's figures per calendar quarter — referrals, shift minutes and the volunteers who
//! were active — kept by SQLite triggers (made in [`crate::db::migrations`]) as the relay writes
//! and replaces facts.
//!
//! The national view reads whole quarters across every scheme. Counting them from the facts
//! scans a quarter's referrals (a quarter of a million at national scale, over a second); these
//! tables answer the same in one row per scheme. Triggers rather than code in the projection:
//! every write of a fact, whoever makes it, keeps them right, inside the same transaction.

use crate::sql::{params, Connection};

/// One scheme's figures in one quarter.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Figures {
    pub volunteers: u64,
    pub hours: u64,
    pub referrals: u64,
}

/// One scheme's figures with what the national view groups them by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemeFigures {
    pub scheme: String,
    /// A region code, or `not-set`.
    pub region: String,
    /// A kind-of-scheme code, or `not-set`.
    pub kind: String,
    pub figures: Figures,
}

/// Every scheme's figures in the quarter (`2026-Q3`). Volunteers are those on the scheme's
/// roster (as projected now, active or not): an id a tablet wrote that is on no roster is no
/// volunteer, however many entries name it. (Read here rather than kept out by the triggers: a
/// roster changes after the entries, and the next figures follow it.)
pub fn per_scheme(conn: &Connection, quarter: &str) -> anyhow::Result<Vec<SchemeFigures>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.id, COALESCE(s.region, 'not-set'), COALESCE(s.scheme_type, 'not-set'),
                COALESCE(f.referrals, 0), COALESCE(f.minutes, 0) / 60,
                (SELECT COUNT(*) FROM quarter_volunteers v
                     JOIN roster_facts r ON r.scheme_id = v.scheme_id AND r.volunteer_id = v.volunteer
                     WHERE v.scheme_id = s.id AND v.quarter = ?1)
         FROM schemes s LEFT JOIN quarter_figures f ON f.scheme_id = s.id AND f.quarter = ?1",
    )?;
    let rows = stmt.query_map(params![quarter], |r| {
        let n = |i| r.get::<_, i64>(i).map(|v| v.max(0) as u64);
        Ok(SchemeFigures {
            scheme: r.get(0)?,
            region: r.get(1)?,
            kind: r.get(2)?,
            figures: Figures { referrals: n(3)?, hours: n(4)?, volunteers: n(5)? },
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The referrals in the statistics (not voided), across every scheme, for `/metrics`: the sum
/// of the quarter figures the triggers keep, one row per scheme and quarter. Counting the
/// referrals themselves read every one of them at each scrape.
pub fn referrals_counted(conn: &Connection) -> anyhow::Result<i64> {
    Ok(conn.query_row(REFERRALS_COUNTED, (), |r| r.get(0))?)
}

const REFERRALS_COUNTED: &str = "SELECT COALESCE(SUM(referrals), 0) FROM quarter_figures";

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::db::migrations::{self, quarter_of};

    type Row = (String, String, i64, i64, i64);

    /// (scheme, quarter, referrals, minutes, volunteers) with something to count.
    fn nonzero(rows: Vec<Row>) -> Vec<Row> {
        rows.into_iter().filter(|r| (r.2, r.3, r.4) != (0, 0, 0)).collect()
    }

    /// What the tables must say: the same figures counted from the facts.
    pub(crate) fn recount(conn: &Connection) -> Vec<Row> {
        let (rq, sq) = (quarter_of("day"), quarter_of("day"));
        let sql = format!(
            "SELECT scheme_id, quarter, SUM(referrals), SUM(minutes), (
                 SELECT COUNT(*) FROM (
                     SELECT volunteer FROM referral_facts r
                         WHERE r.scheme_id = t.scheme_id AND {r} = t.quarter AND voided = 0 AND volunteer IS NOT NULL
                     UNION SELECT volunteer FROM shift_facts s WHERE s.scheme_id = t.scheme_id AND {s} = t.quarter) v)
             FROM (
                 SELECT scheme_id, {rq} AS quarter, CASE WHEN voided = 0 THEN 1 ELSE 0 END AS referrals, 0 AS minutes
                     FROM referral_facts
                 UNION ALL SELECT scheme_id, {sq}, 0, minutes FROM shift_facts
             ) t GROUP BY scheme_id, quarter ORDER BY 1, 2",
            r = quarter_of("r.day"),
            s = quarter_of("s.day"),
        );
        rows(conn, &sql)
    }

    /// What the tables say, in the same shape.
    pub(crate) fn kept(conn: &Connection) -> Vec<Row> {
        rows(
            conn,
            "SELECT f.scheme_id, f.quarter, f.referrals, f.minutes,
                 (SELECT COUNT(*) FROM quarter_volunteers v WHERE v.scheme_id = f.scheme_id AND v.quarter = f.quarter)
             FROM quarter_figures f ORDER BY 1, 2",
        )
    }

    fn rows(conn: &Connection, sql: &str) -> Vec<Row> {
        let mut stmt = conn.prepare(sql).unwrap();
        let rows = stmt.query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))).unwrap();
        nonzero(rows.collect::<Result<_, _>>().unwrap())
    }

    fn facts_db() -> Connection {
        // A database from before the quarterly figures: every step of its layout up to them.
        let conn = Connection::sqlite(rusqlite::Connection::open_in_memory().unwrap());
        let before = migrations::STEPS.iter().position(|s| s.name.starts_with("quarterly figures")).unwrap();
        migrations::run_to(&conn, before as i64).unwrap();
        conn.execute_batch(
            "INSERT INTO schemes(id, name, created_at, region, scheme_type) VALUES ('a', 'A', 0, 'london', 'court-help-desk');
             INSERT INTO schemes(id, name, created_at) VALUES ('b', 'B', 0);",
        )
        .unwrap();
        conn
    }

    fn insert_referral(c: &Connection, id: &str, scheme: &str, day: &str, volunteer: Option<&str>, voided: bool) {
        c.execute(
            "INSERT INTO referral_facts(doc_id, id, scheme_id, site_id, day, recorded_at, volunteer, helped,
                 agency_kind, agency, help, follow_up, voided)
             VALUES ('d', ?1, ?2, 'site', ?3, 0, ?4, 'client', 'other', 'x', 'information', 0, ?5)",
            params![id, scheme, day, volunteer, voided],
        )
        .unwrap();
    }

    fn insert_shift(c: &Connection, id: &str, scheme: &str, day: &str, volunteer: &str, minutes: i64) {
        c.execute(
            "INSERT INTO shift_facts(doc_id, id, scheme_id, site_id, day, volunteer, start_ms, minutes)
             VALUES ('d', ?1, ?2, 'site', ?3, ?4, 0, ?5)",
            params![id, scheme, day, volunteer, minutes],
        )
        .unwrap();
    }

    #[test]
    fn quarters_follow_inserts_updates_and_deletes_of_facts() {
        let mut conn = facts_db();
        migrations::run(&mut conn).unwrap();
        insert_referral(&conn, "r1", "a", "2026-03-31", Some("v1"), false);
        insert_referral(&conn, "r2", "a", "2026-04-01", Some("v1"), false);
        insert_referral(&conn, "r3", "a", "2026-04-02", Some("v2"), true);
        insert_referral(&conn, "r4", "b", "2026-12-31", None, false);
        insert_shift(&conn, "s1", "a", "2026-04-05", "v3", 90);
        insert_shift(&conn, "s2", "a", "2026-04-06", "v1", 30);
        let want = vec![
            ("a".to_owned(), "2026-Q1".to_owned(), 1, 0, 1),
            ("a".to_owned(), "2026-Q2".to_owned(), 1, 120, 2),
            ("b".to_owned(), "2026-Q4".to_owned(), 1, 0, 0),
        ];
        assert_eq!(kept(&conn), want);
        assert_eq!(recount(&conn), want);
        // A void, an un-void, a move to another quarter, a deletion.
        conn.execute("UPDATE referral_facts SET voided = 1 WHERE id = 'r2'", ()).unwrap();
        conn.execute("UPDATE referral_facts SET voided = 0 WHERE id = 'r3'", ()).unwrap();
        conn.execute("UPDATE shift_facts SET day = '2026-07-01' WHERE id = 's1'", ()).unwrap();
        conn.execute("DELETE FROM referral_facts WHERE id = 'r1'", ()).unwrap();
        let want = vec![
            ("a".to_owned(), "2026-Q2".to_owned(), 1, 30, 2),
            ("a".to_owned(), "2026-Q3".to_owned(), 0, 90, 1),
            ("b".to_owned(), "2026-Q4".to_owned(), 1, 0, 0),
        ];
        assert_eq!(kept(&conn), want);
        assert_eq!(recount(&conn), want);
        // Volunteers are those on the scheme's roster, active or not: v1 and v2 (not v3).
        conn.execute_batch(
            "INSERT INTO roster_facts(scheme_id, volunteer_id, active) VALUES ('a', 'v1', 1), ('a', 'v2', 0), ('b', 'v1', 1);",
        )
        .unwrap();
        let f = |scheme: &str, region: &str, kind: &str, referrals, hours, volunteers| SchemeFigures {
            scheme: scheme.into(),
            region: region.into(),
            kind: kind.into(),
            figures: Figures { referrals, hours, volunteers },
        };
        let figures = |quarter: &str| {
            let mut figures = per_scheme(&conn, quarter).unwrap();
            figures.sort_by(|x, y| x.scheme.cmp(&y.scheme));
            figures
        };
        assert_eq!(
            figures("2026-Q2"),
            vec![f("a", "london", "court-help-desk", 1, 0, 2), f("b", "not-set", "not-set", 0, 0, 0)]
        );
        // Shifts under fifty ids on no roster: their minutes count, none of them as a volunteer.
        for i in 0..50 {
            insert_shift(&conn, &format!("ghost-{i}"), "a", "2026-04-07", &format!("ghost-{i}"), 60);
        }
        assert_eq!(figures("2026-Q2")[0], f("a", "london", "court-help-desk", 1, 50, 2));
        assert_eq!(figures("2026-Q3")[0], f("a", "london", "court-help-desk", 0, 1, 0), "v3 is on no roster");
    }

    /// The count `/metrics` reports follows every write of a fact, and costs one row per
    /// scheme and quarter, however many referrals there are: it never reads the referrals.
    #[test]
    fn referrals_are_counted_without_reading_them() {
        let conn = facts_db();
        migrations::run(&conn).unwrap();
        assert_eq!(referrals_counted(&conn).unwrap(), 0);
        for i in 0..6 {
            insert_referral(
                &conn,
                &format!("r{i}"),
                ["a", "b"][i % 2],
                ["2026-01-05", "2026-08-09"][i / 3],
                None,
                i == 5,
            );
        }
        conn.execute("UPDATE referral_facts SET voided = 1 WHERE id = 'r0'", ()).unwrap();
        conn.execute("DELETE FROM referral_facts WHERE id = 'r1'", ()).unwrap();
        let recounted: i64 =
            conn.query_row("SELECT count(*) FROM referral_facts WHERE voided = 0", (), |r| r.get(0)).unwrap();
        assert_eq!((referrals_counted(&conn).unwrap(), recounted), (3, 3));
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {REFERRALS_COUNTED}"))
            .unwrap()
            .query_map((), |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(plan.iter().all(|step| !step.contains("referral_facts")), "{plan:?}");
    }

    /// Facts stored before the tables existed are counted once, when the store is next opened.
    #[test]
    fn facts_stored_before_are_counted_once() {
        let mut conn = facts_db();
        insert_referral(&conn, "r1", "a", "2026-05-01", Some("v1"), false);
        insert_referral(&conn, "r2", "a", "2026-05-02", Some("v1"), false);
        insert_referral(&conn, "r3", "a", "2026-05-02", Some("v2"), true);
        insert_shift(&conn, "s1", "a", "2026-05-03", "v4", 45);
        migrations::run(&mut conn).unwrap();
        let want = vec![("a".to_owned(), "2026-Q2".to_owned(), 2, 45, 2)];
        assert_eq!(kept(&conn), want);
        assert_eq!(recount(&conn), want);
        // Once: opening again does not count them twice.
        migrations::run(&mut conn).unwrap();
        assert_eq!(kept(&conn), want);
    }
}
