//! The Signpost document model: what lives in each Automerge document, how to read it
//! leniently (documents also come from third-party automerge-repo clients) and how Signpost's
//! own clients write it. `docs/schema.md` is the prose version of this file.
//!
//! Granularity: one **desk-day** document per site per day holds that day's referrals and
//! shifts (chosen by benchmark; see ARCHITECTURE.md). Entries sit at the document root under
//! `referral:<id>` and `shift:<id>` keys rather than inside a shared `referrals` map, because two
//! tablets that create the same day's document offline would each create their own `referrals`
//! map and one would hide the other. Root keys written by one author never conflict.
//!
//! Strings are plain scalar strings (no text CRDT: these fields are replaced, not co-edited).
//! Readers accept text objects too, since JavaScript automerge writes strings as text by default.

use crate::ids::DocumentId;
use crate::vocab::{AgeBand, Category, FollowUpOutcome, HelpKind, Helped};
use automerge::{transaction::Transactable, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT};
use chrono::NaiveDate;
use std::collections::BTreeSet;

pub const SCHEMA_VERSION: i64 = 1;
pub const REFERRAL_PREFIX: &str = "referral:";
pub const SHIFT_PREFIX: &str = "shift:";
pub const AGENCY_PREFIX: &str = "agency:";
pub const VOLUNTEER_PREFIX: &str = "volunteer:";
pub const MAX_NOTES_CHARS: usize = 500;
pub const MAX_TEXT_CHARS: usize = 200;
pub const MAX_ID_CHARS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocKind {
    /// One site's referrals and shifts for one day. Written by that site's tablets.
    DeskDay,
    /// A scheme's agency directory. Written by coordinators, read by the scheme's tablets.
    Directory,
}

impl DocKind {
    pub fn type_tag(self) -> &'static str {
        match self {
            DocKind::DeskDay => "signpost/desk-day",
            DocKind::Directory => "signpost/directory",
        }
    }

    pub fn from_type_tag(tag: &str) -> Option<Self> {
        match tag {
            "signpost/desk-day" => Some(DocKind::DeskDay),
            "signpost/directory" => Some(DocKind::Directory),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::DeskDay => "desk-day",
            DocKind::Directory => "directory",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "desk-day" => Some(DocKind::DeskDay),
            "directory" => Some(DocKind::Directory),
            _ => None,
        }
    }
}

/// The identity fields every Signpost document carries at its root. Once a document exists its
/// header never changes: the relay refuses any change that would alter it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub kind: DocKind,
    pub scheme: String,
    /// Set for desk-day documents.
    pub site: Option<String>,
    /// Set for desk-day documents.
    pub date: Option<NaiveDate>,
}

impl Header {
    pub fn desk_day(scheme: &str, site: &str, date: NaiveDate) -> Self {
        Header { kind: DocKind::DeskDay, scheme: scheme.into(), site: Some(site.into()), date: Some(date) }
    }

    pub fn directory(scheme: &str) -> Self {
        Header { kind: DocKind::Directory, scheme: scheme.into(), site: None, date: None }
    }

    /// The id under which this document is found by every device of the site or scheme.
    pub fn well_known_id(&self) -> DocumentId {
        match self.kind {
            DocKind::DeskDay => desk_day_id(self.site.as_deref().unwrap_or_default(), self.date.unwrap_or_default()),
            DocKind::Directory => directory_id(&self.scheme),
        }
    }
}

pub fn desk_day_id(site: &str, date: NaiveDate) -> DocumentId {
    DocumentId::derived("desk-day", &[site, &ymd(date)])
}

/// A day as documents write it: `YYYY-MM-DD`. (Written by hand rather than with chrono's
/// strftime formatting, which would add its whole formatting engine to the tablet's download.)
pub fn ymd(date: NaiveDate) -> String {
    use chrono::Datelike;
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// Parses `YYYY-MM-DD` exactly (four-digit year, two-digit month and day).
pub fn parse_ymd(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)
}

