//! What a sync message really carries, checked before anything of it is applied.
//!
//! Automerge's sync puts changes in a message as opaque byte strings, and one string may hold
//! several chunks back to back: automerge 0.12 (and JavaScript automerge 3) concatenate the
//! changes of one message into a single string whenever they send more than one and less than
//! about a third of the document (`sync/message_builder.rs`), or send the whole document as one
//! chunk. When it applies them, automerge skips whatever it cannot read, so a relay that did not
//! look would store half a message without a word. Here every chunk of every string is split off
//! by its header and parsed in full; any byte that is not part of a valid chunk refuses the
//! whole message.
//!
//! Written by hand because automerge keeps its chunk parser private; the header is the stable
//! storage format (magic bytes, checksum, type, LEB128 length) documented in the automerge
//! binary format specification.

use automerge::{Automerge, Change, ChangeHash, ReadDoc};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("bytes at offset {0} are not an automerge chunk")]
    NotAChunk(usize),
    #[error("the chunk at offset {0} is cut short")]
    Truncated(usize),
    #[error("the chunk at offset {0} has an unsupported type {1}")]
    UnsupportedType(usize, u8),
    #[error("the chunk at offset {0} is not valid: {1}")]
    Invalid(usize, String),
    #[error("no chunk")]
    Empty,
    #[error("the chunk at offset {0} holds more than {1} {2} once loaded")]
    TooLarge(usize, u64, &'static str),
}

/// A stored document, loaded from its chunks (a snapshot, then the changes appended after it)
/// strictly: a chunk that does not parse whole is an error. (`Automerge::load_incremental`
/// keeps what it could read of a damaged chunk and says nothing, so a damaged document would be
/// served, and written on, with entries missing.) A change whose dependency is not stored is an
/// error too: a chunk was lost.
pub fn load_stored(chunks: &[Vec<u8>]) -> Result<Automerge, String> {
    let all: Vec<u8> = chunks.concat();
    let strict = automerge::LoadOptions::new()
        .on_partial_load(automerge::OnPartialLoad::Error)
        .verification_mode(automerge::VerificationMode::Check);
    let doc = Automerge::load_with_options(&all, strict).map_err(|e| e.to_string())?;
    // Changes whose dependencies are not stored are held back, not applied: a chunk is missing.
    match doc.get_missing_deps(&[]).first() {
        Some(missing) => Err(format!("change {missing} is missing from storage")),
        None => Ok(doc),
    }
}

/// The hashes of every change that `raw` (one entry of a sync message's change list) carries,
/// in order. A whole document counts as all of its changes. Refuses anything that is not a
/// sequence of complete, valid chunks.
pub fn carried_changes(raw: &[u8]) -> Result<Vec<ChangeHash>, ChunkError> {
    let mut hashes = Vec::new();
    for piece in split(raw) {
        let (at, kind, chunk) = piece?;
        let invalid = |e: &dyn std::fmt::Display| ChunkError::Invalid(at, e.to_string());
        if kind == DOCUMENT {
            let doc = Automerge::load(chunk).map_err(|e| invalid(&e))?;
            hashes.extend(doc.get_changes(&[]).iter().map(|c| c.hash()));
        } else {
            hashes.push(Change::try_from(chunk).map_err(|e| invalid(&e))?.hash());
        }
    }
    Ok(hashes)
}

/// Each chunk of `raw` with what it holds once loaded (its bytes with compressed parts inflated,
/// as [`weigh`] counts them: what automerge keeps in memory of it): a change with its hash, a
/// whole document (or anything that does not parse as a change) without. For accounting only:
/// it reads what `raw` holds without judging it (the relay has checked it already).
pub fn pieces(raw: &[u8]) -> Vec<(Option<ChangeHash>, usize)> {
    let unbounded = Limits { bytes: u64::MAX, ops: u64::MAX };
    split(raw)
        .filter_map(Result::ok)
        .map(|(_, kind, chunk)| {
            let hash = (kind != DOCUMENT).then(|| Change::try_from(chunk).ok().map(|c| c.hash())).flatten();
            let held = weigh(chunk, unbounded).map_or(chunk.len(), |w| w.bytes as usize).max(chunk.len());
            (hash, held)
        })
        .collect()
}

