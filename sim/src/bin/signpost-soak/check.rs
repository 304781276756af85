//! After the soak: the relay's database, read directly, against what the tablets saved and an
//! independent projection of the stored documents.

use crate::report::Report;
use automerge::{Automerge, ReadDoc};
use rusqlite::Connection;
use signpost_shared::ids::DocumentId;
use signpost_shared::projection::{self, Fact};
use signpost_shared::schema::{self, DocKind, EntryKey};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

#[derive(Default, Debug, serde::Serialize)]
pub struct Findings {
    pub documents: usize,
    pub entries_saved: usize,
    pub referral_facts: usize,
    /// Entries a tablet saved that the relay does not hold.
    pub lost: Vec<String>,
    /// Entries the relay holds with a value other than the one their only writer wrote last.
    pub wrong: Vec<String>,
    /// Referrals counted more than once, or counted but not in the documents, or the reverse.
    pub miscounted: Vec<String>,
    /// Tablets whose copy of a document differs from the relay's.
    pub diverged: Vec<String>,
    /// Devices the relay refused something of.
    pub refused: Vec<String>,
    /// Entries of the honest desks the relay projected as invalid.
    pub invalid: Vec<String>,
    pub tablet_problems: Vec<String>,
    /// Stored documents that do not load (strictly: every chunk whole, every dependency stored).
    pub unloadable: Vec<String>,
    /// What hostile devices were sent that they may not read.
    pub leaks: Vec<String>,
}

impl Findings {
    pub fn clean(&self) -> bool {
        self.lost.is_empty()
            && self.wrong.is_empty()
            && self.miscounted.is_empty()
            && self.diverged.is_empty()
            && self.refused.is_empty()
            && self.invalid.is_empty()
            && self.tablet_problems.is_empty()
            && self.unloadable.is_empty()
            && self.leaks.is_empty()
    }
}