pub fn directory_id(scheme: &str) -> DocumentId {
    DocumentId::derived("directory", &[scheme])
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("field `{0}` is missing")]
    Missing(&'static str),
    #[error("field `{0}` has the wrong type")]
    WrongType(&'static str),
    #[error("field `{0}` has conflicting concurrent values")]
    Conflict(&'static str),
    #[error("field `{field}` has an unknown value `{value}`")]
    Unknown { field: &'static str, value: String },
    #[error("field `{0}` is too long")]
    TooLong(&'static str),
    #[error("the entry's id must not be empty, `.` or `..`, nor hold control characters")]
    BadId,
    #[error("document type `{0}` is not a Signpost document")]
    UnknownType(String),
    #[error("schema version {0} is not supported")]
    Version(i64),
}

// ---------------------------------------------------------------------------------------------
// Reading helpers: lenient about representation, strict about meaning.

fn scalar_str<R: ReadDoc>(doc: &R, v: &Value<'_>, id: &ObjId) -> Option<String> {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        },
        Value::Object(ObjType::Text) => doc.text(id).ok(),
        _ => None,
    }
}

/// A string field; `Ok(None)` when absent. Concurrent distinct values are a conflict.
pub fn get_str<R: ReadDoc>(doc: &R, obj: &ObjId, key: &'static str) -> Result<Option<String>, SchemaError> {
    let all = doc.get_all(obj, key).map_err(|_| SchemaError::WrongType(key))?;
    let mut out: Option<String> = None;
    for (v, id) in all {
        if matches!(v, Value::Scalar(ref s) if matches!(s.as_ref(), ScalarValue::Null)) {
            continue;
        }
        let s = scalar_str(doc, &v, &id).ok_or(SchemaError::WrongType(key))?;
        match &out {
            Some(prev) if *prev != s => return Err(SchemaError::Conflict(key)),
            _ => out = Some(s),
        }
    }
    Ok(out)
}

/// Like [`get_str`], but picks automerge's winning value when edits conflicted. Used for fields
/// that people correct, where last-writer-wins is the expected outcome.
pub fn get_str_winner<R: ReadDoc>(doc: &R, obj: &ObjId, key: &'static str) -> Result<Option<String>, SchemaError> {
    match doc.get(obj, key).map_err(|_| SchemaError::WrongType(key))? {
        None => Ok(None),
        Some((Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Null) => Ok(None),
        Some((v, id)) => scalar_str(doc, &v, &id).map(Some).ok_or(SchemaError::WrongType(key)),
    }
}

/// A point in time in milliseconds since the epoch: an automerge timestamp (JavaScript `Date`),
/// an integer, or an integral float.
pub fn get_time_ms<R: ReadDoc>(doc: &R, obj: &ObjId, key: &'static str) -> Result<Option<i64>, SchemaError> {
    match doc.get(obj, key).map_err(|_| SchemaError::WrongType(key))? {
        None => Ok(None),
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Timestamp(t) | ScalarValue::Int(t) => Ok(Some(*t)),
            ScalarValue::Uint(u) => i64::try_from(*u).map(Some).map_err(|_| SchemaError::WrongType(key)),
            ScalarValue::F64(f) if f.is_finite() && f.fract() == 0.0 => Ok(Some(*f as i64)),
            ScalarValue::Null => Ok(None),
            _ => Err(SchemaError::WrongType(key)),
        },
        _ => Err(SchemaError::WrongType(key)),
    }
}

fn get_map<R: ReadDoc>(doc: &R, obj: &ObjId, key: &'static str) -> Result<Option<ObjId>, SchemaError> {
    match doc.get(obj, key).map_err(|_| SchemaError::WrongType(key))? {
        None => Ok(None),
        Some((Value::Object(ObjType::Map), id)) => Ok(Some(id)),
        Some((Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Null) => Ok(None),
        Some(_) => Err(SchemaError::WrongType(key)),
    }
}

fn check_len(s: &str, max: usize, field: &'static str) -> Result<(), SchemaError> {
    if s.chars().count() > max {
        Err(SchemaError::TooLong(field))
    } else {
        Ok(())
    }
}

/// An entry's id: at most [`MAX_ID_CHARS`], and usable as one segment of a web address (the
/// coordinator's pages link to each referral by its id; `.` and `..` would be read as "this
/// folder" and "the one above" whatever their escaping).
fn check_id(id: &str) -> Result<(), SchemaError> {
    check_len(id, MAX_ID_CHARS, "id")?;
    if !addressable_id(id) {
        return Err(SchemaError::BadId);
    }
    Ok(())
}

/// Whether an entry's id can be carried by one segment of a web address (see [`check_id`]).
pub fn addressable_id(id: &str) -> bool {
    !(id.is_empty() || id == "." || id == ".." || id.chars().any(char::is_control))
}

fn vocab<T>(value: String, field: &'static str, parse: fn(&str) -> Option<T>) -> Result<T, SchemaError> {
    parse(&value).ok_or(SchemaError::Unknown { field, value: value.chars().take(40).collect() })
}

/// Reads and checks a document's header. Header fields must not carry conflicting values.
pub fn read_header<R: ReadDoc>(doc: &R) -> Result<Header, SchemaError> {
    let tag = get_str(doc, &ROOT, "type")?.ok_or(SchemaError::Missing("type"))?;
    let kind = DocKind::from_type_tag(&tag).ok_or_else(|| SchemaError::UnknownType(tag.chars().take(40).collect()))?;
    let version = match doc.get(ROOT, "schema").map_err(|_| SchemaError::WrongType("schema"))? {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Int(i) => *i,
            ScalarValue::Uint(u) => *u as i64,
            ScalarValue::F64(f) => *f as i64,
            _ => return Err(SchemaError::WrongType("schema")),
        },
        None => return Err(SchemaError::Missing("schema")),
        Some(_) => return Err(SchemaError::WrongType("schema")),
    };
    if version != SCHEMA_VERSION {
        return Err(SchemaError::Version(version));
    }
    let scheme = get_str(doc, &ROOT, "scheme")?.ok_or(SchemaError::Missing("scheme"))?;
    check_len(&scheme, MAX_ID_CHARS, "scheme")?;
    let (site, date) = match kind {
        DocKind::DeskDay => {
            let site = get_str(doc, &ROOT, "site")?.ok_or(SchemaError::Missing("site"))?;
            check_len(&site, MAX_ID_CHARS, "site")?;
            let date = get_str(doc, &ROOT, "date")?.ok_or(SchemaError::Missing("date"))?;
            let date = parse_ymd(&date)
                .ok_or_else(|| SchemaError::Unknown { field: "date", value: date.chars().take(20).collect() })?;
            (Some(site), Some(date))
        }
        DocKind::Directory => (None, None),
    };
    Ok(Header { kind, scheme, site, date })
}

/// Writes a header. Writing the same header twice (two tablets opening the same day) is harmless:
/// concurrent puts of equal values resolve to that value.
pub fn write_header<T: Transactable>(tx: &mut T, h: &Header) -> Result<(), automerge::AutomergeError> {
    tx.put(ROOT, "type", h.kind.type_tag())?;
    tx.put(ROOT, "schema", SCHEMA_VERSION)?;
    tx.put(ROOT, "scheme", h.scheme.as_str())?;
    if let Some(site) = &h.site {
        tx.put(ROOT, "site", site.as_str())?;
    }
    if let Some(date) = h.date {
        tx.put(ROOT, "date", ymd(date))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Referrals and shifts.

/// Where the person was signposted to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum AgencyRef {
    /// An entry of the scheme's agency directory, by id.
    Directory(String),
    /// "Other": free text typed by the volunteer.
    Other(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Void {
    pub reason: String,
    pub at_ms: i64,
}

/// How and when a follow-up was closed, and by which volunteer (on the desk then).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowUpClosed {
    pub outcome: FollowUpOutcome,
    pub at_ms: i64,
    pub by: Option<String>,
}

/// A referral as stored. `notes` never leaves the document for statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Referral {
    pub id: String,
    pub recorded_at_ms: i64,
    pub volunteer: Option<String>,
    pub helped: Helped,
    pub age_band: Option<AgeBand>,
    pub categories: BTreeSet<Category>,
    pub agency: AgencyRef,
    pub help: HelpKind,
    pub follow_up: bool,
    /// Set once someone closes the follow-up, under its own key: a correction of the referral's
    /// fields never touches it, and two tablets closing it at once leave one whole closing (the
    /// same on both) rather than a mix of the two.
    pub follow_up_closed: Option<FollowUpClosed>,
    pub notes: Option<String>,
    pub void: Option<Void>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shift {
    pub id: String,
    pub volunteer: String,
    pub start_ms: i64,
    pub end_ms: Option<i64>,
}

/// A document root key and what it names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKey {
    Referral(String),
    Shift(String),
}

impl EntryKey {
    pub fn parse(key: &str) -> Option<Self> {
        if let Some(id) = key.strip_prefix(REFERRAL_PREFIX) {
            Some(EntryKey::Referral(id.to_owned()))
        } else {
            key.strip_prefix(SHIFT_PREFIX).map(|id| EntryKey::Shift(id.to_owned()))
        }
    }

    pub fn root_key(&self) -> String {
        match self {
            EntryKey::Referral(id) => format!("{REFERRAL_PREFIX}{id}"),
            EntryKey::Shift(id) => format!("{SHIFT_PREFIX}{id}"),
        }
    }
}

/// One field of an entry, as read in a single pass over the entry's map.
enum Field {
    Str(String),
    Int(i64),
    Bool(bool),
    Map(ObjId),
    Other,
}

/// Reads every field of a map in one pass (far cheaper than one lookup per field). Where edits
/// conflicted, automerge's winning value is taken: these are fields people correct.
struct Fields(Vec<(String, Field)>);

impl Fields {
    fn read<R: ReadDoc>(doc: &R, obj: &ObjId) -> Fields {
        use automerge::{ScalarValueRef as S, ValueRef as V};
        let mut out = Vec::new();
        for item in doc.map_range(obj, ..) {
            let f = match &item.value {
                V::Scalar(S::Null) => continue,
                V::Scalar(S::Str(s)) => Field::Str(s.to_string()),
                V::Scalar(S::Timestamp(t) | S::Int(t)) => Field::Int(*t),
                V::Scalar(S::Uint(u)) => i64::try_from(*u).map(Field::Int).unwrap_or(Field::Other),
                V::Scalar(S::F64(f)) if f.is_finite() && f.fract() == 0.0 => Field::Int(*f as i64),
                V::Scalar(S::Boolean(b)) => Field::Bool(*b),
                V::Object(ObjType::Text) => doc.text(item.id()).map(Field::Str).unwrap_or(Field::Other),
                V::Object(ObjType::Map) => Field::Map(item.id()),
                _ => Field::Other,
            };
            out.push((item.key.to_string(), f));
        }
        Fields(out)
    }

    fn get(&self, key: &str) -> Option<&Field> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, f)| f)
    }

    fn str(&self, key: &'static str) -> Result<Option<String>, SchemaError> {
        match self.get(key) {
            None => Ok(None),
            Some(Field::Str(s)) => Ok(Some(s.clone())),
            Some(_) => Err(SchemaError::WrongType(key)),
        }
    }

    fn need_str(&self, key: &'static str) -> Result<String, SchemaError> {
        self.str(key)?.ok_or(SchemaError::Missing(key))
    }

    fn time(&self, key: &'static str) -> Result<Option<i64>, SchemaError> {
        match self.get(key) {
            None => Ok(None),
            Some(Field::Int(t)) => Ok(Some(*t)),
            Some(_) => Err(SchemaError::WrongType(key)),
        }
    }

    fn bool(&self, key: &'static str) -> Result<Option<bool>, SchemaError> {
        match self.get(key) {
            None => Ok(None),
            Some(Field::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(SchemaError::WrongType(key)),
        }
    }

    fn map(&self, key: &'static str) -> Result<Option<&ObjId>, SchemaError> {
        match self.get(key) {
            None => Ok(None),
            Some(Field::Map(m)) => Ok(Some(m)),
            Some(_) => Err(SchemaError::WrongType(key)),
        }
    }
}

fn entry_obj<R: ReadDoc>(doc: &R, key: &str, what: &'static str) -> Result<Option<ObjId>, SchemaError> {
    match doc.get(ROOT, key).map_err(|_| SchemaError::WrongType(what))? {
        None => Ok(None),
        Some((Value::Object(ObjType::Map), obj)) => Ok(Some(obj)),
        Some(_) => Err(SchemaError::WrongType(what)),
    }
}

pub fn read_referral<R: ReadDoc>(doc: &R, id: &str) -> Result<Option<Referral>, SchemaError> {
    let Some(obj) = entry_obj(doc, &format!("{REFERRAL_PREFIX}{id}"), "referral")? else { return Ok(None) };
    check_id(id)?;
    let f = Fields::read(doc, &obj);
    let recorded_at_ms = f.time("recordedAt")?.ok_or(SchemaError::Missing("recordedAt"))?;
    let volunteer = f.str("volunteer")?;
    if let Some(v) = &volunteer {
        check_len(v, MAX_ID_CHARS, "volunteer")?;
    }
    let helped = vocab(f.need_str("helped")?, "helped", Helped::from_code)?;
    let age_band = match f.str("ageBand")? {
        Some(s) => Some(vocab(s, "ageBand", AgeBand::from_code)?),
        None => None,
    };
    let cats = f.map("categories")?.ok_or(SchemaError::Missing("categories"))?;
    let (mut categories, mut removed) = (BTreeSet::new(), BTreeSet::new());
    for (key, value) in Fields::read(doc, cats).0 {
        match value {
            Field::Bool(true) => categories.insert(vocab(key, "categories", Category::from_code)?),
            Field::Bool(false) => removed.insert(vocab(key, "categories", Category::from_code)?),
            _ => false,
        };
    }
    // Two tablets correcting one referral at once can each take away a different category and
    // between them leave none: then it keeps the ones they took away, rather than fall out of
    // the figures.
    if categories.is_empty() {
        categories = removed;
    }
    if categories.is_empty() {
        return Err(SchemaError::Missing("categories"));
    }
    let agency = match (f.str("agency")?, f.str("agencyOther")?) {
        (Some(a), _) if !a.is_empty() => {
            check_len(&a, MAX_ID_CHARS, "agency")?;
            AgencyRef::Directory(a)
        }
        (_, Some(o)) if !o.trim().is_empty() => {
            check_len(&o, MAX_TEXT_CHARS, "agencyOther")?;
            AgencyRef::Other(o.trim().to_owned())
        }
        _ => return Err(SchemaError::Missing("agency")),
    };
    let help = vocab(f.need_str("help")?, "help", HelpKind::from_code)?;
    let follow_up = f.bool("followUp")?.unwrap_or(false);
    let notes = f.str("notes")?.filter(|n| !n.is_empty());
    if let Some(n) = &notes {
        check_len(n, MAX_NOTES_CHARS, "notes")?;
    }
    let void = match f.map("void")? {
        Some(v) => {
            let v = Fields::read(doc, v);
            Some(Void { reason: v.str("reason")?.unwrap_or_default(), at_ms: v.time("at")?.unwrap_or(0) })
        }
        None => None,
    };
    let follow_up_closed = match f.map("followUpClosed")? {
        Some(c) => {
            let c = Fields::read(doc, c);
            let by = c.str("by")?;
            if let Some(b) = &by {
                check_len(b, MAX_ID_CHARS, "followUpClosed.by")?;
            }
            Some(FollowUpClosed {
                outcome: vocab(c.need_str("outcome")?, "followUpClosed.outcome", FollowUpOutcome::from_code)?,
                at_ms: c.time("at")?.ok_or(SchemaError::Missing("followUpClosed.at"))?,
                by,
            })
        }
        None => None,
    };
    Ok(Some(Referral {
        id: id.to_owned(),
        recorded_at_ms,
        volunteer,
        helped,
        age_band,
        categories,
        agency,
        help,
        follow_up,
        follow_up_closed,
        notes,
        void,
    }))
}

/// Whether a document holds a referral whose follow-up is still open (needed, not closed, not
/// voided): the tablets of its desk keep it, whatever its age, until someone closes it.
pub fn has_open_follow_up<R: ReadDoc>(doc: &R) -> bool {
    entry_keys(doc).into_iter().any(|k| match k {
        EntryKey::Referral(id) => read_referral(doc, &id)
            .ok()
            .flatten()
            .is_some_and(|r| r.follow_up && r.follow_up_closed.is_none() && r.void.is_none()),
        EntryKey::Shift(_) => false,
    })
}

/// Closes a referral's follow-up: one whole closing, written in one object (see
/// [`Referral::follow_up_closed`]). Nothing happens to a referral the document does not hold.
pub fn close_follow_up<T: Transactable>(
    tx: &mut T,
    id: &str,
    c: &FollowUpClosed,
) -> Result<(), automerge::AutomergeError> {
    let Some((Value::Object(ObjType::Map), obj)) = tx.get(ROOT, format!("{REFERRAL_PREFIX}{id}").as_str())? else {
        return Ok(());
    };
    let closed = tx.put_object(&obj, "followUpClosed", ObjType::Map)?;
    tx.put(&closed, "outcome", c.outcome.code())?;
    tx.put(&closed, "at", ScalarValue::Timestamp(c.at_ms))?;
    if let Some(by) = &c.by {
        tx.put(&closed, "by", by.as_str())?;
    }
    Ok(())
}

pub fn read_shift<R: ReadDoc>(doc: &R, id: &str) -> Result<Option<Shift>, SchemaError> {
    let Some(obj) = entry_obj(doc, &format!("{SHIFT_PREFIX}{id}"), "shift")? else { return Ok(None) };
    check_id(id)?;
    let f = Fields::read(doc, &obj);
    let volunteer = f.need_str("volunteer")?;
    check_len(&volunteer, MAX_ID_CHARS, "volunteer")?;
    let start_ms = f.time("start")?.ok_or(SchemaError::Missing("start"))?;
    let end_ms = f.time("end")?;
    Ok(Some(Shift { id: id.to_owned(), volunteer, start_ms, end_ms }))
}

/// Every entry key at the document root, in key order.
pub fn entry_keys<R: ReadDoc>(doc: &R) -> Vec<EntryKey> {
    doc.keys(ROOT).filter_map(|k| EntryKey::parse(&k)).collect()
}

/// Writes a complete referral in the caller's transaction: one change, never half a referral.
pub fn write_referral<T: Transactable>(tx: &mut T, r: &Referral) -> Result<(), automerge::AutomergeError> {
    let obj = tx.put_object(ROOT, format!("{REFERRAL_PREFIX}{}", r.id), ObjType::Map)?;
    tx.put(&obj, "recordedAt", ScalarValue::Timestamp(r.recorded_at_ms))?;
    if let Some(v) = &r.volunteer {
        tx.put(&obj, "volunteer", v.as_str())?;
    }
    write_referral_fields(tx, &obj, r)?;
    Ok(())
}

/// Corrects a referral's fields in place. Only fields whose value changed are written, so two
/// tablets correcting different fields of one entry merge cleanly.
pub fn correct_referral<T: Transactable>(tx: &mut T, r: &Referral) -> Result<(), automerge::AutomergeError> {
    let key = format!("{REFERRAL_PREFIX}{}", r.id);
    let Some((Value::Object(ObjType::Map), obj)) = tx.get(ROOT, key.as_str())? else {
        return write_referral(tx, r);
    };
    write_referral_fields(tx, &obj, r)
}

fn put_if_changed<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &'static str,
    value: Option<ScalarValue>,
) -> Result<(), automerge::AutomergeError> {
    let current = match tx.get(obj, key)? {
        Some((Value::Scalar(s), _)) => Some(s.into_owned()),
        Some(_) => None,
        None => None,
    };
    match value {
        Some(v) if current.as_ref() != Some(&v) => tx.put(obj, key, v),
        None if current.is_some() => tx.delete(obj, key),
        _ => Ok(()),
    }
}

fn write_referral_fields<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    r: &Referral,
) -> Result<(), automerge::AutomergeError> {
    let s = |v: &str| Some(ScalarValue::Str(v.into()));
    put_if_changed(tx, obj, "helped", s(r.helped.code()))?;
    put_if_changed(tx, obj, "ageBand", r.age_band.and_then(|a| s(a.code())))?;
    let cats = match tx.get(obj, "categories")? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(obj, "categories", ObjType::Map)?,
    };
    let existing: Vec<String> = tx.keys(&cats).collect();
    // A category taken away is marked `false`, not deleted, so that concurrent corrections that
    // between them take away every category leave something to fall back on (see the reader).
    for k in existing {
        match Category::from_code(&k) {
            None => tx.delete(&cats, k.as_str())?,
            Some(c) if !r.categories.contains(&c) => {
                if !matches!(tx.get(&cats, k.as_str())?, Some((Value::Scalar(v), _)) if *v == ScalarValue::Boolean(false)) {
                    tx.put(&cats, k.as_str(), false)?;
                }
            }
            Some(_) => {}
        }
    }
    for c in &r.categories {
        if !matches!(tx.get(&cats, c.code())?, Some((Value::Scalar(v), _)) if *v == ScalarValue::Boolean(true)) {
            tx.put(&cats, c.code(), true)?;
        }
    }
    let (agency, other) = match &r.agency {
        AgencyRef::Directory(a) => (s(a), None),
        AgencyRef::Other(o) => (None, s(o)),
    };
    put_if_changed(tx, obj, "agency", agency)?;
    put_if_changed(tx, obj, "agencyOther", other)?;
    put_if_changed(tx, obj, "help", s(r.help.code()))?;
    put_if_changed(tx, obj, "followUp", Some(ScalarValue::Boolean(r.follow_up)))?;
    put_if_changed(tx, obj, "notes", r.notes.as_deref().and_then(s))?;
    Ok(())
}

