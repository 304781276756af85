//! Days set aside: desk days a tablet created dated outside the relay's window (a clock reset to
//! 1 January 2000 by a flat battery, or days ahead). The relay stores them as the site's own
//! (`kind` `set-aside`), syncs them as usual and counts them nowhere; the scheme's coordinator
//! sees each here, with the tablet, its date and how many entries it holds, and either files it
//! under the date it was synced — the day rewritten in one change with that date
//! ([`signpost_shared::replace::refile`]), counted from then on, the old one retired as replaced
//! so tablets follow — or discards it. Both are audited.

use crate::audit;
use crate::db::{self, documents};
use crate::sql::{params, Connection, OptionalExtension};
use anyhow::Context;
use chrono::NaiveDate;
use signpost_shared::ids::DocumentId;
use signpost_shared::projection;
use signpost_shared::relay::{Meta, Write};
use signpost_shared::schema::{self, EntryKey};

/// A day set aside, as its coordinator sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAsideDay {
    pub doc: DocumentId,
    pub site: String,
    pub site_name: String,
    /// The tablet that created it (its name, or its id when it has none).
    pub tablet: String,
    /// The date it claims.
    pub day: NaiveDate,
    /// The relay's date when it arrived: the date it is filed under.
    pub synced_on: NaiveDate,
    pub referrals: usize,
    pub shifts: usize,
}

fn date(s: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").with_context(|| format!("stored date {s}"))
}

/// The scheme's days set aside, oldest first.
pub fn list(conn: &Connection, scheme: &str) -> anyhow::Result<Vec<SetAsideDay>> {
    let rows: Vec<(String, String, String, String, String, String)> = conn
        .prepare_cached(
            "SELECT a.doc_id, a.site_id, coalesce(s.name, a.site_id), coalesce(t.label, a.device), a.day, a.synced_on
             FROM set_aside a LEFT JOIN sites s ON s.id = a.site_id LEFT JOIN tokens t ON t.kind = 'device' AND t.subject = a.device
             WHERE a.scheme_id = ?1 ORDER BY a.set_aside_at, a.doc_id",
        )?
        .query_map([scheme], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for (doc, site, site_name, tablet, day, synced_on) in rows {
        let doc: DocumentId = doc.parse().map_err(|_| anyhow::anyhow!("stored document id {doc}"))?;
        let (mut referrals, mut shifts) = (0, 0);
        // A day that does not load is still listed (and may be discarded).
        if let Ok(Some((_, d))) = documents::load_automerge(conn, &doc) {
            for k in schema::entry_keys(&d) {
                match k {
                    EntryKey::Referral(_) => referrals += 1,
                    EntryKey::Shift(_) => shifts += 1,
                }
            }
        }
        out.push(SetAsideDay { doc, site, site_name, tablet, day: date(&day)?, synced_on: date(&synced_on)?, referrals, shifts });
    }
    Ok(out)
}

/// One of the scheme's days set aside, if it is one.
pub fn get(conn: &Connection, scheme: &str, doc: &DocumentId) -> anyhow::Result<Option<SetAsideDay>> {
    Ok(list(conn, scheme)?.into_iter().find(|d| d.doc == *doc))
}

/// What became of a day set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Filed under its synced date, as this new document.
    Filed { new: DocumentId, on: NaiveDate },
    Discarded,
}

/// Files a scheme's day set aside under the date it was synced: rewritten with that date into
/// the new document `new`, projected (counted from now on), the old one retired as replaced
/// (tablets that hold it follow, carrying over anything they had not synced) — one transaction,
/// audited. `None` if the scheme has no such day set aside.
pub fn file(conn: &Connection, scheme: &str, doc: &DocumentId, actor: &str, new: DocumentId) -> anyhow::Result<Option<Outcome>> {
    let done = db::immediate(conn, |tx| {
        let Some(day) = pending(tx, scheme, doc)? else { return Ok(None) };
        let Some((Meta::SetAside(header), old)) = documents::load_automerge(tx, doc)? else {
            anyhow::bail!("the day set aside {doc} cannot be read");
        };
        let filed = signpost_shared::replace::refile(&old, day.synced_on).context("filing the day")?;
        let header = schema::Header { date: Some(day.synced_on), ..header };
        documents::apply_write(tx, &Write::Create { doc: new, meta: Meta::Doc(header.clone()), chunk: filed.save() })?;
        if let Some(p) = projection::project_all(&filed, &header) {
            documents::apply_write(tx, &Write::Project { doc: new, projection: p })?;
        }
        documents::retire(tx, doc, documents::Retirement::Replaced(new))?;
        audit::audit(
            tx,
            actor,
            "set-aside day filed",
            Some(scheme),
            &format!("{doc} of site {} dated {} filed under {}, now {new}", day.site, day.day, day.synced_on),
        )?;
        Ok(Some(Outcome::Filed { new, on: day.synced_on }))
    })?;
    if done.is_some() {
        db::checkpoint(conn)?;
    }
    Ok(done)
}

