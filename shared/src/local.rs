//! How a tablet keeps its documents on the device: per document a base save followed by appended
//! change records, saved whole again every [`COMPACT_AFTER`] appends. The browser app (IndexedDB)
//! and the simulated tablets of the tests both follow these rules, so the tests exercise the
//! same format and policy the tablets run.
//!
//! **Nothing stored is overwritten unread.** A document some of whose records do not load is
//! *damaged*: what loads is used (the relay fills in the rest on the next sync), the stored
//! records are kept as they are, and from then on new changes are only ever appended, never
//! saved whole over the unreadable bytes.

use crate::ids::DocumentId;
use crate::peer::Peer;
use automerge::{Automerge, ChangeHash};
use chrono::NaiveDate;

/// Appended change records per document before it is saved whole again.
pub const COMPACT_AFTER: u32 = 64;

/// A document as read back from the device.
pub struct Loaded {
    pub doc: Automerge,
    /// What the device holds of it, for [`plan`].
    pub stored: Stored,
    /// The records (0 is the base) that did not load. (Numbers, not messages: formatting
    /// automerge's errors would add kilobytes to the tablet app's download.)
    pub damaged_records: Vec<usize>,
}

/// What the device already holds of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Heads of what is stored.
    pub heads: Vec<ChangeHash>,
    /// Change records after the base.
    pub appended: u32,
    /// Some stored records do not load: never save the document whole over them.
    pub damaged: bool,
}

/// Reads a document from its stored records (base first). Every record is tried, so one bad
/// record does not hide the others.
pub fn load(records: &[Vec<u8>]) -> Loaded {
    let mut doc = Automerge::new();
    let mut damaged_records = Vec::new();
    for (i, r) in records.iter().enumerate() {
        // automerge skips what it cannot parse without a word; check each record's framing too.
        let framed = crate::chunks::check_framing(r).is_ok();
        if doc.load_incremental(r).is_err() || !framed {
            damaged_records.push(i);
        }
    }
    let stored = Stored {
        heads: doc.get_heads(),
        appended: records.len().saturating_sub(1) as u32,
        damaged: !damaged_records.is_empty(),
    };
    Loaded { doc, stored, damaged_records }
}

/// What to write to bring the device's copy up to the document.
#[derive(Debug, PartialEq, Eq)]
pub enum Save {
    /// Replace the base with this save and drop the appended records.
    Whole(Vec<u8>),
    /// Add change record number `n` (1-based after the base).
    Append(u32, Vec<u8>),
    /// Nothing new.
    Nothing,
}

/// Decides how to save a document, given what the device holds of it (`None`: nothing yet).
pub fn plan(doc: &Automerge, stored: Option<&Stored>) -> Save {
    let heads = doc.get_heads();
    if heads.is_empty() {
        return Save::Nothing;
    }
    match stored {
        Some(s) if s.heads == heads => Save::Nothing,
        Some(s) if s.damaged || s.appended < COMPACT_AFTER => Save::Append(s.appended + 1, doc.save_after(&s.heads)),
        _ => Save::Whole(doc.save()),
    }
}

/// What the device holds once `save` (planned for `doc`) is written.
pub fn after(doc: &Automerge, stored: Option<&Stored>, save: &Save) -> Option<Stored> {
    let heads = doc.get_heads();
    let damaged = stored.is_some_and(|s| s.damaged);
    match save {
        Save::Whole(_) => Some(Stored { heads, appended: 0, damaged }),
        Save::Append(n, _) => Some(Stored { heads, appended: *n, damaged }),
        Save::Nothing => stored.cloned(),
    }
}

/// The days ahead of today a tablet keeps (the relay takes days up to two ahead).
const DAYS_AHEAD: i32 = 2;

