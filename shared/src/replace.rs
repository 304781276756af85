//! Replacing a day's document, which is how Signpost forgets: an automerge document keeps its
//! whole history (deleting a key leaves the deleted values in the change that wrote them), so to
//! erase a referral, or only its notes, the server writes the day afresh into a new document
//! with one change ([`rewrite`]) and retires the old one. Each device that held the old day then
//! follows: it opens the replacement, carries over what it wrote that the relay never
//! acknowledged ([`carry_over`]), except what the tombstones say is gone, and drops the old one.
//! docs/schema.md describes this for other clients.

use crate::ids::DocumentId;
use crate::peer::{Output, Peer, PeerError};
use crate::projection::touched_keys;
use crate::schema::{entry_keys, EntryKey, REFERRAL_PREFIX};
use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ObjId, ObjType, ReadDoc, Value, ROOT};
use std::collections::BTreeSet;

/// What to take out of a referral.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Erasure {
    /// The whole referral: it is no longer counted.
    Erase,
    /// Only its notes: it stays counted.
    RedactNotes,
}

/// Root key of the tombstone an erasure leaves in the rewritten day.
pub const ERASED_PREFIX: &str = "erased:";
/// Root key of the tombstone a redaction leaves in the rewritten day.
pub const REDACTED_PREFIX: &str = "redacted:";

/// The day as it is now, without the referral (or its notes), as one new change: nothing of the
/// old history is in it. Earlier tombstones are kept.
pub fn rewrite(old: &Automerge, entry: &str, how: Erasure) -> Result<Automerge, AutomergeError> {
    let key = format!("{REFERRAL_PREFIX}{entry}");
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    for k in old.keys(ROOT) {
        if k == key && how == Erasure::Erase {
            continue;
        }
        let skip: &[&str] = if k == key { &["notes"] } else { &[] };
        copy(old, &ROOT, &k, &mut tx, &ROOT, skip)?;
    }
    let tombstone = match how {
        Erasure::Erase => format!("{ERASED_PREFIX}{entry}"),
        Erasure::RedactNotes => format!("{REDACTED_PREFIX}{entry}"),
    };
    tx.put(ROOT, tombstone, true)?;
    tx.commit();
    Ok(doc)
}

/// Root key of the tombstone a filed day leaves: the date it claimed before it was filed.
pub const FILED_FROM: &str = "filedFrom";

/// A day set aside because it was dated outside the relay's window (a tablet whose clock was
/// wrong), filed under `to` (the date it was synced), as one new change: every entry as it is,
/// the header's date changed, and each time of an entry that lay near the date it claimed moved
/// by the same number of days (a clock wrong by five days wrote every time five days wrong). A
/// tombstone says what it claimed. Nothing of the old history is in it.
pub fn refile(old: &Automerge, to: chrono::NaiveDate) -> Result<Automerge, AutomergeError> {
    let claimed = crate::schema::read_header(old).ok().and_then(|h| h.date);
    let shift_ms = claimed.map_or(0, |from| (to - from).num_milliseconds());
    let near = |t: i64| {
        claimed.is_some_and(|from| {
            let start = from.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_millis()).unwrap_or(0);
            t >= start.saturating_sub(DAY_MS) && t <= start.saturating_add(2 * DAY_MS)
        })
    };
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    for k in old.keys(ROOT) {
        copy(old, &ROOT, &k, &mut tx, &ROOT, &[])?;
    }
    tx.put(ROOT, "date", crate::schema::ymd(to))?;
    if let Some(from) = claimed {
        tx.put(ROOT, FILED_FROM, crate::schema::ymd(from))?;
    }
    for entry in entry_keys(old) {
        let key = entry.root_key();
        let Some((_, obj)) = tx.get(ROOT, &key)? else { continue };
        let fields: &[&str] = match entry {
            EntryKey::Referral(_) => &["recordedAt"],
            EntryKey::Shift(_) => &["start", "end"],
        };
        let mut places: Vec<(ObjId, &str)> = fields.iter().map(|f| (obj.clone(), *f)).collect();
        if let EntryKey::Referral(_) = entry {
            if let Some((Value::Object(ObjType::Map), void)) = tx.get(&obj, "void")? {
                places.push((void, "at"));
            }
        }
        for (at, field) in places {
            if let Some((Value::Scalar(v), _)) = tx.get(&at, field)? {
                let t = match v.as_ref() {
                    automerge::ScalarValue::Timestamp(t) | automerge::ScalarValue::Int(t) => Some(*t),
                    automerge::ScalarValue::Uint(u) => i64::try_from(*u).ok(),
                    automerge::ScalarValue::F64(f) if f.is_finite() && f.fract() == 0.0 => Some(*f as i64),
                    _ => None,
                };
                if let Some(t) = t.filter(|t| near(*t)) {
                    tx.put(&at, field, automerge::ScalarValue::Timestamp(t.saturating_add(shift_ms)))?;
                }
            }
        }
    }
    tx.commit();
    Ok(doc)
}

