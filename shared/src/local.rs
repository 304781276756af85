//! How a tablet keeps its documents on the device: per document a base save followed by appended
//! change records, saved whole again every [`COMPACT_AFTER`] appends. The browser app (IndexedDB)
//! and the simulated tablets of the tests both follow these rules, so the tests exercise the
//! same format and policy the tablets run.
//!
//! **Nothing stored is overwritten unread.** A document some of whose records do not load is
//! *damaged*: what loads is used (the relay fills in the rest on the next sync), the stored
//! records are kept as they are, and from then on new changes are only ever appended, never
//! saved whole over the unreadable bytes.

use automerge::{Automerge, ChangeHash};

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

    /// Writes the document as a tablet would after each change, returning the records.
    fn save_all(doc: &Automerge, records: &mut Vec<Vec<u8>>, stored: &mut Option<Stored>) {
        let save = plan(doc, stored.as_ref());
        match &save {
            Save::Whole(b) => *records = vec![b.clone()],
            Save::Append(n, b) => {
                assert_eq!(*n as usize, records.len());
                records.push(b.clone())
            }
            Save::Nothing => {}
        }
        *stored = after(doc, stored.as_ref(), &save);
    }

    #[test]
    fn records_round_trip_and_compact() {
        let mut doc = Automerge::new();
        let (mut records, mut stored) = (Vec::new(), None);
        for i in 0..150 {
            put(&mut doc, &format!("k{i}"));
            save_all(&doc, &mut records, &mut stored);
            assert!(records.len() as u32 <= COMPACT_AFTER + 1);
        }
        let back = load(&records);
        assert!(back.damaged_records.is_empty());
        assert_eq!(back.doc.get_heads(), doc.get_heads());
        assert_eq!(back.stored, stored.unwrap());
    }

    /// A damaged document keeps its unreadable bytes: new changes are appended, never saved
    /// whole over them, however many follow.
    #[test]
    fn a_damaged_document_is_never_overwritten() {
        let mut doc = Automerge::new();
        let (mut records, mut stored) = (Vec::new(), None);
        for i in 0..5 {
            put(&mut doc, &format!("k{i}"));
            save_all(&doc, &mut records, &mut stored);
        }
        let mut bad = records.clone();
        bad[0] = vec![0x85, 0x6f, 0x4a, 0x83, 9, 9, 9, 9, 0, 3, 1, 2, 3];
        let back = load(&bad);
        assert!(!back.damaged_records.is_empty());
        assert!(back.stored.damaged);
        let (mut doc, mut stored) = (back.doc, Some(back.stored));
        let mut records = bad.clone();
        for i in 0..(COMPACT_AFTER + 10) {
            put(&mut doc, &format!("new{i}"));
            save_all(&doc, &mut records, &mut stored);
        }
        assert_eq!(records[0], bad[0], "the unreadable base is kept as it was");
        let again = load(&records);
        assert_eq!(again.damaged_records, vec![0]);
        assert!(again.doc.get(ROOT, "new0").unwrap().is_some(), "what came after is all there");
    }

    #[test]
    fn one_bad_record_does_not_hide_the_others() {
        let mut doc = Automerge::new();
        let (mut records, mut stored) = (Vec::new(), None);
        for i in 0..4 {
            put(&mut doc, &format!("k{i}"));
            save_all(&doc, &mut records, &mut stored);
        }
        records.insert(2, b"not automerge".to_vec());
        let back = load(&records);
        assert!(!back.damaged_records.is_empty());
        assert_eq!(back.doc.get_heads(), doc.get_heads(), "every good record still loaded");
    }
}
