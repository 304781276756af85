//! Who is on the other end of a connection and what it may do with a document: the access
//! rule, in one place. It is asked where a message enters and again wherever bytes of a
//! document leave ([`super::Relay`]'s egress check), because what a document is can change
//! between the two: created by its owner after another device asked for it, a squatter's draft
//! given up, a day retired.

use crate::ids::DocumentId;
use crate::schema::{DocKind, Header};

/// Who is on the other end of a connection, as established by its credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// The device (tablet) the credential was issued to.
    pub device: String,
    pub scheme: String,
    pub site: String,
}

/// What the store knows about a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Meta {
    /// A Signpost document with a checked header.
    Doc(Header),
    /// A desk's day dated outside the relay's window when it was created (a tablet whose clock
    /// was wrong): stored as its site's own, synced as usual, but counted nowhere until a
    /// coordinator files it under the right date or discards it.
    SetAside(Header),
    /// Content from a client that has not yet written a complete header (automerge-repo clients
    /// create an empty document first and fill it in a later change). Owned by the creating
    /// device's site, size-limited, counted nowhere.
    Draft { scheme: String, site: String },
    /// A document the server removed for good: purged at the end of its scheme's retention
    /// period, or replaced by a rewritten copy (`replaced_by`) when an entry was erased. Nothing
    /// of it is stored and nothing sent for it is ever taken again.
    Retired { replaced_by: Option<DocumentId> },
}

impl Meta {
    /// The header of a Signpost document, counted or set aside.
    pub fn header(&self) -> Option<&Header> {
        match self {
            Meta::Doc(h) | Meta::SetAside(h) => Some(h),
            Meta::Draft { .. } | Meta::Retired { .. } => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    None,
    Read,
    Write,
}

/// The access rule, in one place: a device writes its own site's documents and reads its
/// scheme's shared ones. Nothing else exists for it.
pub fn access(p: &Principal, meta: &Meta) -> Access {
    match meta {
        Meta::Draft { scheme, site } if *scheme == p.scheme && *site == p.site => Access::Write,
        Meta::Draft { .. } | Meta::Retired { .. } => Access::None,
        Meta::Doc(h) | Meta::SetAside(h) if h.scheme != p.scheme => Access::None,
        Meta::Doc(h) | Meta::SetAside(h) => match h.kind {
            DocKind::DeskDay if h.site.as_deref() == Some(p.site.as_str()) => Access::Write,
            DocKind::DeskDay => Access::None,
            DocKind::Directory => Access::Read,
        },
    }
}
