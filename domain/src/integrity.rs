//! `signpost admin check`: whether a data folder can be trusted. Three checks, each on the
//! stored bytes rather than on what the relay believes:
//! 1. SQLite's own integrity check of the database file;
//! 2. every stored document loads whole (a document that does not is named);
//! 3. the projected facts (the rows the statistics read) equal a recount from the documents
//!    themselves: the same referrals and shifts, the same vocabulary, voids and minutes.
//!
//! [`quick`] is the check the relay runs before it starts: SQLite's quick check only.

use crate::db::documents::load_automerge;
use crate::sql::Connection;
use anyhow::bail;
use signpost_shared::ids::DocumentId;
use signpost_shared::projection::{project_all, Fact};
use signpost_shared::relay::Meta;
use std::collections::BTreeMap;

/// What `check` found: everything listed here is a problem.
#[derive(Debug, Default)]
pub struct Report {
    pub sqlite: Vec<String>,
    pub documents: usize,
    pub unreadable: Vec<(String, String)>,
    pub mismatched: Vec<(String, String)>,
    pub referrals: usize,
    pub shifts: usize,
    /// The documents could not even be listed: nothing after that was checked.
    pub unlisted: bool,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.sqlite.is_empty() && self.unreadable.is_empty() && self.mismatched.is_empty() && !self.unlisted
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = |ok: bool| if ok { "ok  " } else { "FAIL" };
        writeln!(f, "{} SQLite integrity check", mark(self.sqlite.is_empty()))?;
        for p in self.sqlite.iter().take(20) {
            writeln!(f, "       {p}")?;
        }
        match self.unlisted {
            true => writeln!(f, "FAIL the documents cannot be listed")?,
            false => writeln!(
                f,
                "{} {} documents load ({} do not)",
                mark(self.unreadable.is_empty()),
                self.documents,
                self.unreadable.len()
            )?,
        }
        for (doc, why) in self.unreadable.iter().take(50) {
            writeln!(f, "       {doc}: {why}")?;
        }
        if self.unlisted {
            writeln!(f, "FAIL statistics not recounted: the documents cannot be listed")?;
        } else {
            writeln!(
                f,
                "{} statistics equal a recount from the documents: {} referrals, {} shifts ({} documents differ)",
                mark(self.mismatched.is_empty()),
                self.referrals,
                self.shifts,
                self.mismatched.len()
            )?;
        }
        for (doc, why) in self.mismatched.iter().take(50) {
            writeln!(f, "       {doc}: {why}")?;
        }
        match self.ok() {
            true => write!(f, "The data folder checks out."),
            false => write!(
                f,
                "The data folder does not check out. Stop the relay, keep this folder for inspection, and \
                 restore the latest backup into a new folder (signpost admin restore FILE --data NEWDIR); \
                 tablets send again what they hold that came after it."
            ),
        }
    }
}

/// SQLite's quick check (the structure of every page, not every index entry): fails on a
/// damaged file, with what to do.
pub fn quick(conn: &Connection) -> anyhow::Result<()> {
    // A badly damaged file fails the check itself rather than listing what is wrong.
    let problems = pragma_list(conn, "PRAGMA quick_check").unwrap_or_else(|e| vec![e.to_string()]);
    if problems != ["ok"] {
        bail!(
            "the database fails SQLite's quick check ({}). Do not serve from it: run `signpost admin check` \
             for a full report, and restore the latest backup into a new folder (`signpost admin restore FILE \
             --data NEWDIR`)",
            problems.into_iter().take(3).collect::<Vec<_>>().join("; ")
        );
    }
    Ok(())
}

/// What a SQLite check pragma lists ("ok" when all is well). PostgreSQL checks its own pages
/// (and its operators run `amcheck` and their replication's checks): "ok" there.
fn pragma_list(conn: &Connection, pragma: &str) -> anyhow::Result<Vec<String>> {
    if conn.as_sqlite().is_none() {
        return Ok(vec!["ok".into()]);
    }
    Ok(conn.prepare(pragma)?.query_map((), |r| r.get(0))?.collect::<Result<_, _>>()?)
}

/// A referral as the statistics count it, comparable between the rows and a recount.
type Counted = BTreeMap<String, String>;

