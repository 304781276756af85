//! Turns desk-day documents into statistics facts: one row per referral and per shift, keyed by
//! their ids, so that writing the same facts twice is a no-op (idempotent upserts) and an edit
//! replaces the row. Free-text notes never become facts.
//!
//! Every value that becomes a fact is bounded here, before it is stored: a document comes from
//! a tablet that may be faulty or hostile, and one wild time (a shift from −6·10¹⁸ to 6·10¹⁸ ms)
//! would otherwise overflow the figures of every period it falls in. An entry whose times do not
//! fit its day is projected as [`Fact::Invalid`], with a reason a coordinator can read, and is
//! counted nowhere.

use crate::schema::{self, AgencyRef, DocKind, EntryKey, Header, SchemaError};
use crate::vocab::{AgeBand, Category, HelpKind, Helped};
use automerge::{Automerge, Prop, ReadDoc};
use chrono::NaiveDate;
use std::collections::{BTreeSet, HashSet};

/// The longest shift that counts towards volunteer hours; longer ones are capped (a shift left
/// open overnight must not add a day of volunteering).
pub const MAX_SHIFT_MINUTES: i64 = 16 * 60;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// How far an entry's own times (a referral's `recordedAt`, a shift's `start` and `end`) may lie
/// from its day, in days either side: the day is the tablet's local date while times are UTC, and
/// a shift may run past midnight. Further than that, the time or the day is wrong, and a figure
/// built on it (hours, time to close a follow-up) would be too.
pub const ENTRY_DAYS_AROUND: i64 = 1;

/// How long after its day a referral's follow-up may be closed: tablets keep open follow-ups of
/// any age, so closings come later, but not years later. (A void's time is not bounded: it never
/// becomes a fact, and a voided referral counts nowhere whatever its time.)
pub const LATER_DAYS_AFTER: i64 = 731;

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
    /// [`MAX_SHIFT_MINUTES`]. Never overflows, whatever the times (facts made elsewhere than
    /// [`project`] are not bounded).
    pub fn minutes(&self) -> i64 {
        match self.end_ms {
            Some(end) => (end.saturating_sub(self.start_ms) / 60_000).clamp(0, MAX_SHIFT_MINUTES),
            None => 0,
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
    let out_of_bounds = |key: EntryKey, reason: String| Fact::Invalid { key, reason };
    match &key {
        EntryKey::Referral(id) => match schema::read_referral(doc, id) {
            Ok(Some(r)) => match referral_in_bounds(&r, date) {
                Ok(()) => referral_fact(r, date),
                Err(reason) => out_of_bounds(key, reason),
            },
            Ok(None) => Fact::Removed(key),
            Err(e) => invalid(key, e),
        },
        EntryKey::Shift(id) => match schema::read_shift(doc, id) {
            Ok(Some(s)) => match shift_in_bounds(&s, date) {
                Ok(()) => Fact::Shift(ShiftFact {
                    id: s.id,
                    date,
                    volunteer: s.volunteer,
                    start_ms: s.start_ms,
                    end_ms: s.end_ms,
                }),
                Err(reason) => out_of_bounds(key, reason),
            },
            Ok(None) => Fact::Removed(key),
            Err(e) => invalid(key, e),
        },
    }
}

fn referral_fact(r: schema::Referral, date: NaiveDate) -> Fact {
    Fact::Referral(ReferralFact {
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
        // A closing time out of its bounds (a tablet whose clock was wrong when it closed the
        // follow-up) is brought within them: the closing still counts, and so does the referral.
        follow_up_closed: r.follow_up_closed.map(|c| {
            let (first, last) = window(date, ENTRY_DAYS_AROUND, LATER_DAYS_AFTER);
            (c.outcome, c.at_ms.clamp(first, last))
        }),
        voided: r.void.is_some(),
    })
}

/// The first and last moment (ms since the epoch, inclusive) a time of an entry of `date` may
/// be: from `before` days before the day starts to `after` days after it ends.
fn window(date: NaiveDate, before: i64, after: i64) -> (i64, i64) {
    let start = date.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_millis();
    (start - before * DAY_MS, start + (1 + after) * DAY_MS - 1)
}

/// `Ok` if the time is within `(first, last)`; else why not, in words for the coordinator.
fn check_time(field: &str, ms: i64, (first, last): (i64, i64), date: NaiveDate, rule: &str) -> Result<(), String> {
    if (first..=last).contains(&ms) {
        return Ok(());
    }
    Err(format!("`{field}` ({}) is not {rule} the day's date, {}", time_words(ms), schema::ymd(date)))
}

/// A time as a person reads it, to the minute in UTC; the raw number where it is not a date.
/// (Written by hand: chrono's formatting engine would add to the tablet's download.)
fn time_words(ms: i64) -> String {
    use chrono::Timelike;
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => format!("{} {:02}:{:02} UTC", schema::ymd(t.date_naive()), t.hour(), t.minute()),
        None => format!("{ms} ms"),
    }
}