/// Voids a referral: it stays in the document for audit and drops out of every statistic.
pub fn void_referral<T: Transactable>(
    tx: &mut T,
    id: &str,
    reason: &str,
    at_ms: i64,
) -> Result<(), automerge::AutomergeError> {
    let key = format!("{REFERRAL_PREFIX}{id}");
    let Some((Value::Object(ObjType::Map), obj)) = tx.get(ROOT, key.as_str())? else {
        return Err(automerge::AutomergeError::InvalidObjId(key));
    };
    let v = tx.put_object(&obj, "void", ObjType::Map)?;
    tx.put(&v, "reason", reason)?;
    tx.put(&v, "at", ScalarValue::Timestamp(at_ms))?;
    Ok(())
}

pub fn write_shift<T: Transactable>(tx: &mut T, s: &Shift) -> Result<(), automerge::AutomergeError> {
    let key = format!("{SHIFT_PREFIX}{}", s.id);
    let obj = match tx.get(ROOT, key.as_str())? {
        Some((Value::Object(ObjType::Map), obj)) => obj,
        _ => tx.put_object(ROOT, key, ObjType::Map)?,
    };
    put_if_changed(tx, &obj, "volunteer", Some(ScalarValue::Str(s.volunteer.as_str().into())))?;
    put_if_changed(tx, &obj, "start", Some(ScalarValue::Timestamp(s.start_ms)))?;
    put_if_changed(tx, &obj, "end", s.end_ms.map(ScalarValue::Timestamp))?;
    Ok(())
}