const DAY_MS: i64 = 86_400_000;

/// The document that holds a day now, given the replacements a device learned (old → new):
/// `id`, or what replaced it, and what replaced that. (The bound only stops a cycle no server
/// writes.)
pub fn resolve(replaced: &std::collections::BTreeMap<DocumentId, DocumentId>, id: DocumentId) -> DocumentId {
    let mut current = id;
    for _ in 0..64 {
        match replaced.get(&current) {
            Some(next) => current = *next,
            None => break,
        }
    }
    current
}

/// The entries of a device's copy of `doc` that hold something the relay has not acknowledged:
/// all of them if it acknowledged nothing (a day logged offline), else those the unacknowledged
/// changes touched.
pub fn unacknowledged_entries(peer: &Peer, doc: &DocumentId) -> BTreeSet<EntryKey> {
    let Some(d) = peer.doc(doc) else { return BTreeSet::new() };
    if peer.acknowledged_heads(doc).is_empty() {
        return entry_keys(d).into_iter().collect();
    }
    touched_keys(d, &peer.unacknowledged(doc))
}

/// Carries `entries` of a device's old copy of a day into its replacement (in `tx`, a transaction
/// on the replacement), each whole as the device has it: what it wrote before it learned of the
/// replacement is not lost. A referral the replacement's tombstones say was erased is not carried
/// over, and one whose notes were redacted comes without them. How many entries were carried.
pub fn carry_over<T: Transactable>(
    old: &Automerge,
    entries: &BTreeSet<EntryKey>,
    tx: &mut T,
) -> Result<usize, AutomergeError> {
    let mut carried = 0;
    for entry in entries {
        let skip: &[&str] = match entry {
            EntryKey::Referral(id) if tx.get(ROOT, format!("{ERASED_PREFIX}{id}"))?.is_some() => continue,
            EntryKey::Referral(id) if tx.get(ROOT, format!("{REDACTED_PREFIX}{id}"))?.is_some() => &["notes"],
            _ => &[],
        };
        let key = entry.root_key();
        if old.get(ROOT, &key)?.is_none() {
            continue;
        }
        copy(old, &ROOT, &key, tx, &ROOT, skip)?;
        carried += 1;
    }
    Ok(carried)
}

/// Follows a replacement on a device, once the replacement `new` has arrived from the relay:
/// carries into it the old copy's unacknowledged entries ([`carry_over`]) and drops the old copy
/// (the caller removes it from the device's storage too). How many entries were carried and what
/// to send; `None` while `new` has no content yet.
pub fn follow(peer: &mut Peer, old: DocumentId, new: DocumentId) -> Result<Option<(usize, Output)>, PeerError> {
    if peer.doc(&new).is_none_or(|d| d.get_heads().is_empty()) {
        return Ok(None);
    }
    // What it wrote that the relay never acknowledged, and every entry the replacement lacks
    // (no tombstone names it): a relay restored from a backup may have lost entries it had
    // acknowledged, and rewritten the day without them.
    let mut entries = unacknowledged_entries(peer, &old);
    if let (Some(o), Some(n)) = (peer.doc(&old), peer.doc(&new)) {
        let missing = entry_keys(o).into_iter().filter(|k| n.get(ROOT, k.root_key()).ok().flatten().is_none());
        entries.extend(missing);
    }
    let mut result = (0, Output::default());
    if let (false, Some(old_doc)) = (entries.is_empty(), peer.doc(&old).cloned()) {
        let (carried, out) = peer.change(new, |tx| carry_over(&old_doc, &entries, tx))?;
        result = (carried.map_err(|e| PeerError::Local(e.to_string()))?, out);
    }
    peer.remove(&old);
    Ok(Some(result))
}