/// `raw` without the changes `leave_out` names (whole documents are kept as they are); `raw`
/// itself if it is not a sequence of chunks. The relay sends nothing of a change it has not
/// applied: automerge puts the changes it holds back for their dependencies into the whole
/// document it sends, and they may have come from another device.
pub fn without_changes(raw: &[u8], leave_out: impl Fn(&ChangeHash) -> bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for piece in split(raw) {
        let Ok((_, kind, chunk)) = piece else { return raw.to_vec() };
        let dropped = kind != DOCUMENT && Change::try_from(chunk).is_ok_and(|c| leave_out(&c.hash()));
        if !dropped {
            out.extend_from_slice(chunk);
        }
    }
    out
}

/// Checks only that `raw` is a sequence of complete chunks of known types (their headers and
/// lengths), without parsing their content: cheap enough for every record a tablet loads.
pub fn check_framing(raw: &[u8]) -> Result<(), ChunkError> {
    split(raw).try_for_each(|piece| piece.map(|_| ()))
}

/// What a byte string of chunks costs once loaded: its bytes with every compressed part
/// inflated, and its rows (operations, and for a whole document its changes as well).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Weight {
    pub bytes: u64,
    pub ops: u64,
}

impl std::ops::AddAssign for Weight {
    fn add_assign(&mut self, o: Weight) {
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.ops = self.ops.saturating_add(o.ops);
    }
}

/// Bounds on what a byte string of chunks may cost once loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub bytes: u64,
    pub ops: u64,
}

/// Measures `raw` (a sequence of chunks) without loading it: compressed parts are inflated with
/// a bound (never more than `limits.bytes` in all) and run-length encoded columns are counted,
/// not expanded. Refuses as soon as either bound is passed, so a few kilobytes that would
/// inflate to gigabytes (a "compression bomb", or a run of a billion operations) cost
/// milliseconds. Automerge inflates and expands everything it loads; this runs first.
pub fn weigh(raw: &[u8], limits: Limits) -> Result<Weight, ChunkError> {
    let mut total = Weight::default();
    for piece in split(raw) {
        let (at, kind, chunk) = piece?;
        let body = &chunk[body_start(chunk)..];
        let budget = Limits { bytes: limits.bytes.saturating_sub(total.bytes), ops: limits.ops };
        let w = match kind {
            DOCUMENT => weigh_document(body, budget),
            CHANGE => weigh_change(body, budget),
            _ => {
                let inflated = inflate(body, budget.bytes).ok_or(ChunkError::TooLarge(at, limits.bytes, "bytes"))?;
                weigh_change(&inflated, budget)
            }
        }
        .map_err(|e| match e {
            Cost::Bytes => ChunkError::TooLarge(at, limits.bytes, "bytes"),
            Cost::Ops => ChunkError::TooLarge(at, limits.ops, "operations"),
            Cost::Malformed => ChunkError::Invalid(at, "its columns cannot be read".into()),
        })?;
        total += w;
        if total.bytes > limits.bytes {
            return Err(ChunkError::TooLarge(at, limits.bytes, "bytes"));
        }
        if total.ops > limits.ops {
            return Err(ChunkError::TooLarge(at, limits.ops, "operations"));
        }
    }
    Ok(total)
}

/// Why a chunk could not be weighed.
enum Cost {
    Bytes,
    Ops,
    Malformed,
}

/// Where a chunk's body starts (after magic, checksum, type and length).
fn body_start(chunk: &[u8]) -> usize {
    let mut i = 9;
    while chunk.get(i).is_some_and(|b| b & 0x80 != 0) {
        i += 1;
    }
    i + 1
}

