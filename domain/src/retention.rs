//! How long a scheme keeps its records, and the purge that forgets what is older.
//!
//! Each scheme has a retention period in months (default 36) and a number of days its tablets
//! keep (default 7). Desk-days older than the retention period are removed for good by
//! [`purge`]: their documents, every stored chunk, every fact projected from them (and so their
//! part of the quarter figures), leaving only a row in `retired_documents` by which the relay
//! refuses the id from then on. Freed pages are zeroed (`secure_delete`) and the write-ahead log
//! is checkpointed and truncated, so no copy stays in the database's files.

use crate::audit;
use crate::db::{self, documents};
use crate::sql::{params, Connection, OptionalExtension};
use anyhow::Context;
use chrono::{Months, NaiveDate};
use signpost_shared::ids::DocumentId;
use signpost_shared::schema::DocKind;

/// A scheme's retention period unless its coordinator sets another.
pub const DEFAULT_MONTHS: u32 = 36;
/// The retention periods a scheme may choose, in months.
pub const MONTHS: std::ops::RangeInclusive<u32> = 6..=120;
/// How many days before today a tablet keeps, unless the scheme sets another number.
pub const DEFAULT_TABLET_DAYS: u32 = 7;
/// The numbers of days a scheme may let its tablets keep.
pub const TABLET_DAYS: std::ops::RangeInclusive<u32> = 0..=31;

/// How long a scheme keeps what it records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Desk-days older than this many months are purged.
    pub months: u32,
    /// Fully synced days older than this many days leave the scheme's tablets.
    pub tablet_days: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { months: DEFAULT_MONTHS, tablet_days: DEFAULT_TABLET_DAYS }
    }
}

impl Policy {
    /// A policy within the bounds a scheme may choose, or why not.
    pub fn checked(months: u32, tablet_days: u32) -> Result<Policy, String> {
        if !MONTHS.contains(&months) {
            return Err(format!("Keep records for {} to {} months (3 years is 36)", MONTHS.start(), MONTHS.end()));
        }
        if !TABLET_DAYS.contains(&tablet_days) {
            return Err(format!("Tablets may keep {} to {} days before today", TABLET_DAYS.start(), TABLET_DAYS.end()));
        }
        Ok(Policy { months, tablet_days })
    }

    /// The first day kept on `today`: every day before it is purged.
    pub fn oldest_kept(&self, today: NaiveDate) -> NaiveDate {
        today.checked_sub_months(Months::new(self.months)).unwrap_or(NaiveDate::MIN)
    }
}

/// A scheme's policy; `None` if there is no such scheme.
pub fn policy(conn: &Connection, scheme: &str) -> anyhow::Result<Option<Policy>> {
    Ok(conn
        .prepare_cached("SELECT retention_months, tablet_days FROM schemes WHERE id = ?1")?
        .query_row([scheme], |r| Ok(Policy { months: r.get(0)?, tablet_days: r.get(1)? }))
        .optional()?)
}

/// Sets a scheme's policy in the caller's transaction, audited. The scheme's directory document
/// carries the same numbers for its tablets; the caller writes both together.
pub fn set_policy(conn: &Connection, scheme: &str, p: Policy, actor: &str) -> anyhow::Result<()> {
    let n = conn.execute(
        "UPDATE schemes SET retention_months = ?2, tablet_days = ?3 WHERE id = ?1",
        params![scheme, p.months, p.tablet_days],
    )?;
    anyhow::ensure!(n == 1, "no scheme with id {scheme:?}");
    let detail = format!("records kept {} months; tablets keep {} days", p.months, p.tablet_days);
    audit::audit(conn, actor, "retention period set", Some(scheme), &detail)
}

