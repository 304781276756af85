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

use automerge::{Automerge, Change, ChangeHash};

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

/// Checks only that `raw` is a sequence of complete chunks of known types (their headers and
/// lengths), without parsing their content: cheap enough for every record a tablet loads.
pub fn check_framing(raw: &[u8]) -> Result<(), ChunkError> {
    split(raw).try_for_each(|piece| piece.map(|_| ()))
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
}
