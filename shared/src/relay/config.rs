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
    /// Changes whose dependencies have not arrived are held in memory (automerge queues them
    /// and the relay asks for what is missing) for at most this long…
    pub stranded_ms: u64,
    /// …and at most this many bytes per connection, and this many in all; past either, the
    /// relay drops them and asks the device that sent them to reconnect (an honest device then
    /// sends everything the relay lacks). Nothing of them is ever stored.
    pub max_stranded_bytes: u64,
    pub max_stranded_total: u64,
    /// Live copies of documents, in bytes once loaded: past it the least recently used are
    /// evicted (as if idle) until the rest fit.
    pub max_live_bytes: u64,
    /// The most entries (referrals and shifts) one desk's day may hold.
    pub max_entries_per_day: usize,
    /// The most shifts one volunteer may have in one desk's day.
    pub max_shifts_per_volunteer: usize,
    /// The days a site's tablet is taken to own the well-known ids of, beyond the window, when
    /// another device's content sits at one: from this date…
    pub own_days_from: chrono::NaiveDate,
    /// …to this many days after the relay's today.
    pub own_days_ahead: i64,
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
            stranded_ms: 20_000,
            max_stranded_bytes: 8 << 20,
            max_stranded_total: 64 << 20,
            max_live_bytes: 1 << 30,
            // A busy desk logs a few hundred entries on its busiest day; a volunteer starts a
            // shift or two.
            max_entries_per_day: 5_000,
            max_shifts_per_volunteer: 24,
            // A flat battery resets some tablets' clocks to 1970, others' to 2000.
            own_days_from: chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date"),
            own_days_ahead: 3_650,
        }
    }
}