/// A reader of LEB128 numbers and byte runs.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn uleb(&mut self) -> Result<u64, Cost> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.at).ok_or(Cost::Malformed)?;
            self.at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Cost::Malformed)
    }

    fn sleb(&mut self) -> Result<i64, Cost> {
        let mut v: i64 = 0;
        let mut shift = 0;
        loop {
            let byte = *self.b.get(self.at).ok_or(Cost::Malformed)?;
            self.at += 1;
            if shift < 64 {
                v |= i64::from(byte & 0x7f) << shift;
            }
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    v |= -1i64 << shift;
                }
                return Ok(v);
            }
            if shift > 70 {
                return Err(Cost::Malformed);
            }
        }
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], Cost> {
        let n = usize::try_from(n).map_err(|_| Cost::Malformed)?;
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len()).ok_or(Cost::Malformed)?;
        let out = &self.b[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn skip_prefixed(&mut self) -> Result<(), Cost> {
        let n = self.uleb()?;
        self.take(n).map(|_| ())
    }

    /// Column metadata: (spec, length) pairs.
    fn columns(&mut self) -> Result<Vec<(u64, u64)>, Cost> {
        let n = self.uleb()?;
        if n > 64 {
            return Err(Cost::Malformed);
        }
        (0..n).map(|_| Ok((self.uleb()?, self.uleb()?))).collect()
    }
}

/// Inflates a raw deflate stream, giving up past `limit` bytes.
fn inflate(data: &[u8], limit: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut d = flate2::read::DeflateDecoder::new(data).take(limit.saturating_add(1));
    d.read_to_end(&mut out).ok()?;
    (out.len() as u64 <= limit).then_some(out)
}

fn weigh_document(body: &[u8], limits: Limits) -> Result<Weight, Cost> {
    let mut c = Cursor { b: body, at: 0 };
    let actors = c.uleb()?;
    for _ in 0..actors {
        c.skip_prefixed()?;
    }
    let heads = c.uleb()?;
    c.take(heads.checked_mul(32).ok_or(Cost::Malformed)?)?;
    let change_cols = c.columns()?;
    let op_cols = c.columns()?;
    let mut w = Weight { bytes: body.len() as u64, ops: 0 };
    for cols in [change_cols, op_cols] {
        w += weigh_columns(&mut c, &cols, Limits { bytes: limits.bytes.saturating_sub(w.bytes), ops: limits.ops })?;
    }
    Ok(w)
}

fn weigh_change(body: &[u8], limits: Limits) -> Result<Weight, Cost> {
    let mut c = Cursor { b: body, at: 0 };
    let deps = c.uleb()?;
    c.take(deps.checked_mul(32).ok_or(Cost::Malformed)?)?;
    c.skip_prefixed()?; // actor
    c.uleb()?; // seq
    c.uleb()?; // start op
    c.sleb()?; // time
    c.skip_prefixed()?; // message
    let others = c.uleb()?;
    for _ in 0..others {
        c.skip_prefixed()?;
    }
    let cols = c.columns()?;
    // The change itself is a row, as in a whole document's change columns: a document weighs
    // the same as the changes it was made of.
    let mut w = Weight { bytes: body.len() as u64, ops: 1 };
    w += weigh_columns(&mut c, &cols, limits)?;
    Ok(w)
}

/// The columns' data follows their metadata in order. Deflated columns count their inflated
/// bytes; the rows of the longest column are the operations (or changes).
fn weigh_columns(c: &mut Cursor<'_>, cols: &[(u64, u64)], limits: Limits) -> Result<Weight, Cost> {
    let mut w = Weight::default();
    for &(spec, len) in cols {
        let data = c.take(len)?;
        let inflated;
        let data = if spec & 0b1000 != 0 {
            inflated = inflate(data, limits.bytes.saturating_sub(w.bytes)).ok_or(Cost::Bytes)?;
            w.bytes = w.bytes.saturating_add(inflated.len() as u64);
            &inflated[..]
        } else {
            data
        };
        let rows = rows(data, spec & 0b111, limits.ops)?;
        w.ops = w.ops.max(rows);
        if w.bytes > limits.bytes {
            return Err(Cost::Bytes);
        }
    }
    Ok(w)
}