/// Every stored document, loaded strictly, with its kind (`desk-day`, `set-aside`, `draft`,
/// `directory`); those that do not load are named in `unloadable`.
fn load_all(conn: &Connection, unloadable: &mut Vec<String>) -> anyhow::Result<BTreeMap<DocumentId, (String, Automerge)>> {
    let mut out = BTreeMap::new();
    let ids: Vec<(String, String)> = conn
        .prepare("SELECT id, kind FROM documents")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut chunks = conn.prepare("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
    for (id, kind) in ids {
        let all: Vec<Vec<u8>> = chunks.query_map([&id], |r| r.get::<_, Vec<u8>>(0))?.collect::<Result<_, _>>()?;
        match signpost_shared::chunks::load_stored(&all) {
            Ok(doc) => {
                out.insert(id.parse().map_err(|_| anyhow::anyhow!("stored id {id}"))?, (kind, doc));
            }
            Err(e) => unloadable.push(format!("{id} ({kind}): {e}")),
        }
    }
    Ok(out)
}

/// `hostile_sites`: the sites of the hostile devices, whose refusals and odd entries are theirs.
pub fn check(db: &Path, reports: &[Report], hostile_sites: &[String]) -> anyhow::Result<Findings> {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut f = Findings::default();
    let stored_kinds = load_all(&conn, &mut f.unloadable)?;
    f.documents = stored_kinds.len();
    let stored: BTreeMap<DocumentId, Automerge> = stored_kinds.iter().map(|(id, (_, d))| (*id, d.clone())).collect();

    // Every entry saved is stored; a single writer's last value is what is stored.
    for r in reports {
        f.tablet_problems.extend(r.problems.iter().map(|p| format!("{}: {p}", r.name)));
        f.entries_saved += r.ledger.len();
        for ((doc, key), last) in &r.ledger {
            let Some(d) = stored.get(doc) else {
                f.lost.push(format!("{key} of {} (document {doc} never stored)", r.name));
                continue;
            };
            if d.get(automerge::ROOT, key.as_str())?.is_none() {
                f.lost.push(format!("{key} in {doc}, saved by {}", r.name));
            } else if let Some(want) = last {
                let got = schema::read_referral(d, &want.id)?;
                if got.as_ref() != Some(want) {
                    f.wrong.push(format!("{key} in {doc}: stored {got:?}, {} wrote {want:?}", r.name));
                }
            }
        }
        for (doc, heads) in &r.heads {
            let relay = stored.get(doc).map(|d| d.get_heads()).unwrap_or_default();
            if *heads != relay {
                f.diverged.push(format!("{} and the relay differ on {doc}", r.name));
            }
        }
    }

    // The statistics equal an independent projection of the stored documents.
    let mut expect: BTreeMap<(String, String), (bool, bool, i64)> = BTreeMap::new();
    let mut shifts: BTreeSet<(String, String)> = BTreeSet::new();
    for (id, (kind, d)) in &stored_kinds {
        // Counted days only: a day set aside is counted nowhere.
        let Ok(h) = schema::read_header(d) else { continue };
        if h.kind != DocKind::DeskDay || kind != DocKind::DeskDay.as_str() {
            continue;
        }
        let hostile = h.site.as_ref().is_some_and(|s| hostile_sites.contains(s));
        let Some(p) = projection::project_all(d, &h) else { continue };
        for fact in p.facts {
            match fact {
                Fact::Referral(r) => {
                    expect.insert((id.to_string(), r.id), (r.voided, r.follow_up, r.recorded_at_ms));
                }
                Fact::Shift(s) => {
                    shifts.insert((id.to_string(), s.id));
                }
                Fact::Invalid { key, reason } if !hostile => f.invalid.push(format!("{id} {key:?}: {reason}")),
                Fact::Invalid { .. } => {}
                Fact::Removed(_) => {}
            }
        }
        let recount = schema::entry_keys(d)
            .into_iter()
            .filter(|k| matches!(k, EntryKey::Referral(r) if schema::read_referral(d, r).ok().flatten().is_some()))
            .count();
        let counted: i64 =
            conn.query_row("SELECT count(*) FROM referral_facts WHERE doc_id = ?1", [id.to_string()], |r| r.get(0))?;
        let counted = counted as usize;
        if counted != recount {
            f.miscounted.push(format!("{id}: {counted} referrals counted, the document holds {recount}"));
        }
    }
    let mut got: BTreeMap<(String, String), (bool, bool, i64)> = BTreeMap::new();
    let mut stmt = conn.prepare("SELECT doc_id, id, voided, follow_up, recorded_at FROM referral_facts")?;
    for row in stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?, r.get(4)?))))? {
        let (k, v) = row?;
        got.insert(k, v);
    }
    f.referral_facts = got.len();
    for (k, v) in &expect {
        match got.get(k) {
            None => f.miscounted.push(format!("referral {k:?} not counted")),
            Some(g) if g != v => f.miscounted.push(format!("referral {k:?} counted as {g:?}, the document says {v:?}")),
            Some(_) => {}
        }
    }
    f.miscounted.extend(
        got.keys()
            .filter(|k| !expect.contains_key(*k))
            .map(|k| format!("referral {k:?} counted twice or not in its document")),
    );
    let ids: Vec<(String, u32)> = conn
        .prepare("SELECT id, count(*) FROM referral_facts GROUP BY id HAVING count(*) > 1")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    f.miscounted.extend(ids.into_iter().map(|(id, n)| format!("referral {id} counted {n} times")));
    let stored_shifts: BTreeSet<(String, String)> = conn
        .prepare("SELECT doc_id, id FROM shift_facts")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if stored_shifts != shifts {
        f.miscounted.push(format!("shifts: {} counted, {} in the documents", stored_shifts.len(), shifts.len()));
    }

    // (A relay from before refusals were recorded has no such table; its log says.)
    let recorded: bool = conn.prepare("SELECT 1 FROM sqlite_master WHERE name = 'device_activity'")?.exists([])?;
    if recorded {
        let refused: Vec<(String, String, Option<String>)> = conn
            .prepare(
                "SELECT a.device, coalesce(a.refusal, ''), t.site_id FROM device_activity a
                 LEFT JOIN tokens t ON t.kind = 'device' AND t.subject = a.device WHERE a.refused_at IS NOT NULL",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        f.refused.extend(
            refused
                .into_iter()
                .filter(|(_, _, site)| site.as_ref().is_none_or(|s| !hostile_sites.contains(s)))
                .map(|(d, why, _)| format!("{d}: {why}")),
        );
    }
    Ok(f)
}