/// An agency in a scheme's directory document, under the root key `agency:<id>`. A retired
/// agency stays in the directory, so that old referrals still name it, but is not offered for
/// new ones.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Agency {
    pub id: String,
    pub name: String,
    pub phone: Option<String>,
    pub website: Option<String>,
    pub categories: BTreeSet<Category>,
    /// The sites whose tablets offer it; empty: every site of the scheme.
    pub sites: BTreeSet<String>,
    pub retired: bool,
}

impl Agency {
    /// Whether a new referral at this site may name it.
    pub fn offered_at(&self, site: &str) -> bool {
        !self.retired && (self.sites.is_empty() || self.sites.contains(site))
    }
}

/// Writes an agency field by field (a set of keys as a map of `true`), changing only what
/// differs, so that two coordinators editing different fields at once both keep their edit.
pub fn write_agency<T: Transactable>(tx: &mut T, a: &Agency) -> Result<(), automerge::AutomergeError> {
    let key = format!("{AGENCY_PREFIX}{}", a.id);
    let obj = match tx.get(ROOT, key.as_str())? {
        Some((Value::Object(ObjType::Map), obj)) => obj,
        _ => tx.put_object(ROOT, key, ObjType::Map)?,
    };
    let s = |v: &Option<String>| v.as_deref().map(|v| ScalarValue::Str(v.into()));
    put_if_changed(tx, &obj, "name", Some(ScalarValue::Str(a.name.as_str().into())))?;
    put_if_changed(tx, &obj, "phone", s(&a.phone))?;
    put_if_changed(tx, &obj, "website", s(&a.website))?;
    put_if_changed(tx, &obj, "retired", a.retired.then_some(ScalarValue::Boolean(true)))?;
    let cats: BTreeSet<String> = a.categories.iter().map(|c| c.code().to_owned()).collect();
    write_key_set(tx, &obj, "categories", &cats)?;
    write_key_set(tx, &obj, "sites", &a.sites)
}