/// Discards a scheme's day set aside: removed for good (its chunks and row; the id is refused
/// from then on), audited. `None` if the scheme has no such day set aside.
pub fn discard(conn: &Connection, scheme: &str, doc: &DocumentId, actor: &str) -> anyhow::Result<Option<Outcome>> {
    let done = db::immediate(conn, |tx| {
        let Some(day) = pending(tx, scheme, doc)? else { return Ok(None) };
        documents::retire(tx, doc, documents::Retirement::Purged)?;
        audit::audit(
            tx,
            actor,
            "set-aside day discarded",
            Some(scheme),
            &format!("{doc} of site {} dated {} (synced on {})", day.site, day.day, day.synced_on),
        )?;
        Ok(Some(Outcome::Discarded))
    })?;
    if done.is_some() {
        db::checkpoint(conn)?;
    }
    Ok(done)
}

/// The set-aside row of a document of the scheme that is still stored as set aside.
struct Pending {
    site: String,
    day: NaiveDate,
    synced_on: NaiveDate,
}

fn pending(tx: &Connection, scheme: &str, doc: &DocumentId) -> anyhow::Result<Option<Pending>> {
    let row: Option<(String, String, String)> = tx
        .prepare_cached(
            "SELECT a.site_id, a.day, a.synced_on FROM set_aside a JOIN documents d ON d.id = a.doc_id
             WHERE a.doc_id = ?1 AND a.scheme_id = ?2 AND d.kind = ?3",
        )?
        .query_row(params![doc.to_string(), scheme, documents::SET_ASIDE_KIND], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(site, day, synced_on)| Ok(Pending { site, day: date(&day)?, synced_on: date(&synced_on)? })).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Store, Sync};
    use crate::schemes;
    use automerge::Automerge;
    use signpost_shared::relay::SetAside;
    use signpost_shared::testkit;

    fn set_aside_day(conn: &Connection, scheme: &str, site: &str, day: NaiveDate, synced_on: NaiveDate) -> DocumentId {
        let h = schema::Header::desk_day(scheme, site, day);
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        schema::write_header(&mut tx, &h).unwrap();
        let mut r = testkit::referral("r1");
        r.recorded_at_ms = day.and_hms_opt(10, 0, 0).unwrap().and_utc().timestamp_millis();
        schema::write_referral(&mut tx, &r).unwrap();
        tx.commit();
        let id = h.well_known_id();
        db::immediate(conn, |tx| {
            documents::apply_write(tx, &Write::Create { doc: id, meta: Meta::SetAside(h.clone()), chunk: doc.save() })?;
            let s = SetAside { device: "dev-1".into(), synced_on, date: day };
            documents::apply_write(tx, &Write::SetAside { doc: id, set_aside: s })
        })
        .unwrap();
        id
    }

    fn counted(conn: &Connection) -> i64 {
        conn.query_row("SELECT COUNT(*) FROM referral_facts", (), |r| r.get(0)).unwrap()
    }

    #[test]
    fn a_day_set_aside_is_listed_then_filed_and_counted_or_discarded() {
        let tmp = tempfile::tempdir().unwrap();
        let conn = Store::open(tmp.path(), Sync::Normal).unwrap().connect().unwrap();
        let scheme = schemes::create_scheme(&conn, "S", None, None).unwrap();
        let other = schemes::create_scheme(&conn, "Other", None, None).unwrap();
        let site = schemes::create_site(&conn, &scheme, "Court").unwrap();
        let y2k = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        let today = testkit::date();
        let doc = set_aside_day(&conn, &scheme, &site, y2k, today);
        assert_eq!(counted(&conn), 0, "a day set aside is not counted");
        let listed = list(&conn, &scheme).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].day, listed[0].synced_on, listed[0].referrals, listed[0].site_name.as_str()), (y2k, today, 1, "Court"));
        assert!(list(&conn, &other).unwrap().is_empty(), "another scheme sees nothing of it");
        assert_eq!(file(&conn, &other, &doc, "c", DocumentId::random([1; 16])).unwrap(), None, "nor can it file it");
        let new = DocumentId::random([2; 16]);
        assert_eq!(file(&conn, &scheme, &doc, "c", new).unwrap(), Some(Outcome::Filed { new, on: today }));
        assert_eq!(counted(&conn), 1, "filed, it counts");
        let day: String = conn.query_row("SELECT day FROM referral_facts", (), |r| r.get(0)).unwrap();
        assert_eq!(day, today.format("%Y-%m-%d").to_string());
        assert!(list(&conn, &scheme).unwrap().is_empty());
        assert_eq!(documents::fate(&conn, &doc, &site).unwrap(), Some(documents::Fate::Replaced(new)));
        assert_eq!(file(&conn, &scheme, &doc, "c", DocumentId::random([3; 16])).unwrap(), None, "once");
        // Another, discarded.
        let doc = set_aside_day(&conn, &scheme, &site, NaiveDate::from_ymd_opt(2031, 5, 5).unwrap(), today);
        assert_eq!(discard(&conn, &scheme, &doc, "c").unwrap(), Some(Outcome::Discarded));
        assert_eq!(counted(&conn), 1);
        assert_eq!(documents::fate(&conn, &doc, &site).unwrap(), Some(documents::Fate::Removed));
        let audit = crate::audit::audit_entries(&conn, 10, None).unwrap();
        assert!(audit.iter().any(|a| a.action == "set-aside day filed"));
        assert!(audit.iter().any(|a| a.action == "set-aside day discarded"));
    }
}