/// What a tablet no longer keeps: a tablet can be lost, so it holds only what its desk needs.
/// It keeps `keep` (the directory), its site's days from `tablet_days` before `today` to two
/// after, any other day with something the relay has not acknowledged, and any day with a
/// follow-up still open (the desk's follow-up list needs it). A day the relay says it removed
/// for good (past the retention period) goes even so: it can never be sent. Recent days are
/// found by id (each day's id derives from site and date); only older, fully synced days are
/// read, for open follow-ups.
///
/// `resolve` gives the document that holds a day now (a day the server replaced is held under a
/// new id).
pub fn to_forget(
    peer: &Peer,
    site: &str,
    today: NaiveDate,
    tablet_days: u32,
    keep: &[DocumentId],
    resolve: &dyn Fn(DocumentId) -> DocumentId,
) -> Vec<DocumentId> {
    // (Days counted from the common era rather than `today + Duration`: chrono's duration
    // arithmetic would add kilobytes to the tablet app's download.)
    use chrono::Datelike;
    let day = today.num_days_from_ce();
    let recent: Vec<DocumentId> = (day - tablet_days as i32..=day + DAYS_AHEAD)
        .filter_map(NaiveDate::from_num_days_from_ce_opt)
        .map(|d| resolve(crate::schema::desk_day_id(site, d)))
        .collect();
    peer.doc_ids()
        .into_iter()
        .filter(|id| !keep.contains(id) && !recent.contains(id))
        .filter(|id| {
            peer.is_gone(id)
                || (peer.doc(id).is_some_and(|d| !d.get_heads().is_empty() && !crate::schema::has_open_follow_up(d))
                    && peer.is_acknowledged(id))
        })
        .collect()
}

/// One document's records kept in memory exactly as a tablet keeps them on the device: what the
/// simulated tablets of the tests use in place of IndexedDB.
#[derive(Clone, Debug, Default)]
pub struct Records {
    pub records: Vec<Vec<u8>>,
    pub stored: Option<Stored>,
}

impl Records {
    /// Saves what is new in `doc`, as the app does.
    pub fn save(&mut self, doc: &Automerge) {
        let save = plan(doc, self.stored.as_ref());
        match &save {
            Save::Whole(b) => self.records = vec![b.clone()],
            Save::Append(n, b) => {
                assert_eq!(*n as usize, self.records.len(), "records are numbered in order");
                self.records.push(b.clone());
            }
            Save::Nothing => {}
        }
        self.stored = after(doc, self.stored.as_ref(), &save);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{ReadDoc, ROOT};

    fn put(doc: &mut Automerge, k: &str) {
        let mut tx = doc.transaction();
        tx.put(ROOT, k, 1).unwrap();
        tx.commit();
    }

    /// A document with `n` changes, saved after each as a tablet would.
    fn saved_after_each(n: u32) -> (Automerge, Records) {
        let (mut doc, mut records) = (Automerge::new(), Records::default());
        for i in 0..n {
            put(&mut doc, &format!("k{i}"));
            records.save(&doc);
            assert!(records.records.len() as u32 <= COMPACT_AFTER + 1);
        }
        (doc, records)
    }

    #[test]
    fn records_round_trip_and_compact() {
        let (doc, saved) = saved_after_each(150);
        let back = load(&saved.records);
        assert!(back.damaged_records.is_empty());
        assert_eq!(back.doc.get_heads(), doc.get_heads());
        assert_eq!(Some(back.stored), saved.stored);
    }

    /// A damaged document keeps its unreadable bytes: new changes are appended, never saved
    /// whole over them, however many follow.
    #[test]
    fn a_damaged_document_is_never_overwritten() {
        let (_, mut saved) = saved_after_each(5);
        saved.records[0] = vec![0x85, 0x6f, 0x4a, 0x83, 9, 9, 9, 9, 0, 3, 1, 2, 3];
        let bad = saved.records[0].clone();
        let back = load(&saved.records);
        assert!(!back.damaged_records.is_empty());
        assert!(back.stored.damaged);
        let (mut doc, mut saved) = (back.doc, Records { records: saved.records, stored: Some(back.stored) });
        for i in 0..(COMPACT_AFTER + 10) {
            put(&mut doc, &format!("new{i}"));
            saved.save(&doc);
        }
        assert_eq!(saved.records[0], bad, "the unreadable base is kept as it was");
        let again = load(&saved.records);
        assert_eq!(again.damaged_records, vec![0]);
        assert!(again.doc.get(ROOT, "new0").unwrap().is_some(), "what came after is all there");
    }

    #[test]
    fn one_bad_record_does_not_hide_the_others() {
        let (doc, mut saved) = saved_after_each(4);
        saved.records.insert(2, b"not automerge".to_vec());
        let back = load(&saved.records);
        assert!(!back.damaged_records.is_empty());
        assert_eq!(back.doc.get_heads(), doc.get_heads(), "every good record still loaded");
    }
}
