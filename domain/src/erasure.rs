//! Erasing one referral, or redacting only its notes, from every stored byte.
//!
//! An automerge document keeps its whole history: deleting a key leaves the deleted values in
//! the change that wrote them. So the day is *replaced*: a new document (a new, random id) is
//! written with one change holding the day as it is now, without the erased referral (or
//! without its notes), and with a tombstone (`erased:<id>` or `redacted:<id>`) that tells every
//! tablet what not to carry over. The old document is retired as `replaced`
//! ([`documents::retire`]): its chunks and facts are deleted (pages zeroed, journal truncated)
//! and the relay refuses its id from then on, so a client still holding the old history can
//! never store it again.

use crate::audit;
use crate::db::{self, documents};
use crate::sql::Connection;
use anyhow::Context;
use signpost_shared::ids::DocumentId;
use signpost_shared::projection;
use signpost_shared::relay::{Meta, Write};
pub use signpost_shared::replace::{rewrite, Erasure, ERASED_PREFIX, REDACTED_PREFIX};
use signpost_shared::schema::REFERRAL_PREFIX;

/// One day rewritten.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewritten {
    pub old: DocumentId,
    pub new: DocumentId,
    pub scheme: String,
}

/// A referral as a coordinator finds it to correct the record: enough to recognise it, without
/// its notes (those are shown only when it is opened, and that is audited).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub entry: String,
    pub recorded_at_ms: i64,
    pub helped: String,
    pub categories: Vec<String>,
    pub agency: String,
    pub voided: bool,
}

/// The most referrals one search lists (a desk logs a few dozen a day).
pub const FIND_LIMIT: usize = 500;