/// Whether an entry's own time (a referral's `recordedAt`, a shift's `start` or `end`) fits its
/// day; the facts of an entry whose times do not are never stored.
pub fn fits_day(date: NaiveDate, ms: i64) -> bool {
    let (first, last) = window(date, ENTRY_DAYS_AROUND, ENTRY_DAYS_AROUND);
    (first..=last).contains(&ms)
}

/// Whether a later time of an entry (a follow-up's closing) fits its day.
pub fn fits_later(date: NaiveDate, ms: i64) -> bool {
    let (first, last) = window(date, ENTRY_DAYS_AROUND, LATER_DAYS_AFTER);
    (first..=last).contains(&ms)
}

const AROUND: &str = "within a day of";

/// A referral's time: logged within a day of its day. (Its follow-up's closing time is brought
/// within the day before to two years after, in [`referral_fact`], rather than refused: a wrong
/// clock at closing must not take the referral out of the figures.)
fn referral_in_bounds(r: &schema::Referral, date: NaiveDate) -> Result<(), String> {
    let around = window(date, ENTRY_DAYS_AROUND, ENTRY_DAYS_AROUND);
    check_time("recordedAt", r.recorded_at_ms, around, date, AROUND)
}

/// A shift's start and end: within a day of its day.
fn shift_in_bounds(s: &schema::Shift, date: NaiveDate) -> Result<(), String> {
    let around = window(date, ENTRY_DAYS_AROUND, ENTRY_DAYS_AROUND);
    check_time("start", s.start_ms, around, date, AROUND)?;
    if let Some(end) = s.end_ms {
        check_time("end", end, around, date, AROUND)?;
    }
    Ok(())
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

    /// 2026-01-02 at noon, UTC.
    const NOON: i64 = 1_767_355_200_000;

    fn referral(id: &str) -> Referral {
        Referral {
            id: id.into(),
            recorded_at_ms: NOON,
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
        // Whatever the times, no overflow and nothing negative.
        assert_eq!(s(-6_000_000_000_000_000_000, Some(6_000_000_000_000_000_000)).minutes(), MAX_SHIFT_MINUTES);
        assert_eq!(s(i64::MIN, Some(i64::MAX)).minutes(), MAX_SHIFT_MINUTES);
        assert_eq!(s(i64::MAX, Some(i64::MIN)).minutes(), 0);
    }

    /// Projects one referral or shift written as given into a day of 2026-01-02.
    fn projected(write: impl FnOnce(&mut AutoCommit)) -> Fact {
        let mut doc = AutoCommit::new();
        write_header(&mut doc, &header()).unwrap();
        write(&mut doc);
        let mut p = project_all(&doc, &header()).unwrap();
        assert_eq!(p.facts.len(), 1);
        p.facts.remove(0)
    }

    fn shift(start_ms: i64, end_ms: Option<i64>) -> Fact {
        projected(|d| write_shift(d, &Shift { id: "s".into(), volunteer: "v".into(), start_ms, end_ms }).unwrap())
    }

    fn referral_with(f: impl FnOnce(&mut Referral)) -> Fact {
        let mut r = referral("a");
        f(&mut r);
        projected(|d| write_referral(d, &r).unwrap())
    }

    fn reason(f: &Fact) -> &str {
        match f {
            Fact::Invalid { reason, .. } => reason,
            other => panic!("counted: {other:?}"),
        }
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn times_far_from_the_day_make_the_entry_invalid_with_a_reason() {
        use crate::vocab::FollowUpOutcome;
        // Within a day either side of the day (the day is local, times UTC): counted.
        let start_of_day = NOON - DAY / 2;
        for t in [start_of_day - DAY, NOON, start_of_day + 2 * DAY - 1] {
            assert!(matches!(referral_with(|r| r.recorded_at_ms = t), Fact::Referral(_)), "{t}");
            assert!(matches!(shift(t, Some(t)), Fact::Shift(_)), "{t}");
        }
        // Outside: not counted, and the coordinator reads why.
        let far = referral_with(|r| r.recorded_at_ms = NOON - 366 * DAY);
        assert_eq!(
            reason(&far),
            "`recordedAt` (2025-01-01 12:00 UTC) is not within a day of the day's date, 2026-01-02"
        );
        assert!(reason(&referral_with(|r| r.recorded_at_ms = start_of_day + 2 * DAY))
            .starts_with("`recordedAt` (2026-01-04 00:00 UTC)"));
        assert!(reason(&referral_with(|r| r.recorded_at_ms = i64::MIN)).contains("-9223372036854775808 ms"));
        let wild = shift(-6_000_000_000_000_000_000, Some(6_000_000_000_000_000_000));
        assert!(reason(&wild).starts_with("`start` ("), "{wild:?}");
        assert!(reason(&shift(NOON, Some(NOON + 3 * DAY))).starts_with("`end` ("));
        assert!(matches!(shift(NOON, None), Fact::Shift(_)), "an open shift");
        // A follow-up closed later: up to two years after, not before the day before; a closing
        // time outside that (a wrong clock) is brought within it, and the referral still counts.
        let closed = |at_ms| {
            projected(|d| {
                write_referral(d, &Referral { follow_up: true, ..referral("a") }).unwrap();
                let c = schema::FollowUpClosed { outcome: FollowUpOutcome::Resolved, at_ms, by: None };
                schema::close_follow_up(d, "a", &c).unwrap();
            })
        };
        let closed_at = |f: Fact| match f {
            Fact::Referral(r) => r.follow_up_closed.map(|(_, at)| at),
            other => panic!("{other:?}"),
        };
        let (first, last) = window(header().date.unwrap(), ENTRY_DAYS_AROUND, LATER_DAYS_AFTER);
        assert_eq!(closed_at(closed(NOON + 700 * DAY)), Some(NOON + 700 * DAY));
        assert_eq!(closed_at(closed(NOON + 800 * DAY)), Some(last));
        assert_eq!(closed_at(closed(NOON - 2 * DAY)), Some(first));
        assert_eq!(closed_at(closed(i64::MAX)), Some(last));
        assert_eq!(closed_at(closed(i64::MIN)), Some(first));
        let voided = |at_ms| {
            projected(|d| {
                write_referral(d, &referral("a")).unwrap();
                schema::void_referral(d, "a", "duplicate", at_ms).unwrap();
            })
        };
        // A void's time never becomes a fact: a voided referral is kept, counted nowhere,
        // whatever it says.
        for at in [NOON + 7 * DAY, 0, i64::MIN] {
            assert!(matches!(voided(at), Fact::Referral(r) if r.voided), "{at}");
        }
    }
}
