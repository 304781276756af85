//! Turns desk-day documents into statistics facts: one row per referral and per shift, keyed by
//! their ids, so that writing the same facts twice is a no-op (idempotent upserts) and an edit
//! replaces the row. Free-text notes never become facts.

use crate::schema::{self, AgencyRef, DocKind, EntryKey, Header, SchemaError};
use crate::vocab::{AgeBand, Category, HelpKind, Helped};
use automerge::{Automerge, Prop, ReadDoc};
use chrono::NaiveDate;
use std::collections::{BTreeSet, HashSet};

/// The longest shift that counts towards volunteer hours; longer ones are capped (a shift left
/// open overnight must not add a day of volunteering).
pub const MAX_SHIFT_MINUTES: i64 = 16 * 60;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferralFact {
    pub id: String,
    pub date: NaiveDate,
    pub recorded_at_ms: i64,
    pub volunteer: Option<String>,
    pub helped: Helped,
    pub age_band: Option<AgeBand>,
    pub categories: Vec<Category>,
    pub agency: AgencyRef,
    pub help: HelpKind,
    pub follow_up: bool,
    /// How and when its follow-up was closed, if it was.
    pub follow_up_closed: Option<(crate::vocab::FollowUpOutcome, i64)>,
    pub voided: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShiftFact {
    pub id: String,
    pub date: NaiveDate,
    pub volunteer: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
}

impl ShiftFact {
    /// Minutes that count as volunteering: 0 for an open or inverted shift, capped at
    /// [`MAX_SHIFT_MINUTES`].
    pub fn minutes(&self) -> i64 {
        match self.end_ms {
            Some(end) if end > self.start_ms => ((end - self.start_ms) / 60_000).min(MAX_SHIFT_MINUTES),
            _ => 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    Referral(ReferralFact),
    Shift(ShiftFact),
    /// The entry exists but does not follow the schema; it is not counted. The reason is kept so
    /// that the coordinator can see why.
    Invalid {
        key: EntryKey,
        reason: String,
    },
    /// The key no longer exists in the document.
    Removed(EntryKey),
}

/// The facts of one desk-day document, or the part of it that changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Projection {
    pub scheme: String,
    pub site: String,
    pub date: NaiveDate,
    pub facts: Vec<Fact>,
}

/// Projects the given entries of a desk-day document. Returns `None` for other document kinds.
pub fn project<R: ReadDoc>(doc: &R, header: &Header, keys: impl IntoIterator<Item = EntryKey>) -> Option<Projection> {
    let (Some(site), Some(date)) = (header.site.clone(), header.date) else { return None };
    let facts = keys.into_iter().map(|k| fact(doc, date, k)).collect();
    Some(Projection { scheme: header.scheme.clone(), site, date, facts })
}

/// A scheme's roster as its directory document has it now: each volunteer's id and whether they
/// are active. Names stay in the document; the figures need only who is on the roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roster {
    pub scheme: String,
    pub volunteers: Vec<(String, bool)>,
}

/// The roster of a directory document, whole (rosters are small and rarely edited, so each
/// change replaces it). Returns `None` for other document kinds.
pub fn project_roster<R: ReadDoc>(doc: &R, header: &Header) -> Option<Roster> {
    (header.kind == DocKind::Directory).then(|| Roster {
        scheme: header.scheme.clone(),
        volunteers: schema::read_volunteers(doc).into_iter().map(|v| (v.id, v.active)).collect(),
    })
}

/// Projects every entry of a desk-day document.
pub fn project_all<R: ReadDoc>(doc: &R, header: &Header) -> Option<Projection> {
    project(doc, header, schema::entry_keys(doc))
}

fn fact<R: ReadDoc>(doc: &R, date: NaiveDate, key: EntryKey) -> Fact {
    let invalid = |key: EntryKey, e: SchemaError| Fact::Invalid { key, reason: e.to_string() };
    match &key {
        EntryKey::Referral(id) => match schema::read_referral(doc, id) {
            Ok(Some(r)) => Fact::Referral(ReferralFact {
                id: r.id,
                date,
                recorded_at_ms: r.recorded_at_ms,
                volunteer: r.volunteer,
                helped: r.helped,
                age_band: r.age_band,
                categories: r.categories.into_iter().collect(),
                agency: r.agency,
                help: r.help,
                follow_up: r.follow_up,
                follow_up_closed: r.follow_up_closed.map(|c| (c.outcome, c.at_ms)),
                voided: r.void.is_some(),
            }),
            Ok(None) => Fact::Removed(key),
            Err(e) => invalid(key, e),
        },
        EntryKey::Shift(id) => match schema::read_shift(doc, id) {
            Ok(Some(s)) => Fact::Shift(ShiftFact {
                id: s.id,
                date,
                volunteer: s.volunteer,
                start_ms: s.start_ms,
                end_ms: s.end_ms,
            }),
            Ok(None) => Fact::Removed(key),
            Err(e) => invalid(key, e),
        },
    }
}

/// The entries that the given (newly applied) changes touched. Reads only the changes' own
/// operations, so the cost follows the size of the change, not of the document: an operation at
/// the root names its entry; one inside an object made earlier is traced up to the root.
pub fn touched_keys(doc: &Automerge, changes: &[automerge::Change]) -> BTreeSet<EntryKey> {
    use automerge::legacy::{Key, ObjectId, OpId, OpType};
    let mut keys = BTreeSet::new();
    for change in changes {
        let expanded = change.decode();
        let mut made_here: HashSet<OpId> = HashSet::new();
        for (i, op) in expanded.operations.iter().enumerate() {
            match (&op.obj, &op.key) {
                (ObjectId::Root, Key::Map(k)) => keys.extend(EntryKey::parse(k)),
                (ObjectId::Root, _) => {}
                (ObjectId::Id(id), _) if made_here.contains(id) => {}
                (ObjectId::Id(OpId(counter, actor)), _) => {
                    let root_key = doc
                        .import_obj(&format!("{counter}@{actor}"))
                        .ok()
                        .and_then(|obj| doc.parents(&obj).ok())
                        .and_then(|parents| parents.last())
                        .and_then(|p| match p.prop {
                            Prop::Map(k) => EntryKey::parse(&k),
                            Prop::Seq(_) => None,
                        });
                    keys.extend(root_key);
                }
            }
            if matches!(op.action, OpType::Make(_)) {
                made_here.insert(OpId(expanded.start_op.get() + i as u64, expanded.actor_id.clone()));
            }
        }
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{write_header, write_referral, write_shift, Referral, Shift};
    use automerge::{transaction::Transactable, AutoCommit};

    fn header() -> Header {
        Header::desk_day("sc", "si", NaiveDate::from_ymd_opt(2026, 1, 2).unwrap())
    }

    fn referral(id: &str) -> Referral {
        Referral {
            id: id.into(),
            recorded_at_ms: 1,
            volunteer: None,
            helped: Helped::Witness,
            age_band: None,
            categories: [Category::FinesPayments].into(),
            agency: AgencyRef::Other("Citizens Advice".into()),
            help: HelpKind::Information,
            follow_up: false,
            follow_up_closed: None,
            notes: Some("private".into()),
            void: None,
        }
    }

    #[test]
    fn touched_keys_follow_the_change() {
        let mut doc = automerge::Automerge::new();
        let tx = |doc: &mut automerge::Automerge, f: &dyn Fn(&mut automerge::transaction::Transaction<'_>)| {
            let mut t = doc.transaction();
            f(&mut t);
            t.commit();
        };
        tx(&mut doc, &|t| write_header(t, &header()).unwrap());
        tx(&mut doc, &|t| write_referral(t, &referral("a")).unwrap());
        let before = doc.get_heads();
        tx(&mut doc, &|t| write_referral(t, &referral("b")).unwrap());
        tx(&mut doc, &|t| {
            write_shift(t, &Shift { id: "s".into(), volunteer: "v".into(), start_ms: 0, end_ms: None }).unwrap()
        });
        let keys = touched_keys(&doc, &doc.get_changes(&before));
        assert_eq!(keys, [EntryKey::Referral("b".into()), EntryKey::Shift("s".into())].into());
        // An edit deep inside an entry is attributed to the entry.
        let before = doc.get_heads();
        tx(&mut doc, &|t| crate::schema::void_referral(t, "a", "mistake", 2).unwrap());
        assert_eq!(touched_keys(&doc, &doc.get_changes(&before)), [EntryKey::Referral("a".into())].into());
        // So is a correction of a field of an existing entry.
        let before = doc.get_heads();
        let mut r = referral("b");
        r.help = HelpKind::Referred;
        tx(&mut doc, &|t| crate::schema::correct_referral(t, &r).unwrap());
        assert_eq!(touched_keys(&doc, &doc.get_changes(&before)), [EntryKey::Referral("b".into())].into());
    }

    #[test]
    fn facts_carry_no_notes_and_flag_invalid_entries() {
        let mut doc = AutoCommit::new();
        write_header(&mut doc, &header()).unwrap();
        write_referral(&mut doc, &referral("a")).unwrap();
        let broken = doc.put_object(automerge::ROOT, "referral:b", automerge::ObjType::Map).unwrap();
        doc.put(&broken, "help", "information").unwrap();
        let p = project_all(&doc, &header()).unwrap();
        assert_eq!(p.facts.len(), 2);
        assert!(matches!(&p.facts[0], Fact::Referral(r) if r.id == "a" && !r.voided));
        assert!(matches!(&p.facts[1], Fact::Invalid { reason, .. } if reason.contains("recordedAt")));
        assert!(!format!("{p:?}").contains("private"));
    }

    #[test]
    fn shift_minutes_are_capped_and_never_negative() {
        let s = |start, end| ShiftFact {
            id: "s".into(),
            date: header().date.unwrap(),
            volunteer: "v".into(),
            start_ms: start,
            end_ms: end,
        };
        assert_eq!(s(0, Some(90 * 60_000)).minutes(), 90);
        assert_eq!(s(0, None).minutes(), 0);
        assert_eq!(s(10, Some(5)).minutes(), 0);
        assert_eq!(s(0, Some(48 * 3_600_000)).minutes(), MAX_SHIFT_MINUTES);
    }
}