/// The referrals of a scheme's site on a day (`YYYY-MM-DD`), optionally only those in one
/// category, in the order they were logged.
pub fn find(
    conn: &Connection,
    scheme: &str,
    site: &str,
    day: &str,
    category: Option<&str>,
) -> anyhow::Result<Vec<Found>> {
    let mut stmt = conn.prepare_cached(
        "SELECT f.id, f.recorded_at, f.helped, f.agency, f.voided,
                (SELECT string_agg(c.category, ',' ORDER BY c.category) FROM referral_categories c WHERE c.doc_id = f.doc_id AND c.id = f.id)
         FROM referral_facts f
         WHERE f.scheme_id = ?1 AND f.site_id = ?2 AND f.day = ?3
           AND (CAST(?4 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM referral_categories c
                                      WHERE c.doc_id = f.doc_id AND c.id = f.id AND c.category = ?4))
         ORDER BY f.recorded_at, f.id LIMIT ?5",
    )?;
    let rows = stmt.query_map(crate::params![scheme, site, day, category, FIND_LIMIT as i64], |r| {
        let categories: Option<String> = r.get(5)?;
        Ok(Found {
            entry: r.get(0)?,
            recorded_at_ms: r.get(1)?,
            helped: r.get(2)?,
            agency: r.get(3)?,
            voided: r.get(4)?,
            categories: categories.map(|c| c.split(',').map(str::to_owned).collect()).unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One referral opened to correct the record, with its notes.
#[derive(Clone, Debug)]
pub struct Opened {
    pub doc: DocumentId,
    pub site: String,
    pub day: String,
    pub referral: signpost_shared::schema::Referral,
}

/// A scheme's referral by its id, read from its day as stored; `None` if the scheme has no such
/// referral. (The caller audits the opening.)
pub fn open(conn: &Connection, scheme: &str, entry: &str) -> anyhow::Result<Option<Opened>> {
    use crate::sql::OptionalExtension;
    let row = conn
        .prepare_cached("SELECT doc_id, site_id, day FROM referral_facts WHERE id = ?1 AND scheme_id = ?2 LIMIT 1")?
        .query_row([entry, scheme], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
        .optional()?;
    let Some((doc, site, day)) = row else { return Ok(None) };
    let doc: DocumentId = doc.parse().map_err(|_| anyhow::anyhow!("stored document id {doc} does not parse"))?;
    let Some((_, day_doc)) = documents::load_automerge(conn, &doc)? else { return Ok(None) };
    let Some(referral) = signpost_shared::schema::read_referral(&day_doc, entry)? else { return Ok(None) };
    Ok(Some(Opened { doc, site, day, referral }))
}

/// The stored documents of `scheme` holding referral `entry` (counted, or stored but invalid).
fn holding(conn: &Connection, scheme: &str, entry: &str) -> anyhow::Result<Vec<DocumentId>> {
    let mut stmt = conn.prepare(
        "SELECT doc_id FROM referral_facts WHERE id = ?1 AND scheme_id = ?3
         UNION SELECT doc_id FROM invalid_entries WHERE key = ?2 AND scheme_id = ?3",
    )?;
    let rows = stmt.query_map([entry, &format!("{REFERRAL_PREFIX}{entry}"), scheme], |r| r.get::<_, String>(0))?;
    Ok(rows.filter_map(|r| r.ok()?.parse().ok()).collect())
}

/// The schemes whose stored days hold a referral with id `entry`, in order. Ids are chosen by
/// whoever writes the referral (a third-party client may well number them `r-0001`), so one id
/// may be held by several schemes: each is a different referral.
pub fn schemes_holding(conn: &Connection, entry: &str) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT scheme_id FROM referral_facts WHERE id = ?1
         UNION SELECT scheme_id FROM invalid_entries WHERE key = ?2
         ORDER BY 1",
    )?;
    let rows = stmt.query_map([entry, &format!("{REFERRAL_PREFIX}{entry}")], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Which scheme's referral an erasure by id alone names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The one scheme holding it, or the scheme asked for, which holds it.
    Scheme(String),
    /// No scheme holds it (or not the one asked for).
    Nowhere,
    /// Several schemes hold a referral with this id: the caller must name one.
    Several(Vec<String>),
}

/// The scheme whose referral `entry` an administrator's erasure names: the scheme asked for if
/// it holds one, else the only scheme that does.
pub fn target(conn: &Connection, entry: &str, asked: Option<&str>) -> anyhow::Result<Target> {
    let schemes = schemes_holding(conn, entry)?;
    Ok(match asked {
        Some(s) if schemes.iter().any(|x| x == s) => Target::Scheme(s.to_owned()),
        Some(_) => Target::Nowhere,
        None if schemes.len() > 1 => Target::Several(schemes),
        None => schemes.into_iter().next().map_or(Target::Nowhere, Target::Scheme),
    })
}

/// Erases `scheme`'s referral `entry` (or redacts its notes) from every day of that scheme that
/// holds it, each in one transaction with its audit row (who, which entry, which days — never
/// the content); then the journal is truncated. Other schemes' referrals with the same id are
/// never touched. `Ok(empty)` if no stored day of the scheme holds it. `new_id` names each new
/// document (random ids, from the caller).
pub fn erase(
    conn: &Connection,
    scheme: &str,
    entry: &str,
    how: Erasure,
    actor: &str,
    mut new_id: impl FnMut() -> DocumentId,
) -> anyhow::Result<Vec<Rewritten>> {
    let mut done = Vec::new();
    for old in holding(conn, scheme, entry)? {
        let rewritten = db::immediate(conn, |tx| {
            let Some((Meta::Doc(header), doc)) = documents::load_automerge(tx, &old)? else {
                anyhow::bail!("day {old} holding the referral cannot be read");
            };
            anyhow::ensure!(header.scheme == scheme, "day {old} is not of scheme {scheme}");
            let day = rewrite(&doc, entry, how).with_context(|| format!("rewriting {old}"))?;
            let new = new_id();
            let meta = Meta::Doc(header.clone());
            documents::apply_write(tx, &Write::Create { doc: new, meta, chunk: day.save() })?;
            if let Some(projection) = projection::project_all(&day, &header) {
                documents::apply_write(tx, &Write::Project { doc: new, projection })?;
            }
            documents::retire(tx, &old, documents::Retirement::Replaced(new))?;
            let action = match how {
                Erasure::Erase => "referral erased",
                Erasure::RedactNotes => "referral notes redacted",
            };
            audit::audit(tx, actor, action, Some(&header.scheme), &format!("{entry} in {old}, now {new}"))?;
            Ok(Rewritten { old, new, scheme: header.scheme })
        })?;
        done.push(rewritten);
    }
    if !done.is_empty() {
        db::checkpoint(conn).context("the referral is erased, but the write-ahead log still holds old pages")?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Store, Sync};
    use crate::schemes;
    use automerge::{Automerge, ReadDoc, ROOT};
    use signpost_shared::schema::{self, Header};
    use signpost_shared::testkit;

    fn in_files(dir: &std::path::Path, marker: &str) -> bool {
        std::fs::read_dir(dir).unwrap().any(|f| {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            bytes.windows(marker.len()).any(|w| w == marker.as_bytes())
        })
    }

    fn count(conn: &Connection, sql: &str) -> i64 {
        conn.query_row(sql, (), |r| r.get(0)).unwrap()
    }

    /// A day of three referrals whose notes hold markers, stored and projected as the relay does,
    /// with an edit history (the erased referral's notes were changed once).
    fn stored_day(conn: &Connection, scheme: &str, site: &str) -> DocumentId {
        let h = Header::desk_day(scheme, site, testkit::date());
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        schema::write_header(&mut tx, &h).unwrap();
        tx.commit();
        for (id, notes) in [("r1", "MARKER-ONE-FIRST"), ("r2", "MARKER-TWO"), ("r3", "MARKER-THREE")] {
            let mut r = crate::testing::referral_on(id, testkit::date());
            r.notes = Some(notes.into());
            let mut tx = doc.transaction();
            schema::write_referral(&mut tx, &r).unwrap();
            tx.commit();
        }
        let mut r = crate::testing::referral_on("r1", testkit::date());
        r.notes = Some("MARKER-ONE-AGAIN".into());
        let mut tx = doc.transaction();
        schema::write_referral(&mut tx, &r).unwrap();
        tx.commit();
        let id = h.well_known_id();
        db::immediate(conn, |tx| {
            // Uncompressed, so that the scan below can see the notes (automerge deflates large
            // columns; the rewritten day is checked uncompressed too).
            let chunk = doc.save_nocompress();
            documents::apply_write(tx, &Write::Create { doc: id, meta: Meta::Doc(h.clone()), chunk })?;
            documents::apply_write(
                tx,
                &Write::Project { doc: id, projection: projection::project_all(&doc, &h).unwrap() },
            )
        })
        .unwrap();
        id
    }

    #[test]
    fn an_erased_referral_leaves_no_byte_and_the_rest_of_the_day_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let conn = Store::open(tmp.path(), Sync::Normal).unwrap().connect().unwrap();
        let scheme = schemes::create_scheme(&conn, "S", None, None).unwrap();
        let site = schemes::create_site(&conn, &scheme, "Court").unwrap();
        let old = stored_day(&conn, &scheme, &site);
        assert!(in_files(tmp.path(), "MARKER-ONE-FIRST"), "the scan finds stored notes");
        let mut n = 0u8;
        let mut ids = || {
            n += 1;
            DocumentId::random([n; 16])
        };

        let done = erase(&conn, &scheme, "r1", Erasure::Erase, "test", &mut ids).unwrap();
        assert_eq!(done.len(), 1);
        let new = done[0].new;
        assert_eq!(done[0].old, old);
        for marker in ["MARKER-ONE-FIRST", "MARKER-ONE-AGAIN"] {
            assert!(!in_files(tmp.path(), marker), "{marker} is still in the database's files");
        }
        assert!(in_files(tmp.path(), "MARKER-TWO") && in_files(tmp.path(), "MARKER-THREE"));
        let (_, day) = documents::load_automerge(&conn, &new).unwrap().unwrap();
        let keys: Vec<String> =
            day.keys(ROOT).filter(|k| k.starts_with("referral:") || k.starts_with("erased:")).collect();
        assert_eq!(keys, ["erased:r1", "referral:r2", "referral:r3"]);
        assert_eq!(day.get_changes(&[]).len(), 1, "one change: no history");
        let plain = day.save_nocompress();
        assert!(!plain.windows(9).any(|w| w == b"MARKER-ON"), "the new day holds nothing of r1");
        assert!(plain.windows(10).any(|w| w == b"MARKER-TWO"), "but all of r2");
        assert_eq!(schema::read_header(&day).unwrap().site.as_deref(), Some(site.as_str()));
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM referral_facts"), 2, "dropped from the statistics");
        let stored = documents::load_doc(&conn, &old).unwrap().unwrap();
        assert!(matches!(stored.meta, Meta::Retired { replaced_by: Some(b) } if b == new));
        let audit = crate::audit::audit_entries(&conn, 5, None).unwrap();
        assert!(audit.iter().any(|a| a.action == "referral erased" && a.detail.starts_with("r1 in ")));
        assert!(audit.iter().all(|a| !a.detail.contains("MARKER")), "audited without the content");

        // Redacting r2's notes: still counted, notes gone, its other fields kept; the tombstone of
        // the earlier erasure stays.
        let done = erase(&conn, &scheme, "r2", Erasure::RedactNotes, "test", &mut ids).unwrap();
        let (_, day) = documents::load_automerge(&conn, &done[0].new).unwrap().unwrap();
        assert!(!in_files(tmp.path(), "MARKER-TWO"));
        assert!(in_files(tmp.path(), "MARKER-THREE"));
        let r2 = schema::read_referral(&day, "r2").unwrap().unwrap();
        assert_eq!((r2.notes, r2.helped), (None, crate::testing::referral_on("r2", testkit::date()).helped));
        assert!(day.get(ROOT, "erased:r1").unwrap().is_some() && day.get(ROOT, "redacted:r2").unwrap().is_some());
        assert_eq!(count(&conn, "SELECT COUNT(*) FROM referral_facts"), 2, "a redacted referral stays counted");

        // An entry no day holds: nothing happens.
        assert!(erase(&conn, &scheme, "nobody", Erasure::Erase, "test", &mut ids).unwrap().is_empty());

        // What the site's tablets learn of each id: the chain followed to the live day; other
        // sites learn nothing; a day purged after its replacements is removed.
        use documents::{fate, Fate};
        let live = done[0].new;
        assert_eq!(fate(&conn, &old, &site).unwrap(), Some(Fate::Replaced(live)));
        assert_eq!(fate(&conn, &new, &site).unwrap(), Some(Fate::Replaced(live)));
        assert_eq!(fate(&conn, &live, &site).unwrap(), Some(Fate::Stored));
        let other = schemes::create_site(&conn, &scheme, "Other court").unwrap();
        assert_eq!(fate(&conn, &old, &other).unwrap(), None);
        assert_eq!(fate(&conn, &live, &other).unwrap(), None);
        assert_eq!(fate(&conn, &DocumentId::random([99; 16]), &site).unwrap(), None);
        db::immediate(&conn, |tx| documents::retire(tx, &live, documents::Retirement::Purged)).unwrap();
        assert_eq!(fate(&conn, &old, &site).unwrap(), Some(Fate::Removed));
        assert_eq!(fate(&conn, &live, &site).unwrap(), Some(Fate::Removed));
    }

    /// Referral ids are the writer's: two schemes may each hold an `r1`. An erasure names its
    /// scheme and touches only that scheme's day; asked without a scheme, the holders are named.
    #[test]
    fn an_erasure_touches_only_its_schemes_referral_of_that_id() {
        let tmp = tempfile::tempdir().unwrap();
        let conn = Store::open(tmp.path(), Sync::Normal).unwrap().connect().unwrap();
        let a = schemes::create_scheme(&conn, "A", None, None).unwrap();
        let x = schemes::create_scheme(&conn, "X", None, None).unwrap();
        let a_day = stored_day(&conn, &a, &schemes::create_site(&conn, &a, "Court").unwrap());
        let x_day = stored_day(&conn, &x, &schemes::create_site(&conn, &x, "Prison").unwrap());
        let mut holders = vec![a.clone(), x.clone()];
        holders.sort();
        assert_eq!(schemes_holding(&conn, "r1").unwrap(), holders);
        assert_eq!(target(&conn, "r1", None).unwrap(), Target::Several(holders));
        assert_eq!(target(&conn, "r1", Some(&x)).unwrap(), Target::Scheme(x.clone()));
        assert_eq!(target(&conn, "r1", Some("sch-none")).unwrap(), Target::Nowhere);
        assert_eq!(target(&conn, "nobody", None).unwrap(), Target::Nowhere);

        let x_rows = |conn: &Connection| -> Vec<(i64, Vec<u8>)> {
            let mut stmt = conn.prepare("SELECT seq, bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq").unwrap();
            stmt.query_map([x_day.to_string()], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect()
        };
        let x_before = x_rows(&conn);
        let done = erase(&conn, &a, "r1", Erasure::Erase, "coordinator of A", || DocumentId::random([7; 16])).unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!((done[0].old, done[0].scheme.as_str()), (a_day, a.as_str()));
        assert_eq!(x_rows(&conn), x_before, "X's day is byte for byte as it was");
        assert!(in_files(tmp.path(), "MARKER-ONE-AGAIN"), "X's r1 keeps its notes");
        assert_eq!(count(&conn, &format!("SELECT COUNT(*) FROM referral_facts WHERE scheme_id = '{x}'")), 3);
        assert_eq!(count(&conn, &format!("SELECT COUNT(*) FROM referral_facts WHERE scheme_id = '{a}'")), 2);
        let audit = crate::audit::audit_entries(&conn, 10, None).unwrap();
        let erased: Vec<_> = audit.iter().filter(|e| e.action == "referral erased").collect();
        assert_eq!(erased.len(), 1);
        assert_eq!(erased[0].scheme.as_deref(), Some(a.as_str()), "X's audit log has nothing of A's coordinator");
        // Now only X holds an r1.
        assert_eq!(target(&conn, "r1", None).unwrap(), Target::Scheme(x.clone()));
        assert!(erase(&conn, &a, "r1", Erasure::Erase, "again", || DocumentId::random([8; 16])).unwrap().is_empty());
    }
}