/// Copies `key` of `from_obj` in `from` to `to_obj` in `to`, whole (maps, lists and text
/// recursively; the winning value where there is a conflict), leaving out the map keys in
/// `skip` at its first level.
fn copy<T: Transactable>(
    from: &Automerge,
    from_obj: &ObjId,
    key: &str,
    to: &mut T,
    to_obj: &ObjId,
    skip: &[&str],
) -> Result<(), AutomergeError> {
    let Some((value, id)) = from.get(from_obj, key)? else { return Ok(()) };
    match value {
        Value::Scalar(s) => {
            to.put(to_obj, key, s.into_owned())?;
        }
        Value::Object(kind) => {
            let new = to.put_object(to_obj, key, kind)?;
            fill(from, &id, kind, to, &new, skip)?;
        }
    }
    Ok(())
}

fn fill<T: Transactable>(
    from: &Automerge,
    obj: &ObjId,
    kind: ObjType,
    to: &mut T,
    new: &ObjId,
    skip: &[&str],
) -> Result<(), AutomergeError> {
    match kind {
        ObjType::Map | ObjType::Table => {
            for k in from.keys(obj).filter(|k| !skip.contains(&k.as_str())) {
                copy(from, obj, &k, to, new, &[])?;
            }
        }
        ObjType::List => {
            for i in 0..from.length(obj) {
                match from.get(obj, i)? {
                    Some((Value::Scalar(s), _)) => to.insert(new, i, s.into_owned())?,
                    Some((Value::Object(k), id)) => {
                        let child = to.insert_object(new, i, k)?;
                        fill(from, &id, k, to, &child, &[])?;
                    }
                    None => {}
                }
            }
        }
        ObjType::Text => {
            to.splice_text(new, 0, 0, &from.text(obj)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{self, Header};
    use crate::testkit;

    fn write(doc: &mut Automerge, f: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) {
        let mut tx = doc.transaction();
        f(&mut tx);
        tx.commit();
    }

    fn referral(id: &str, notes: &str) -> schema::Referral {
        let mut r = testkit::referral(id);
        r.notes = Some(notes.into());
        r
    }

    fn keys(ids: &[&str]) -> BTreeSet<EntryKey> {
        ids.iter().map(|id| EntryKey::Referral((*id).into())).collect()
    }

    /// The server's day (a, b and c synced) rewritten twice: a erased, b's notes redacted. The
    /// tablet's copy meanwhile gained d offline, a correction to a and new notes on b.
    #[test]
    fn a_tablets_unsynced_entries_carry_over_except_what_was_erased() {
        let mut server = Automerge::new();
        write(&mut server, |tx| schema::write_header(tx, &Header::desk_day("s", "site", testkit::date())).unwrap());
        for (id, notes) in [("a", "NOTE-A"), ("b", "NOTE-B"), ("c", "NOTE-C")] {
            write(&mut server, |tx| schema::write_referral(tx, &referral(id, notes)).unwrap());
        }
        let mut tablet = server.fork();
        write(&mut tablet, |tx| schema::write_referral(tx, &referral("d", "NOTE-D")).unwrap());
        write(&mut tablet, |tx| schema::write_referral(tx, &referral("a", "NOTE-A-AGAIN")).unwrap());
        write(&mut tablet, |tx| schema::write_referral(tx, &referral("b", "NOTE-B-AGAIN")).unwrap());

        let once = rewrite(&server, "a", Erasure::Erase).unwrap();
        let mut new = rewrite(&once, "b", Erasure::RedactNotes).unwrap();
        assert_eq!(new.get_changes(&[]).len(), 1, "one change, no history");
        let plain = new.save_nocompress();
        assert!(!plain.windows(6).any(|w| w == b"NOTE-A") && !plain.windows(6).any(|w| w == b"NOTE-B"));
        assert!(plain.windows(6).any(|w| w == b"NOTE-C"));

        let mut tx = new.transaction();
        let carried = carry_over(&tablet, &keys(&["a", "b", "d", "never"]), &mut tx).unwrap();
        tx.commit();
        assert_eq!(carried, 2, "b and d; a was erased, and there is no `never`");
        assert!(schema::read_referral(&new, "a").unwrap().is_none(), "an erased referral is not resurrected");
        let b = schema::read_referral(&new, "b").unwrap().unwrap();
        assert_eq!(b.notes, None, "redacted notes are not carried back, even edited");
        assert_eq!(b.helped, testkit::referral("b").helped);
        assert_eq!(schema::read_referral(&new, "d").unwrap().unwrap().notes.as_deref(), Some("NOTE-D"));
        assert_eq!(schema::read_referral(&new, "c").unwrap().unwrap().notes.as_deref(), Some("NOTE-C"));
        let plain = new.save_nocompress();
        assert!(!plain.windows(6).any(|w| w == b"NOTE-A") && !plain.windows(6).any(|w| w == b"NOTE-B"));
        assert_eq!(schema::read_header(&new).unwrap(), schema::read_header(&server).unwrap());
    }

    /// A day a tablet dated 1 January 2000 (its clock reset), filed under the day it synced: its
    /// entries keep their time of day on the new date, and the day says what it claimed.
    #[test]
    fn a_day_filed_under_another_date_moves_its_times_with_it() {
        let from = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
        let to = testkit::date();
        let at = |d: chrono::NaiveDate, h: u32| d.and_hms_opt(h, 30, 0).unwrap().and_utc().timestamp_millis();
        let mut day = Automerge::new();
        write(&mut day, |tx| schema::write_header(tx, &Header::desk_day("s", "site", from)).unwrap());
        let mut r = referral("a", "keep");
        r.recorded_at_ms = at(from, 10);
        write(&mut day, |tx| schema::write_referral(tx, &r).unwrap());
        let s = schema::Shift { id: "s1".into(), volunteer: "v".into(), start_ms: at(from, 9), end_ms: Some(at(from, 12)) };
        write(&mut day, |tx| schema::write_shift(tx, &s).unwrap());
        let filed = refile(&day, to).unwrap();
        assert_eq!(filed.get_changes(&[]).len(), 1, "one change, no history");
        let h = schema::read_header(&filed).unwrap();
        assert_eq!((h.date, h.site.as_deref()), (Some(to), Some("site")));
        let r = schema::read_referral(&filed, "a").unwrap().unwrap();
        assert_eq!((r.recorded_at_ms, r.notes.as_deref()), (at(to, 10), Some("keep")));
        let s = schema::read_shift(&filed, "s1").unwrap().unwrap();
        assert_eq!((s.start_ms, s.end_ms), (at(to, 9), Some(at(to, 12))));
        assert_eq!(filed.get(ROOT, FILED_FROM).unwrap().map(|(v, _)| v.to_string()), Some("\"2000-01-01\"".into()));
    }

    /// A tablet's copy that the relay never acknowledged carries every entry (the case of one
    /// it did is driven through a relay in the whole-path tests).
    #[test]
    fn what_a_tablet_carries_is_what_the_relay_did_not_acknowledge() {
        use crate::peer::Peer;
        let id = DocumentId::random([7; 16]);
        let mut day = Automerge::new();
        write(&mut day, |tx| schema::write_header(tx, &Header::desk_day("s", "site", testkit::date())).unwrap());
        write(&mut day, |tx| schema::write_referral(tx, &referral("a", "x")).unwrap());
        let mut peer = Peer::new("tablet".into());
        let _ = peer.insert(id, day, None);
        assert_eq!(unacknowledged_entries(&peer, &id), keys(&["a"]));
        assert!(unacknowledged_entries(&peer, &DocumentId::random([8; 16])).is_empty());
    }
}
