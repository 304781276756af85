//! The relay's bounds, with their defaults (the server's flags set them).

use crate::{chunks, quota};

#[derive(Clone, Debug)]
pub struct Config {
    /// Largest protocol message accepted from a peer.
    pub max_message_bytes: usize,
    /// A document unused for this long is dropped from memory.
    pub idle_ms: u64,
    /// Compact a document's stored chunks into one snapshot after this many appends.
    pub compact_after: u32,
    /// Largest draft (document without a Signpost header) a device may park on the relay, in
    /// bytes once inflated.
    pub max_draft_bytes: usize,
    /// Largest document, and largest sync message, once loaded: bytes with compressed parts
    /// inflated, and rows (changes and operations). Measured before automerge loads anything
    /// ([`chunks::weigh`]); a stored document over it is not loaded.
    pub max_document: chunks::Limits,
    /// New desk days are taken for this many days before the relay's today…
    pub days_back: i64,
    /// …and this many after it (a tablet's clock a little ahead, a day begun in another
    /// timezone). Older or later days, like 0001-01-01 or 9999-12-31, are refused: they would
    /// change published quarters or sit outside every report.
    pub days_ahead: i64,
    /// What one device may store in a day ([`quota`]).
    pub device_allowance: quota::Allowance,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_bytes: 8 << 20,
            idle_ms: 60_000,
            compact_after: 64,
            max_draft_bytes: 256 << 10,
            // A desk's day is tens of kilobytes and a few thousand rows; a scheme's directory of
            // thousands of volunteers and agencies a few megabytes.
            max_document: chunks::Limits { bytes: 32 << 20, ops: 500_000 },
            days_back: 400,
            days_ahead: 2,
            device_allowance: quota::Allowance::default(),
        }
    }
}