/// The rows a column holds, counted from its encoding (run-length runs are not expanded).
fn rows(data: &[u8], kind: u64, limit: u64) -> Result<u64, Cost> {
    let mut c = Cursor { b: data, at: 0 };
    let mut n: u64 = 0;
    while c.at < data.len() {
        let add = match kind {
            // Group, actor, integer, value metadata: RLE of unsigned LEB128.
            0 | 1 | 2 | 6 => rle_run(&mut c, |c| c.uleb().map(|_| ()))?,
            // Delta integers: RLE of signed LEB128.
            3 => rle_run(&mut c, |c| c.sleb().map(|_| ()))?,
            // Booleans: alternating run lengths.
            4 => c.uleb()?,
            // Strings: RLE of length-prefixed strings.
            5 => rle_run(&mut c, |c| c.skip_prefixed())?,
            // Raw values: bytes, counted by their metadata column.
            _ => return Ok(0),
        };
        n = n.saturating_add(add);
        if n > limit {
            return Err(Cost::Ops);
        }
    }
    Ok(n)
}

/// One run of a run-length encoded column: how many rows it stands for.
fn rle_run(c: &mut Cursor<'_>, mut value: impl FnMut(&mut Cursor<'_>) -> Result<(), Cost>) -> Result<u64, Cost> {
    let count = c.sleb()?;
    match count {
        0 => c.uleb(),
        n if n > 0 => value(c).map(|_| n as u64),
        n => {
            let k = n.unsigned_abs();
            for _ in 0..k {
                value(c)?;
            }
            Ok(k)
        }
    }
}

/// One chunk of a byte string: where it starts, its type, its bytes.
type Piece<'a> = (usize, u8, &'a [u8]);

/// Splits `raw` into its chunks by their headers, stopping at the first error. (An iterator, not
/// a list: the tablet app runs this on every record it loads.)
fn split(raw: &[u8]) -> impl Iterator<Item = Result<Piece<'_>, ChunkError>> {
    let mut at = 0;
    let mut failed = raw.is_empty().then_some(ChunkError::Empty);
    std::iter::from_fn(move || {
        if let Some(e) = failed.take() {
            at = raw.len();
            return Some(Err(e));
        }
        if at >= raw.len() {
            return None;
        }
        let piece = header(raw, at).and_then(|(kind, end)| match kind {
            DOCUMENT | CHANGE | COMPRESSED_CHANGE => Ok((at, kind, &raw[at..end])),
            other => Err(ChunkError::UnsupportedType(at, other)),
        });
        at = piece.as_ref().map_or(raw.len(), |(start, _, bytes)| start + bytes.len());
        Some(piece)
    })
}

