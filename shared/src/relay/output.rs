//! What the relay asks its driver to do: documents to load, writes to commit (one transaction
//! per output), frames to send and connections to close.

use super::{ConnId, Meta, Refusal};
use crate::ids::DocumentId;
use crate::projection::{Projection, Roster};
use crate::quota;
use chrono::NaiveDate;

/// A document as the store hands it back: its metadata and its stored chunks in order.
#[derive(Clone, Debug)]
pub struct StoredDoc {
    pub meta: Meta,
    pub chunks: Vec<Vec<u8>>,
}

/// Something to make durable. Writes of one output are one atomic transaction.
#[derive(Clone, Debug)]
pub enum Write {
    /// A new document, with its first chunk.
    Create { doc: DocumentId, meta: Meta, chunk: Vec<u8> },
    /// A draft became a Signpost document.
    SetMeta { doc: DocumentId, meta: Meta },
    /// New changes for a stored document.
    Append { doc: DocumentId, chunk: Vec<u8> },
    /// Replace every stored chunk of the document with one snapshot.
    Compact { doc: DocumentId, snapshot: Vec<u8> },
    /// Remove the document and every fact projected from it: content that squatted on another
    /// site's well-known id, given up when that site's device claims it.
    Discard { doc: DocumentId },
    /// Statistics facts to upsert.
    Project { doc: DocumentId, projection: Projection },
    /// A scheme's roster as it now stands, replacing the one stored.
    Roster { doc: DocumentId, roster: Roster },
    /// What a device has stored on a day, now that it stored content in `doc` (replacing the
    /// count stored for that device and day).
    Usage { doc: DocumentId, device: String, day: NaiveDate, usage: quota::Usage },
    /// A day was set aside as it was created ([`Meta::SetAside`]): who sent it and when, for the
    /// coordinator's list.
    SetAside { doc: DocumentId, set_aside: SetAside },
}

/// Why and by whom a day was set aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAside {
    /// The device that created it.
    pub device: String,
    /// The relay's date when it arrived: the date a coordinator may file it under.
    pub synced_on: NaiveDate,
    /// The date it claims.
    pub date: NaiveDate,
}

impl Write {
    /// The document this write is for.
    pub fn doc(&self) -> &DocumentId {
        match self {
            Write::Create { doc, .. }
            | Write::SetMeta { doc, .. }
            | Write::Append { doc, .. }
            | Write::Compact { doc, .. }
            | Write::Discard { doc }
            | Write::Project { doc, .. }
            | Write::Roster { doc, .. }
            | Write::Usage { doc, .. }
            | Write::SetAside { doc, .. } => doc,
        }
    }
}

#[derive(Default, Debug)]
pub struct Output {
    /// Documents to load; answer each with [`Relay::loaded`](super::Relay::loaded).
    pub load: Vec<DocumentId>,
    /// Commit these before sending anything below.
    pub writes: Vec<Write>,
    pub sends: Vec<(ConnId, Vec<u8>)>,
    /// Connections to close after their sends, with the reason.
    pub close: Vec<(ConnId, String)>,
    /// Which of those closes are refusals (the relay would not take what the device sent), as
    /// opposed to a peer that left or reported an error of its own.
    pub refused: Vec<ConnId>,
    /// Documents refused to one connection (it goes on syncing its others), with why: for the
    /// coordinator's list of tablets and the metrics.
    pub refused_docs: Vec<(ConnId, DocumentId, Refusal)>,
    /// Things an operator should know (stored data that failed to load).
    pub problems: Vec<String>,
    /// Outcomes of server-side edits, by ticket; report them once the writes are committed.
    pub edited: Vec<(u64, Result<(), String>)>,
}

impl Output {
    pub fn append(&mut self, mut other: Output) {
        self.load.append(&mut other.load);
        self.writes.append(&mut other.writes);
        self.sends.append(&mut other.sends);
        self.close.append(&mut other.close);
        self.refused.append(&mut other.refused);
        self.refused_docs.append(&mut other.refused_docs);
        self.problems.append(&mut other.problems);
        self.edited.append(&mut other.edited);
    }
}
