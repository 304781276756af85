//! What each simulated tablet of the soak reports: what it did, what it saved and holds.

use automerge::ChangeHash;
use signpost_shared::ids::DocumentId;
use signpost_shared::schema::Referral;
use std::collections::BTreeMap;

#[derive(Default, Debug, Clone)]
pub struct Counts {
    pub logged: u64,
    pub corrected: u64,
    pub voided: u64,
    pub shifts: u64,
    pub offline_spells: u64,
    pub offline_changes: u64,
    pub restarts: u64,
    pub connects: u64,
    pub failed_connects: u64,
    /// Why connections ended, as the tablet saw it.
    pub closes: BTreeMap<String, u64>,
}

/// What a tablet did and holds at the end.
pub struct Report {
    pub name: String,
    /// Every entry it saved: (document, root key) → the referral as it last wrote it (`None` for
    /// shifts).
    pub ledger: BTreeMap<(DocumentId, String), Option<Referral>>,
    /// Its final heads of every document it holds.
    pub heads: BTreeMap<DocumentId, Vec<ChangeHash>>,
    pub counts: Counts,
    /// Documents it could not get acknowledged at the end, and why.
    pub problems: Vec<String>,
}

impl Counts {
    /// Adds another tablet's counts to these.
    pub fn add(&mut self, c: &Counts) {
        self.logged += c.logged;
        self.corrected += c.corrected;
        self.voided += c.voided;
        self.shifts += c.shifts;
        self.offline_spells += c.offline_spells;
        self.offline_changes += c.offline_changes;
        self.restarts += c.restarts;
        self.connects += c.connects;
        self.failed_connects += c.failed_connects;
        for (k, v) in &c.closes {
            *self.closes.entry(k.clone()).or_default() += v;
        }
    }
}

/// Groups close reasons: the relay going away is one kind whatever the socket error says.
pub fn reason_kind(why: &str) -> String {
    let w = why.to_ascii_lowercase();
    if w.contains("reset")
        || w.contains("eof")
        || w.contains("ended")
        || w.contains("broken pipe")
        || w.contains("failed")
    {
        "the relay went away".into()
    } else {
        why.chars().take(80).collect()
    }
}
