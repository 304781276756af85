//! After the soak: the relay's database, read directly, against what the tablets saved and an
//! independent projection of the stored documents.

use crate::report::Report;
use anyhow::Context;
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
    /// Entries the relay projected as invalid.
    pub invalid: Vec<String>,
    pub tablet_problems: Vec<String>,
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
    }
}

fn load_all(conn: &Connection) -> anyhow::Result<BTreeMap<DocumentId, Automerge>> {
    let mut out = BTreeMap::new();
    let ids: Vec<String> =
        conn.prepare("SELECT id FROM documents")?.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let mut chunks = conn.prepare("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
    for id in ids {
        let mut doc = Automerge::new();
        for c in chunks.query_map([&id], |r| r.get::<_, Vec<u8>>(0))? {
            doc.load_incremental(&c?).with_context(|| format!("stored document {id} does not load"))?;
        }
        out.insert(id.parse().map_err(|_| anyhow::anyhow!("stored id {id}"))?, doc);
    }
    Ok(out)
}

pub fn check(db: &Path, reports: &[Report]) -> anyhow::Result<Findings> {
    let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let stored = load_all(&conn)?;
    let mut f = Findings { documents: stored.len(), ..Findings::default() };

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
    for (id, d) in &stored {
        let Ok(h) = schema::read_header(d) else { continue };
        if h.kind != DocKind::DeskDay {
            continue;
        }
        let Some(p) = projection::project_all(d, &h) else { continue };
        for fact in p.facts {
            match fact {
                Fact::Referral(r) => {
                    expect.insert((id.to_string(), r.id), (r.voided, r.follow_up, r.recorded_at_ms));
                }
                Fact::Shift(s) => {
                    shifts.insert((id.to_string(), s.id));
                }
                Fact::Invalid { key, reason } => f.invalid.push(format!("{id} {key:?}: {reason}")),
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
        let refused: Vec<(String, String)> = conn
            .prepare("SELECT device, coalesce(refusal, '') FROM device_activity WHERE refused_at IS NOT NULL")?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        f.refused.extend(refused.into_iter().map(|(d, why)| format!("{d}: {why}")));
    }
    Ok(f)
}