/// Every scheme's retention period in months, for the relay.
pub fn all_months(conn: &Connection) -> anyhow::Result<Vec<(String, u32)>> {
    let mut stmt = conn.prepare_cached("SELECT id, retention_months FROM schemes")?;
    let rows = stmt.query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// What one purge removed.
#[derive(Debug, Default)]
pub struct Report {
    /// The desk-days removed, with their scheme, site and day.
    pub days: Vec<documents::Retired>,
    /// Header-less drafts older than their scheme's retention period.
    pub drafts: usize,
    /// Rows of tablets' daily usage from before yesterday (only the current day is needed).
    pub usage_rows: usize,
}

/// Documents removed per transaction: the relay waits for the write lock no longer than that.
const BATCH: usize = 100;

/// Removes every desk-day older than its scheme's retention period, old drafts and days set
/// aside, and old usage counts (as of `today`), in short transactions; then truncates the
/// write-ahead log so no removed byte stays in the database's files. Audited per scheme, without
/// content.
pub fn purge(conn: &Connection, today: NaiveDate, actor: &str) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let schemes: Vec<(String, Policy)> = conn
        .prepare("SELECT id, retention_months, tablet_days FROM schemes ORDER BY id")?
        .query_map((), |r| Ok((r.get(0)?, Policy { months: r.get(1)?, tablet_days: r.get(2)? })))?
        .collect::<Result<_, _>>()?;
    for (scheme, policy) in schemes {
        let oldest = policy.oldest_kept(today);
        let oldest_ms = oldest.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
        let (days, drafts): (Vec<DocumentId>, Vec<DocumentId>) = {
            let ids = |sql: &str, p: &dyn crate::sql::ToSql| -> anyhow::Result<Vec<DocumentId>> {
                let mut stmt = conn.prepare(sql)?;
                let rows = stmt.query_map(params![scheme, p], |r| r.get::<_, String>(0))?;
                Ok(rows.filter_map(|r| r.ok()?.parse().ok()).collect())
            };
            let day = oldest.format("%Y-%m-%d").to_string();
            (
                ids(
                    &format!(
                        "SELECT id FROM documents WHERE scheme_id = ?1 AND kind = '{}' AND day < ?2 ORDER BY day",
                        DocKind::DeskDay.as_str()
                    ),
                    &day,
                )?,
                // Drafts, and days set aside (dated wrongly: kept by when they arrived, not by
                // the date they claim), once they arrived longer ago than the retention period.
                ids(
                    &format!(
                        "SELECT id FROM documents WHERE scheme_id = ?1 AND kind IN ('draft', '{}') AND created_at < ?2",
                        documents::SET_ASIDE_KIND
                    ),
                    &oldest_ms,
                )?,
            )
        };
        // A draft is nobody's record, and may sit at another site's well-known id (a squatter):
        // it is removed, not retired, so that the id stays free for its site.
        let (drafts, set_aside): (Vec<DocumentId>, Vec<DocumentId>) = drafts.into_iter().partition(|d| {
            matches!(documents::meta_of(conn, d), Ok(Some(signpost_shared::relay::Meta::Draft { .. })))
        });
        if !drafts.is_empty() {
            db::immediate(conn, |tx| {
                for d in &drafts {
                    documents::apply_write(tx, &signpost_shared::relay::Write::Discard { doc: *d })?;
                }
                Ok(())
            })?;
            report.drafts += drafts.len();
        }
        let days: Vec<DocumentId> = days.into_iter().chain(set_aside).collect();
        if days.is_empty() && drafts.is_empty() {
            continue;
        }
        let (n_days, n_drafts) = (days.len(), drafts.len());
        for batch in days.chunks(BATCH) {
            let removed = db::immediate(conn, |tx| {
                let mut removed = Vec::new();
                for doc in batch {
                    removed.extend(documents::retire(tx, doc, documents::Retirement::Purged)?);
                }
                Ok(removed)
            })?;
            report.days.extend(removed);
        }
        let detail = format!("{n_days} desk-days and {n_drafts} drafts from before {oldest}");
        audit::audit(conn, actor, "purged records past the retention period", Some(&scheme), &detail)?;
    }
    let yesterday = (today - chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    report.usage_rows = conn.execute("DELETE FROM device_usage WHERE day < ?1", [yesterday])?;
    if !report.days.is_empty() || report.drafts > 0 {
        db::checkpoint(conn).context("the purge is done, but the write-ahead log still holds removed pages")?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Store, Sync};
    use crate::schemes;
    use automerge::Automerge;
    use signpost_shared::projection;
    use signpost_shared::relay::{Meta, Write};
    use signpost_shared::schema::{self, Header};

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Stores a desk-day with one referral whose notes hold `marker`, projected as the relay does.
    fn store_day(conn: &Connection, scheme: &str, site: &str, date: NaiveDate, marker: &str) -> DocumentId {
        let h = Header::desk_day(scheme, site, date);
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        schema::write_header(&mut tx, &h).unwrap();
        let mut r = crate::testing::referral_on(&format!("r-{date}"), date);
        r.notes = Some(marker.into());
        schema::write_referral(&mut tx, &r).unwrap();
        tx.commit();
        let id = h.well_known_id();
        db::immediate(conn, |tx| {
            documents::apply_write(tx, &Write::Create { doc: id, meta: Meta::Doc(h.clone()), chunk: doc.save() })?;
            let projection = projection::project_all(&doc, &h).unwrap();
            documents::apply_write(tx, &Write::Project { doc: id, projection })
        })
        .unwrap();
        id
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, (), |r| r.get(0)).unwrap()
    }

    /// Whether any of the database's files (main, write-ahead log) holds `marker`.
    fn in_files(dir: &std::path::Path, marker: &str) -> bool {
        std::fs::read_dir(dir).unwrap().any(|f| {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
        })
    }

    #[test]
    fn days_past_the_retention_period_are_removed_for_good_and_the_rest_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let conn = Store::open(tmp.path(), Sync::Normal).unwrap().connect().unwrap();
        let scheme = schemes::create_scheme(&conn, "S", None, None).unwrap();
        let site = schemes::create_site(&conn, &scheme, "Court").unwrap();
        let patient = schemes::create_scheme(&conn, "Keeps ten years", None, None).unwrap();
        let patient_site = schemes::create_site(&conn, &patient, "Court").unwrap();
        set_policy(&conn, &patient, Policy::checked(120, 7).unwrap(), "test").unwrap();
        let today = day("2026-12-01");
        // 36 months back is 2023-12-01: the day before goes, that day stays.
        let gone = store_day(&conn, &scheme, &site, day("2023-11-30"), "MARKER-GONE-1");
        let older = store_day(&conn, &scheme, &site, day("2023-01-15"), "MARKER-GONE-2");
        let kept = store_day(&conn, &scheme, &site, day("2023-12-01"), "MARKER-KEPT-1");
        store_day(&conn, &scheme, &site, day("2026-11-30"), "MARKER-KEPT-2");
        store_day(&conn, &patient, &patient_site, day("2023-01-15"), "MARKER-KEPT-3");
        assert!(in_files(tmp.path(), "MARKER-GONE-1"), "the scan finds what is stored");

        let report = purge(&conn, today, "test").unwrap();
        let mut removed: Vec<_> = report.days.iter().map(|r| r.doc).collect();
        removed.sort();
        let mut want = vec![gone, older];
        want.sort();
        assert_eq!(removed, want);
        assert_eq!(report.days[0].day.as_deref(), Some("2023-01-15"), "oldest first");
        for doc in [gone, older] {
            let stored = documents::load_doc(&conn, &doc).unwrap().unwrap();
            assert!(matches!(stored.meta, Meta::Retired { replaced_by: None }));
            assert!(stored.chunks.is_empty());
            // A relay holding a live copy cannot store anything of it again.
            let append = Write::Append { doc, chunk: vec![1, 2, 3] };
            assert!(documents::apply_write(&conn, &append).is_err());
        }
        assert!(documents::load_doc(&conn, &kept).unwrap().is_some_and(|d| matches!(d.meta, Meta::Doc(_))));
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM referral_facts"), 3);
        assert_eq!(
            count(&conn, "SELECT COUNT(*) FROM referral_facts WHERE day < '2023-12-01' AND scheme_id != 'x'"),
            1
        );
        assert_eq!(
            count(&conn, "SELECT COALESCE(SUM(referrals), 0) FROM quarter_figures WHERE quarter = '2023-Q4'"),
            1
        );
        for marker in ["MARKER-GONE-1", "MARKER-GONE-2"] {
            assert!(!in_files(tmp.path(), marker), "{marker} left in the database's files");
        }
        for marker in ["MARKER-KEPT-1", "MARKER-KEPT-2", "MARKER-KEPT-3"] {
            assert!(in_files(tmp.path(), marker), "{marker} should still be stored");
        }
        let audit = crate::audit::audit_entries(&conn, 10, None).unwrap();
        assert!(audit.iter().any(|a| a.action.contains("purged") && a.detail.starts_with("2 desk-days")));

        // Again: nothing more to do.
        let again = purge(&conn, today, "test").unwrap();
        assert!(again.days.is_empty() && again.drafts == 0);
    }

    #[test]
    fn a_policy_outside_its_bounds_is_refused() {
        assert!(Policy::checked(5, 7).is_err());
        assert!(Policy::checked(121, 7).is_err());
        assert!(Policy::checked(36, 32).is_err());
        assert_eq!(Policy::checked(36, 7), Ok(Policy::default()));
        let (conn, scheme, _) = schemes::test_db();
        assert_eq!(policy(&conn, &scheme).unwrap(), Some(Policy::default()));
        assert!(set_policy(&conn, "sch-none", Policy::default(), "test").is_err());
    }
}