/// A set of keys under `key`, as a map of `true`: only added and removed keys change.
fn write_key_set<T: Transactable>(
    tx: &mut T,
    obj: &ObjId,
    key: &'static str,
    want: &BTreeSet<String>,
) -> Result<(), automerge::AutomergeError> {
    let set = match tx.get(obj, key)? {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => tx.put_object(obj, key, ObjType::Map)?,
    };
    let existing: Vec<String> = tx.keys(&set).collect();
    for k in &existing {
        if !want.contains(k) {
            tx.delete(&set, k.as_str())?;
        }
    }
    for k in want {
        if !existing.contains(k) {
            tx.put(&set, k.as_str(), true)?;
        }
    }
    Ok(())
}

pub fn read_agencies<R: ReadDoc>(doc: &R) -> Vec<Agency> {
    let mut out = Vec::new();
    for key in doc.keys(ROOT) {
        let Some(id) = key.strip_prefix(AGENCY_PREFIX) else { continue };
        let Ok(Some((Value::Object(ObjType::Map), obj))) = doc.get(ROOT, key.as_str()) else { continue };
        let Ok(Some(name)) = get_str_winner(doc, &obj, "name") else { continue };
        let keys = |k: &'static str| -> Vec<String> {
            match get_map(doc, &obj, k) {
                Ok(Some(m)) => doc.keys(&m).collect(),
                _ => Vec::new(),
            }
        };
        let retired = matches!(doc.get(&obj, "retired"), Ok(Some((Value::Scalar(s), _))) if s.as_bool() == Some(true));
        out.push(Agency {
            id: id.to_owned(),
            name,
            phone: get_str_winner(doc, &obj, "phone").ok().flatten(),
            website: get_str_winner(doc, &obj, "website").ok().flatten(),
            categories: keys("categories").iter().filter_map(|k| Category::from_code(k)).collect(),
            sites: keys("sites").into_iter().collect(),
            retired,
        });
    }
    out
}