/// Reads the header of the chunk starting at `at`: its type and where it ends.
fn header(raw: &[u8], at: usize) -> Result<(u8, usize), ChunkError> {
    let rest = &raw[at..];
    if rest.len() < 4 || rest[..4] != MAGIC {
        return Err(ChunkError::NotAChunk(at));
    }
    // magic (4), checksum (4), type (1), then the body's length as unsigned LEB128.
    let kind = *rest.get(8).ok_or(ChunkError::Truncated(at))?;
    let mut len: u64 = 0;
    let mut i = 9;
    loop {
        let b = *rest.get(i).ok_or(ChunkError::Truncated(at))?;
        if i - 9 >= 9 {
            return Err(ChunkError::NotAChunk(at));
        }
        len |= u64::from(b & 0x7f) << (7 * (i - 9));
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let end = usize::try_from(len).ok().and_then(|l| l.checked_add(i)).ok_or(ChunkError::Truncated(at))?;
    if end > rest.len() {
        return Err(ChunkError::Truncated(at));
    }
    Ok((kind, at + end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::ROOT;

    fn doc_with(n: usize) -> Automerge {
        let mut d = Automerge::new();
        for i in 0..n {
            let mut tx = d.transaction();
            tx.put(ROOT, format!("k{i}"), i as i64).unwrap();
            tx.commit();
        }
        d
    }

    #[test]
    fn concatenated_changes_are_all_carried() {
        let d = doc_with(5);
        let changes = d.get_changes(&[]);
        let joined: Vec<u8> = changes.iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
        let expect: Vec<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
        assert_eq!(carried_changes(&joined).unwrap(), expect);
        assert_eq!(carried_changes(changes[0].raw_bytes()).unwrap(), vec![expect[0]]);
    }

    #[test]
    fn a_whole_document_carries_its_changes() {
        let d = doc_with(3);
        let mut got = carried_changes(&d.save()).unwrap();
        got.sort();
        let mut expect: Vec<ChangeHash> = d.get_changes(&[]).iter().map(|c| c.hash()).collect();
        expect.sort();
        assert_eq!(got, expect);
    }

    #[test]
    fn anything_beyond_valid_chunks_is_refused() {
        let d = doc_with(3);
        let changes = d.get_changes(&[]);
        let good: Vec<u8> = changes.iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
        let mut trailing = good.clone();
        trailing.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(carried_changes(&trailing), Err(ChunkError::NotAChunk(_))));
        let mut cut = good.clone();
        cut.pop();
        assert!(carried_changes(&cut).is_err());
        let mut flipped = good.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0xff;
        assert!(carried_changes(&flipped).is_err(), "checksum or content mismatch");
        assert!(carried_changes(&[]).is_err());
        assert!(carried_changes(&[0x85, 0x6f, 0x4a, 0x83, 1, 2, 3, 4, 5]).is_err());
        let mut huge_len = MAGIC.to_vec();
        huge_len.extend_from_slice(&[0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(carried_changes(&huge_len).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let d = doc_with(4);
        let good: Vec<u8> = d.get_changes(&[]).iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..3000 {
            let mut b = good.clone();
            for _ in 0..3 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x as usize) % b.len();
                b[i] = (x >> 32) as u8;
            }
            let cut = (x as usize >> 8) % (b.len() + 1);
            let _ = carried_changes(&b[..cut]);
        }
    }

    fn leb(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    /// A chunk of `kind` around `body` (the checksum is not checked by `weigh`).
    fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend([0, 0, 0, 0, kind]);
        leb(body.len() as u64, &mut out);
        out.extend(body);
        out
    }

    const ROOMY: Limits = Limits { bytes: 64 << 20, ops: 1_000_000 };

    #[test]
    fn real_documents_and_changes_weigh_what_they_hold() {
        let d = doc_with(300);
        let whole = weigh(&d.save(), ROOMY).unwrap();
        assert_eq!(whole.ops, 600, "a document's rows: 300 changes and their 300 operations");
        let changes: Vec<u8> = d.get_changes(&[]).iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
        assert_eq!(weigh(&changes, ROOMY).unwrap().ops, 600, "300 changes of one op each");
        assert!(weigh(&d.save(), Limits { bytes: 64 << 20, ops: 599 }).is_err());
    }

    #[test]
    fn a_compression_bomb_is_refused_before_it_inflates() {
        use std::io::Write;
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; 64 << 20]).unwrap();
        let bomb = chunk(COMPRESSED_CHANGE, &z.finish().unwrap());
        assert!(bomb.len() < 100 << 10, "{} bytes", bomb.len());
        let started = std::time::Instant::now();
        let err = weigh(&bomb, Limits { bytes: 1 << 20, ops: 1_000_000 }).unwrap_err();
        assert!(matches!(err, ChunkError::TooLarge(0, _, "bytes")), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn a_run_of_a_billion_operations_is_refused_uncounted() {
        // A change whose action column is one run of 2^40 rows.
        let mut body = vec![0]; // no deps
        body.extend([1, 0xaa]); // actor
        body.extend([1, 1, 0, 0, 0]); // seq, start op, time, message, other actors
        let mut col = Vec::new();
        leb(1 << 40, &mut col); // a positive count (fits as signed LEB: bit 6 of the last byte is 0)
        col.push(4); // the value
        body.extend([1, 0x42]);
        leb(col.len() as u64, &mut body);
        body.extend(&col);
        let err = weigh(&chunk(CHANGE, &body), ROOMY).unwrap_err();
        assert!(matches!(err, ChunkError::TooLarge(0, _, "operations")), "{err}");
    }
}