/// The full check.
pub fn check(conn: &Connection) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let sqlite = pragma_list(conn, "PRAGMA integrity_check").unwrap_or_else(|e| vec![e.to_string()]);
    if sqlite != ["ok"] {
        report.sqlite = sqlite;
        // The rest reads through the same damaged pages; report what can be read.
    }
    // Every stored document, drafts and days set aside too: each must load.
    let ids: Vec<String> = match conn.prepare("SELECT id FROM documents ORDER BY id") {
        Ok(mut s) => s.query_map((), |r| r.get(0))?.filter_map(Result::ok).collect(),
        Err(e) => {
            report.unreadable.push(("documents".into(), e.to_string()));
            report.unlisted = true;
            return Ok(report);
        }
    };
    report.documents = ids.len();
    for key in ids {
        let loaded =
            key.parse::<DocumentId>().map_err(|e| anyhow::anyhow!("{e:?}")).and_then(|id| load_automerge(conn, &id));
        let (header, doc) = match loaded {
            Ok(Some((Meta::Doc(h), doc))) => (h, doc),
            Ok(Some((Meta::SetAside(_), _))) => {
                // Counted nowhere until it is filed.
                match stored(conn, &key) {
                    Ok((r, s)) if r.is_empty() && s.is_empty() => {}
                    Ok(_) => report.mismatched.push((key, "a day set aside has statistics rows".into())),
                    Err(e) => report.mismatched.push((key, format!("its statistics rows cannot be read: {e:#}"))),
                }
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                report.unreadable.push((key, format!("{e:#}")));
                continue;
            }
        };
        let Some(projection) = project_all(&doc, &header) else { continue };
        let (mut referrals, mut shifts) = (Counted::new(), Counted::new());
        for f in projection.facts {
            match f {
                Fact::Referral(r) => {
                    let mut cats: Vec<&str> = r.categories.iter().map(|c| c.code()).collect();
                    cats.sort();
                    let v = format!(
                        "{} {} {} {} {} {}",
                        r.helped.code(),
                        r.help.code(),
                        cats.join(","),
                        r.follow_up,
                        r.voided,
                        r.follow_up_closed.map(|(o, _)| o.code()).unwrap_or("-")
                    );
                    referrals.insert(r.id, v);
                }
                Fact::Shift(s) => {
                    shifts.insert(s.id.clone(), s.minutes().to_string());
                }
                Fact::Invalid { .. } | Fact::Removed(_) => {}
            }
        }
        let (stored_referrals, stored_shifts) = match stored(conn, &key) {
            Ok(s) => s,
            Err(e) => {
                report.mismatched.push((key, format!("its statistics rows cannot be read: {e:#}")));
                continue;
            }
        };
        report.referrals += referrals.len();
        report.shifts += shifts.len();
        if let Some(why) =
            differ("referral", &referrals, &stored_referrals).or_else(|| differ("shift", &shifts, &stored_shifts))
        {
            report.mismatched.push((key, why));
        }
    }
    Ok(report)
}

/// The statistics rows of one document, in the recount's form.
fn stored(conn: &Connection, doc: &str) -> anyhow::Result<(Counted, Counted)> {
    let mut referrals = Counted::new();
    let mut s = conn.prepare(
        "SELECT f.id, f.helped, f.help, f.follow_up, f.voided, f.follow_up_outcome,
                (SELECT string_agg(c.category, ',' ORDER BY c.category) FROM referral_categories c
                  WHERE c.doc_id = f.doc_id AND c.id = f.id)
         FROM referral_facts f WHERE f.doc_id = ?1",
    )?;
    let rows = s.query_map([doc], |r| {
        Ok((
            r.get::<_, String>(0)?,
            format!(
                "{} {} {} {} {} {}",
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                r.get::<_, bool>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, Option<String>>(5)?.unwrap_or_else(|| "-".into())
            ),
        ))
    })?;
    for row in rows {
        let (id, v) = row?;
        referrals.insert(id, v);
    }
    let mut shifts = Counted::new();
    let mut s = conn.prepare("SELECT id, minutes FROM shift_facts WHERE doc_id = ?1")?;
    for row in s.query_map([doc], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (id, m) = row?;
        shifts.insert(id, m.to_string());
    }
    Ok((referrals, shifts))
}

fn differ(what: &str, recount: &Counted, rows: &Counted) -> Option<String> {
    if let Some(id) = recount.keys().find(|k| !rows.contains_key(*k)) {
        return Some(format!("{what} {id} is in the document but not in the statistics"));
    }
    if let Some(id) = rows.keys().find(|k| !recount.contains_key(*k)) {
        return Some(format!("{what} {id} is in the statistics but not in the document"));
    }
    recount
        .iter()
        .find(|(k, v)| rows.get(*k) != Some(v))
        .map(|(k, v)| format!("{what} {k}: the document says {v:?}, the statistics {:?}", rows[k]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{self, documents, Store, Sync};
    use automerge::transaction::Transactable;
    use signpost_shared::relay::Write;

    /// A draft holding a change whose parent is not stored (as an earlier release could store
    /// one) fails the check: drafts are checked too.
    #[test]
    fn a_draft_that_does_not_load_fails_the_check() {
        let tmp = tempfile::tempdir().unwrap();
        let conn = Store::open(tmp.path(), Sync::Normal).unwrap().connect().unwrap();
        assert!(check(&conn).unwrap().unreadable.is_empty());
        let mut doc = automerge::Automerge::new();
        for v in ["a", "b"] {
            let mut tx = doc.transaction();
            tx.put(automerge::ROOT, v, v).unwrap();
            tx.commit();
        }
        let orphan = doc.get_changes(&[])[1].raw_bytes().to_vec();
        let id = DocumentId::random([4; 16]);
        db::immediate(&conn, |tx| {
            let meta = Meta::Draft { scheme: "s".into(), site: "x".into() };
            documents::apply_write(tx, &Write::Create { doc: id, meta, chunk: orphan })
        })
        .unwrap();
        let report = check(&conn).unwrap();
        assert_eq!(report.unreadable.len(), 1, "{report:?}");
        assert!(report.unreadable[0].1.contains("does not load"), "{report:?}");
    }
}