/// A volunteer on a scheme's roster, under the directory document's root key `volunteer:<id>`.
/// Only the name a desk needs to pick from; equality data never lives in a document.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Volunteer {
    pub id: String,
    pub name: String,
    pub active: bool,
    /// The check value of the volunteer's 4-digit PIN (see [`pin_check`]), if one is set.
    #[serde(skip)]
    pub pin: Option<String>,
}

/// A roster name as stored: trimmed, 1 to 80 characters, no control characters.
pub fn volunteer_name(name: &str) -> Option<String> {
    let name = name.trim();
    let ok = !name.is_empty() && name.chars().count() <= 80 && !name.chars().any(char::is_control);
    ok.then(|| name.to_owned())
}

/// Directory root key: whether volunteers must enter their PIN to start a shift.
pub const PIN_REQUIRED_KEY: &str = "setting:volunteer-pin";

/// Whether a PIN is four digits.
pub fn valid_pin(pin: &str) -> bool {
    pin.len() == 4 && pin.bytes().all(|b| b.is_ascii_digit())
}

/// The value stored for a volunteer's PIN: `<salt>:<sha-256 of salt, volunteer id and PIN>`.
///
/// A PIN only stops one volunteer starting a shift as another on a shared tablet; it is not a
/// secret from someone holding the directory document (10,000 PINs are quickly tried), which is
/// why it is salted and hashed but not stretched.
pub fn pin_check(volunteer: &str, pin: &str, salt: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in ["signpost-pin", salt, volunteer, pin] {
        h.update((part.len() as u32).to_be_bytes());
        h.update(part.as_bytes());
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("{salt}:{hex}")
}

/// Whether `pin` is the volunteer's PIN.
pub fn pin_matches(v: &Volunteer, pin: &str) -> bool {
    let Some(stored) = &v.pin else { return false };
    let Some((salt, _)) = stored.split_once(':') else { return false };
    valid_pin(pin) && pin_check(&v.id, pin, salt) == *stored
}

pub fn write_pin_required<T: Transactable>(tx: &mut T, required: bool) -> Result<(), automerge::AutomergeError> {
    put_if_changed(tx, &ROOT, PIN_REQUIRED_KEY, Some(ScalarValue::Boolean(required)))
}

pub fn read_pin_required<R: ReadDoc>(doc: &R) -> bool {
    matches!(doc.get(ROOT, PIN_REQUIRED_KEY), Ok(Some((Value::Scalar(s), _))) if s.as_bool() == Some(true))
}

/// Directory root key: the scheme's retention period in months (days before it are purged).
pub const RETENTION_MONTHS_KEY: &str = "setting:retention-months";
/// Directory root key: how many days before today the scheme's tablets keep once synced.
pub const TABLET_DAYS_KEY: &str = "setting:tablet-days";

/// Writes the scheme's retention settings (the server does, as the coordinator sets them).
pub fn write_retention<T: Transactable>(
    tx: &mut T,
    months: u32,
    tablet_days: u32,
) -> Result<(), automerge::AutomergeError> {
    put_if_changed(tx, &ROOT, RETENTION_MONTHS_KEY, Some(ScalarValue::Uint(months.into())))?;
    put_if_changed(tx, &ROOT, TABLET_DAYS_KEY, Some(ScalarValue::Uint(tablet_days.into())))
}

fn read_count<R: ReadDoc>(doc: &R, key: &str) -> Option<u32> {
    match doc.get(ROOT, key) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Uint(n) => u32::try_from(*n).ok(),
            ScalarValue::Int(n) => u32::try_from(*n).ok(),
            _ => None,
        },
        _ => None,
    }
}

/// The scheme's retention period in months, if the directory says.
pub fn read_retention_months<R: ReadDoc>(doc: &R) -> Option<u32> {
    read_count(doc, RETENTION_MONTHS_KEY)
}

/// How many days before today the scheme's tablets keep, if the directory says.
pub fn read_tablet_days<R: ReadDoc>(doc: &R) -> Option<u32> {
    read_count(doc, TABLET_DAYS_KEY)
}

pub fn write_volunteer<T: Transactable>(tx: &mut T, v: &Volunteer) -> Result<(), automerge::AutomergeError> {
    let key = format!("{VOLUNTEER_PREFIX}{}", v.id);
    let obj = match tx.get(ROOT, key.as_str())? {
        Some((Value::Object(ObjType::Map), obj)) => obj,
        _ => tx.put_object(ROOT, key, ObjType::Map)?,
    };
    put_if_changed(tx, &obj, "name", Some(ScalarValue::Str(v.name.as_str().into())))?;
    put_if_changed(tx, &obj, "active", Some(ScalarValue::Boolean(v.active)))?;
    put_if_changed(tx, &obj, "pin", v.pin.as_deref().map(|p| ScalarValue::Str(p.into())))?;
    Ok(())
}

/// The roster, active volunteers first, then by name.
pub fn read_volunteers<R: ReadDoc>(doc: &R) -> Vec<Volunteer> {
    let mut out: Vec<Volunteer> = doc
        .keys(ROOT)
        .filter_map(|key| {
            let id = key.strip_prefix(VOLUNTEER_PREFIX)?.to_owned();
            let obj = entry_obj(doc, &key, "volunteer").ok()??;
            let f = Fields::read(doc, &obj);
            Some(Volunteer {
                id,
                name: f.str("name").ok()??,
                active: f.bool("active").ok()?.unwrap_or(true),
                pin: f.str("pin").ok().flatten(),
            })
        })
        .collect();
    out.sort_by(|a, b| b.active.cmp(&a.active).then_with(|| a.name.cmp(&b.name)));
    out
}

/// Directory root key prefix of a site's name and state as its coordinator last set them, so
/// that its tablets learn of a new name or of the site's closing when they next sync.
pub const SITE_PREFIX: &str = "site:";

/// A site as its tablets see it in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteState {
    pub name: String,
    /// A closed site's tablets log nothing more; what they hold still syncs.
    pub closed: bool,
}

pub fn write_site<T: Transactable>(tx: &mut T, site: &str, s: &SiteState) -> Result<(), automerge::AutomergeError> {
    let key = format!("{SITE_PREFIX}{site}");
    let obj = match tx.get(ROOT, key.as_str())? {
        Some((Value::Object(ObjType::Map), obj)) => obj,
        _ => tx.put_object(ROOT, key, ObjType::Map)?,
    };
    put_if_changed(tx, &obj, "name", Some(ScalarValue::Str(s.name.as_str().into())))?;
    put_if_changed(tx, &obj, "closed", Some(ScalarValue::Boolean(s.closed)))
}

/// The site's name and state, if its coordinator has changed either since the directory began.
pub fn read_site<R: ReadDoc>(doc: &R, site: &str) -> Option<SiteState> {
    let obj = entry_obj(doc, &format!("{SITE_PREFIX}{site}"), "site").ok()??;
    let f = Fields::read(doc, &obj);
    Some(SiteState { name: f.str("name").ok()??, closed: f.bool("closed").ok()?.unwrap_or(false) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{transaction::Transactable, ActorId, AutoCommit};

    #[test]
    fn concurrent_edits_of_different_agency_fields_both_stay_and_retiring_keeps_it() {
        let cab = Agency {
            id: "cab".into(),
            name: "Citizens Advice".into(),
            phone: None,
            website: None,
            categories: [Category::Housing].into(),
            sites: BTreeSet::new(),
            retired: false,
        };
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        write_agency(&mut a, &cab).unwrap();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        let phoned = Agency { phone: Some("0800 144 8848".into()), ..cab.clone() };
        write_agency(&mut a, &phoned).unwrap();
        let more = Agency { categories: [Category::Housing, Category::DebtBenefitsFinance].into(), ..cab.clone() };
        write_agency(&mut b, &more).unwrap();
        a.merge(&mut b).unwrap();
        let merged = read_agencies(&a).remove(0);
        assert_eq!(merged.phone.as_deref(), Some("0800 144 8848"));
        assert_eq!(merged.categories.len(), 2);
        let heads = a.get_heads();
        write_agency(&mut a, &merged).unwrap();
        a.commit();
        assert_eq!(a.get_heads(), heads, "an unchanged agency writes nothing");
        write_agency(&mut a, &Agency { retired: true, sites: ["site-a".into()].into(), ..merged.clone() }).unwrap();
        let retired = read_agencies(&a).remove(0);
        assert!(retired.retired && !retired.offered_at("site-a"));
        assert!(Agency { retired: false, ..retired.clone() }.offered_at("site-a"));
        assert!(!Agency { retired: false, ..retired }.offered_at("site-b"));
    }

    #[test]
    fn a_site_renamed_and_closed_reads_back_and_an_unchanged_write_adds_no_change() {
        let mut doc = AutoCommit::new();
        assert_eq!(read_site(&doc, "site-a"), None);
        let closed = SiteState { name: "Crown Court".into(), closed: true };
        write_site(&mut doc, "site-a", &closed).unwrap();
        assert_eq!(read_site(&doc, "site-a"), Some(closed.clone()));
        let heads = doc.get_heads();
        write_site(&mut doc, "site-a", &closed).unwrap();
        doc.commit();
        assert_eq!(doc.get_heads(), heads);
        assert_eq!(read_site(&doc, "site-b"), None);
    }

    fn referral(id: &str) -> Referral {
        Referral {
            id: id.into(),
            recorded_at_ms: 1_700_000_000_000,
            volunteer: Some("vol-1".into()),
            helped: Helped::Defendant,
            age_band: Some(AgeBand::From25To34),
            categories: [Category::Housing, Category::MentalHealth].into(),
            agency: AgencyRef::Directory("shelter".into()),
            help: HelpKind::Signposted,
            follow_up: true,
            follow_up_closed: None,
            notes: Some("called back".into()),
            void: None,
        }
    }

    fn day() -> Header {
        Header::desk_day("scheme-1", "site-1", NaiveDate::from_ymd_opt(2026, 11, 24).unwrap())
    }

    #[test]
    fn header_and_referral_round_trip() {
        let mut doc = AutoCommit::new();
        write_header(&mut doc, &day()).unwrap();
        write_referral(&mut doc, &referral("r1")).unwrap();
        assert_eq!(read_header(&doc).unwrap(), day());
        assert_eq!(read_referral(&doc, "r1").unwrap().unwrap(), referral("r1"));
        assert_eq!(entry_keys(&doc), vec![EntryKey::Referral("r1".into())]);
    }

    #[test]
    fn text_strings_from_javascript_are_read() {
        let mut doc = AutoCommit::new();
        write_header(&mut doc, &day()).unwrap();
        write_referral(&mut doc, &referral("r1")).unwrap();
        let (_, obj) = doc.get(ROOT, "referral:r1").unwrap().unwrap();
        let t = doc.put_object(&obj, "helped", ObjType::Text).unwrap();
        doc.splice_text(&t, 0, 0, "victim").unwrap();
        assert_eq!(read_referral(&doc, "r1").unwrap().unwrap().helped, Helped::Victim);
    }

    #[test]
    fn bad_values_are_reported_not_guessed() {
        let mut doc = AutoCommit::new();
        write_header(&mut doc, &day()).unwrap();
        write_referral(&mut doc, &referral("r1")).unwrap();
        let (_, obj) = doc.get(ROOT, "referral:r1").unwrap().unwrap();
        doc.put(&obj, "help", "telepathy").unwrap();
        assert!(matches!(read_referral(&doc, "r1"), Err(SchemaError::Unknown { field: "help", .. })));
        doc.put(&obj, "help", "referred").unwrap();
        doc.put(&obj, "notes", "x".repeat(MAX_NOTES_CHARS + 1)).unwrap();
        assert_eq!(read_referral(&doc, "r1"), Err(SchemaError::TooLong("notes")));
    }

    #[test]
    fn ids_that_cannot_be_one_segment_of_an_address_are_refused() {
        let mut doc = AutoCommit::new();
        write_header(&mut doc, &day()).unwrap();
        for id in [".", "..", "", "a\nb"] {
            write_referral(&mut doc, &referral(id)).unwrap();
            assert_eq!(read_referral(&doc, id), Err(SchemaError::BadId), "{id:?}");
        }
        for id in ["../../../../manage/users", "a?b#c%d e", "ŷ-😀", "..."] {
            write_referral(&mut doc, &referral(id)).unwrap();
            assert!(read_referral(&doc, id).unwrap().is_some(), "{id:?}");
        }
    }

    #[test]
    fn two_tablets_creating_the_same_day_merge_without_losing_entries() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        let mut b = AutoCommit::new().with_actor(ActorId::from(b"b".as_slice()));
        write_header(&mut a, &day()).unwrap();
        write_referral(&mut a, &referral("ra")).unwrap();
        write_header(&mut b, &day()).unwrap();
        write_referral(&mut b, &referral("rb")).unwrap();
        a.merge(&mut b).unwrap();
        assert_eq!(read_header(&a).unwrap(), day(), "equal concurrent header values are not a conflict");
        assert_eq!(entry_keys(&a).len(), 2);
    }

    #[test]
    fn concurrent_corrections_of_different_fields_both_survive() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        write_header(&mut a, &day()).unwrap();
        write_referral(&mut a, &referral("r1")).unwrap();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        let mut ra = referral("r1");
        ra.help = HelpKind::Referred;
        correct_referral(&mut a, &ra).unwrap();
        let mut rb = referral("r1");
        rb.follow_up = false;
        rb.categories.insert(Category::DebtBenefitsFinance);
        correct_referral(&mut b, &rb).unwrap();
        a.merge(&mut b).unwrap();
        let merged = read_referral(&a, "r1").unwrap().unwrap();
        assert_eq!(merged.help, HelpKind::Referred);
        assert!(!merged.follow_up);
        assert!(merged.categories.contains(&Category::DebtBenefitsFinance));
        assert!(merged.categories.contains(&Category::Housing));
    }

    /// Two tablets correct one referral of two categories at once, each taking away a different
    /// one (found by the randomized whole-path schedules): it used to be left with none, invalid
    /// and no longer counted. It keeps what they took away.
    #[test]
    fn concurrent_corrections_that_take_away_every_category_keep_them() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        write_header(&mut a, &day()).unwrap();
        let mut r = referral("r1");
        r.categories = [Category::Housing, Category::DebtBenefitsFinance].into();
        write_referral(&mut a, &r).unwrap();
        let mut b = a.fork().with_actor(ActorId::from(b"b".as_slice()));
        let mut ra = r.clone();
        ra.categories = [Category::Housing].into();
        correct_referral(&mut a, &ra).unwrap();
        let mut rb = r.clone();
        rb.categories = [Category::DebtBenefitsFinance].into();
        correct_referral(&mut b, &rb).unwrap();
        assert_eq!(read_referral(&a, "r1").unwrap().unwrap().categories, ra.categories, "each alone reads as written");
        a.merge(&mut b).unwrap();
        let merged = read_referral(&a, "r1").unwrap().unwrap();
        assert_eq!(merged.categories, r.categories);
    }

    #[test]
    fn conflicting_headers_are_detected() {
        let mut a = AutoCommit::new().with_actor(ActorId::from(b"a".as_slice()));
        let mut b = AutoCommit::new().with_actor(ActorId::from(b"b".as_slice()));
        write_header(&mut a, &day()).unwrap();
        let mut other = day();
        other.site = Some("site-2".into());
        write_header(&mut b, &other).unwrap();
        a.merge(&mut b).unwrap();
        assert_eq!(read_header(&a), Err(SchemaError::Conflict("site")));
    }

    #[test]
    fn pins_are_four_digits_checked_against_a_salted_hash() {
        let check = pin_check("vol-1", "0420", "s4lt");
        let mut v = Volunteer { id: "vol-1".into(), name: "Ann".into(), active: true, pin: Some(check.clone()) };
        assert!(pin_matches(&v, "0420"));
        assert!(!pin_matches(&v, "0421"));
        assert!(!pin_matches(&v, "420"), "four digits");
        assert_ne!(pin_check("vol-2", "0420", "s4lt"), check, "bound to the volunteer");
        assert!(!check.contains("0420"));
        v.pin = None;
        assert!(!pin_matches(&v, "0420"), "no PIN set: nothing matches");
        assert!(valid_pin("0000") && !valid_pin("00a0") && !valid_pin("00000"));
        let mut doc = AutoCommit::new();
        assert!(!read_pin_required(&doc));
        write_pin_required(&mut doc, true).unwrap();
        assert!(read_pin_required(&doc));
        assert_eq!((read_retention_months(&doc), read_tablet_days(&doc)), (None, None));
        write_retention(&mut doc, 36, 7).unwrap();
        assert_eq!((read_retention_months(&doc), read_tablet_days(&doc)), (Some(36), Some(7)));
        v.pin = Some(check);
        write_volunteer(&mut doc, &v).unwrap();
        assert_eq!(read_volunteers(&doc), vec![v.clone()]);
        v.pin = None;
        write_volunteer(&mut doc, &v).unwrap();
        assert_eq!(read_volunteers(&doc)[0].pin, None, "a PIN can be removed");
    }

    #[test]
    fn roster_round_trips_and_sorts() {
        let mut doc = AutoCommit::new();
        write_header(&mut doc, &Header::directory("sc")).unwrap();
        for (id, name, active) in [("v2", "Bea", true), ("v1", "Ann", false), ("v3", "Cal", true)] {
            write_volunteer(&mut doc, &Volunteer { id: id.into(), name: name.into(), active, pin: None }).unwrap();
        }
        let names: Vec<String> = read_volunteers(&doc).into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["Bea", "Cal", "Ann"]);
    }

    #[test]
    fn days_are_written_and_read_exactly() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
        assert_eq!(ymd(d), "2026-03-07");
        assert_eq!(parse_ymd("2026-03-07"), Some(d));
        for bad in ["2026-3-07", "2026-02-30", "26-03-07", "2026-03-07x", "2026/03/07", "+026-03-07", "2026-03-0 "] {
            assert_eq!(parse_ymd(bad), None, "{bad}");
        }
    }

    #[test]
    fn void_keeps_the_entry() {
        let mut doc = AutoCommit::new();
        write_header(&mut doc, &day()).unwrap();
        write_referral(&mut doc, &referral("r1")).unwrap();
        void_referral(&mut doc, "r1", "duplicate", 5).unwrap();
        let r = read_referral(&doc, "r1").unwrap().unwrap();
        assert_eq!(r.void, Some(Void { reason: "duplicate".into(), at_ms: 5 }));
    }
}
