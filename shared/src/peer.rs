//! A device's side of the protocol as a sans-IO state machine: the tablet app (in the browser)
//! and the simulated tablets (native) both drive this one type.
//!
//! The peer holds its documents and one sync state per document with the relay. Local changes
//! and incoming frames produce frames to send and [`Event`]s; the caller owns the socket, the
//! clock and the persistence of documents.

use crate::ids::{DocumentId, PeerId};
use crate::wire::{Message, Notice, PeerMetadata, Refusal, NOTICE_SESSION, PROTOCOL_VERSION};
use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};
use std::collections::{BTreeMap, HashSet};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The relay answered our join.
    Ready { relay: PeerId },
    /// Remote changes arrived in this document.
    Changed(DocumentId),
    /// The relay holds every local change of this document: it is durably stored there.
    Synced(DocumentId),
    /// The relay does not have this document or will not share it with us.
    Unavailable(DocumentId),
    /// The relay will not take this document from us, and says why; it goes on syncing our
    /// other documents. This one is not synced again on this connection.
    Refused { doc: DocumentId, refusal: Refusal },
    /// The relay's notice about a document it keeps syncing (a day it set aside).
    Notice { doc: DocumentId, notice: Notice },
    /// The relay reported a protocol error; it closes the connection next.
    RelayError(String),
    /// An ephemeral message (presence and the like) from another device with the document open.
    Ephemeral { doc: DocumentId, from: PeerId, data: Vec<u8> },
}

#[derive(Default, Debug)]
pub struct Output {
    pub sends: Vec<Vec<u8>>,
    pub events: Vec<Event>,
}

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("the relay sent a malformed message: {0}")]
    Wire(#[from] crate::wire::DecodeError),
    #[error("the relay sent an unusable sync message: {0}")]
    Sync(String),
    #[error("unknown document {0}")]
    UnknownDoc(DocumentId),
    #[error("a local change failed: {0}")]
    Local(String),
}

struct Doc {
    doc: Automerge,
    state: sync::State,
    synced: bool,
}

pub struct Peer {
    me: PeerId,
    relay: Option<PeerId>,
    docs: BTreeMap<DocumentId, Doc>,
    /// Documents asked for that the relay has not yet answered.
    wanted: HashSet<DocumentId>,
    /// Documents held here with content that the relay says it does not have or will not
    /// share: removed there for good (a purged day), since no device's own day is otherwise
    /// unavailable to it.
    gone: HashSet<DocumentId>,
    /// Documents the relay refused on this connection: not offered again until the next one.
    refused: HashSet<DocumentId>,
}

impl Peer {
    pub fn new(me: PeerId) -> Self {
        Peer {
            me,
            relay: None,
            docs: BTreeMap::new(),
            wanted: HashSet::new(),
            gone: HashSet::new(),
            refused: HashSet::new(),
        }
    }

    pub fn peer_id(&self) -> &PeerId {
        &self.me
    }

    /// The relay's peer id, once it has answered the join.
    pub fn relay_id(&self) -> Option<&PeerId> {
        self.relay.as_ref()
    }

    pub fn is_connected(&self) -> bool {
        self.relay.is_some()
    }

    /// The socket opened: the first frame to send.
    pub fn on_open(&mut self) -> Vec<u8> {
        Message::Join {
            sender_id: self.me.clone(),
            supported_protocol_versions: vec![PROTOCOL_VERSION.into()],
            metadata: Some(PeerMetadata { storage_id: None, is_ephemeral: true }),
        }
        .encode()
    }

    /// The socket closed. Sync states keep only what survives a reconnect (the shared heads).
    pub fn on_close(&mut self) {
        self.relay = None;
        self.refused.clear();
        for d in self.docs.values_mut() {
            d.state = sync::State::decode(&d.state.encode()).unwrap_or_default();
        }
    }

    /// Adds a document (new, or loaded from local storage with its saved sync state) and starts
    /// syncing it if connected.
    pub fn insert(&mut self, id: DocumentId, doc: Automerge, saved_state: Option<&[u8]>) -> Output {
        let state = saved_state.and_then(|s| sync::State::decode(s).ok()).unwrap_or_default();
        self.docs.insert(id, Doc { doc, state, synced: false });
        let mut out = Output::default();
        self.sync_one(id, &mut out);
        out
    }

    /// Stops holding a document: no more syncing, nothing kept in memory. (The caller removes its
    /// stored copy.)
    pub fn remove(&mut self, id: &DocumentId) {
        self.docs.remove(id);
        self.wanted.remove(id);
        self.gone.remove(id);
        self.refused.remove(id);
    }

    /// Whether the relay refused this document on the current connection.
    pub fn is_refused(&self, id: &DocumentId) -> bool {
        self.refused.contains(id)
    }

    /// Whether the relay said, on this connection or an earlier one, that a document held here
    /// with content is unavailable: removed there for good.
    pub fn is_gone(&self, id: &DocumentId) -> bool {
        self.gone.contains(id)
    }

    /// Asks the relay for a document we do not hold.
    pub fn find(&mut self, id: DocumentId) -> Output {
        self.docs.entry(id).or_insert_with(|| Doc { doc: Automerge::new(), state: sync::State::new(), synced: false });
        self.wanted.insert(id);
        let mut out = Output::default();
        self.sync_one(id, &mut out);
        out
    }

    /// The documents this peer holds (found ones included, even before they arrive).
    pub fn doc_ids(&self) -> Vec<DocumentId> {
        self.docs.keys().copied().collect()
    }

    pub fn doc(&self, id: &DocumentId) -> Option<&Automerge> {
        self.docs.get(id).map(|d| &d.doc)
    }

    /// The sync state to save beside the document, so that a restart resumes where it was.
    pub fn saved_state(&self, id: &DocumentId) -> Option<Vec<u8>> {
        self.docs.get(id).map(|d| d.state.encode())
    }

    /// Applies a local change and sends it if connected. The closure's result is returned.
    pub fn change<T>(
        &mut self,
        id: DocumentId,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> T,
    ) -> Result<(T, Output), PeerError> {
        let d = self.docs.get_mut(&id).ok_or(PeerError::UnknownDoc(id))?;
        let mut tx = d.doc.transaction();
        let t = f(&mut tx);
        tx.commit();
        d.synced = false;
        let mut out = Output::default();
        self.sync_one(id, &mut out);
        Ok((t, out))
    }

    /// Like [`Peer::change`], but all or nothing: if the closure fails, its transaction is rolled
    /// back and nothing is recorded or sent.
    pub fn try_change<T, E>(
        &mut self,
        id: DocumentId,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<T, E>,
    ) -> Result<Result<(T, Output), E>, PeerError> {
        let d = self.docs.get_mut(&id).ok_or(PeerError::UnknownDoc(id))?;
        let mut tx = d.doc.transaction();
        match f(&mut tx) {
            Ok(t) => {
                tx.commit();
                d.synced = false;
                let mut out = Output::default();
                self.sync_one(id, &mut out);
                Ok(Ok((t, out)))
            }
            Err(e) => {
                tx.rollback();
                Ok(Err(e))
            }
        }
    }

    /// Whether the relay has acknowledged every local change of the document.
    pub fn is_synced(&self, id: &DocumentId) -> bool {
        self.docs.get(id).is_some_and(|d| relay_has_all(&d.doc, &d.state))
    }

    /// Whether the relay acknowledged every local change of the document, on this connection or
    /// an earlier one (what it acknowledged survives a reconnect and a restart).
    pub fn is_acknowledged(&self, id: &DocumentId) -> bool {
        self.docs.get(id).is_some_and(|d| {
            relay_has_all(&d.doc, &d.state) || d.doc.get_heads().iter().all(|h| d.state.shared_heads.contains(h))
        })
    }

    /// The heads both sides are known to share: what the relay has acknowledged of a document.
    pub fn acknowledged_heads(&self, id: &DocumentId) -> &[ChangeHash] {
        self.docs.get(id).map_or(&[], |d| d.state.shared_heads.as_slice())
    }

    /// Changes of a document that the relay has not acknowledged yet.
    pub fn unacknowledged(&self, id: &DocumentId) -> Vec<automerge::Change> {
        match self.docs.get(id) {
            Some(d) if !relay_has_all(&d.doc, &d.state) => d.doc.get_changes(&d.state.shared_heads),
            _ => Vec::new(),
        }
    }

    /// An ephemeral message to the other devices that have the document open.
    pub fn ephemeral(&mut self, doc: DocumentId, session_id: &str, count: u64, data: Vec<u8>) -> Output {
        let mut out = Output::default();
        if let Some(relay) = self.relay.clone() {
            let m = Message::Ephemeral {
                sender_id: self.me.clone(),
                target_id: relay,
                document_id: doc,
                count,
                session_id: session_id.into(),
                data,
            };
            out.sends.push(m.encode());
        }
        out
    }

    pub fn receive(&mut self, frame: &[u8]) -> Result<Output, PeerError> {
        let mut out = Output::default();
        match Message::decode(frame)? {
            Message::Peer { sender_id, .. } => {
                self.relay = Some(sender_id.clone());
                out.events.push(Event::Ready { relay: sender_id });
                let ids: Vec<DocumentId> = self.docs.keys().copied().collect();
                for id in ids {
                    self.sync_one(id, &mut out);
                }
            }
            Message::Sync { document_id, data, .. } | Message::Request { document_id, data, .. } => {
                let msg = sync::Message::decode(&data).map_err(sync_error)?;
                let d = self.docs.entry(document_id).or_insert_with(|| Doc {
                    doc: Automerge::new(),
                    state: sync::State::new(),
                    synced: false,
                });
                let before = d.doc.get_heads();
                d.doc.receive_sync_message(&mut d.state, msg).map_err(sync_error)?;
                self.wanted.remove(&document_id);
                if d.doc.get_heads() != before {
                    out.events.push(Event::Changed(document_id));
                }
                let now_synced = relay_has_all(&d.doc, &d.state);
                if now_synced && !d.synced && !d.doc.get_heads().is_empty() {
                    out.events.push(Event::Synced(document_id));
                }
                d.synced = now_synced;
                self.sync_one(document_id, &mut out);
            }
            Message::DocUnavailable { document_id, refusal: Some(refusal), .. } => {
                // Refused, not gone: what we hold stays, and is offered again next time.
                self.wanted.remove(&document_id);
                self.refused.insert(document_id);
                out.events.push(Event::Refused { doc: document_id, refusal });
            }
            Message::DocUnavailable { document_id, refusal: None, .. } => {
                self.wanted.remove(&document_id);
                if self.docs.get(&document_id).is_some_and(|d| !d.doc.get_heads().is_empty()) {
                    self.gone.insert(document_id);
                }
                out.events.push(Event::Unavailable(document_id));
            }
            Message::Error { message } => out.events.push(Event::RelayError(message)),
            Message::Ephemeral { document_id, sender_id, data, session_id, .. } => {
                let from_relay = self.relay.as_ref() == Some(&sender_id) && session_id == NOTICE_SESSION;
                match from_relay.then(|| Notice::decode(&data)).flatten() {
                    Some(notice) => out.events.push(Event::Notice { doc: document_id, notice }),
                    None => out.events.push(Event::Ephemeral { doc: document_id, from: sender_id, data }),
                }
            }
            Message::Join { .. } | Message::Leave { .. } | Message::RemoteHeadsGossip { .. } => {}
        }
        Ok(out)
    }

    fn sync_one(&mut self, id: DocumentId, out: &mut Output) {
        let Some(relay) = self.relay.clone() else { return };
        if self.refused.contains(&id) {
            return;
        }
        let Some(d) = self.docs.get_mut(&id) else { return };
        if let Some(m) = d.doc.generate_sync_message(&mut d.state) {
            let data = m.encode();
            let msg = if d.doc.get_heads().is_empty() {
                Message::Request { sender_id: self.me.clone(), target_id: relay, document_id: id, data }
            } else {
                Message::Sync { sender_id: self.me.clone(), target_id: relay, document_id: id, data }
            };
            out.sends.push(msg.encode());
        }
    }
}

/// A sync message that could not be used. Native peers (the simulated tablets) say why; the
/// tablet app does not format automerge's error, which would add kilobytes to its download.
fn sync_error(e: impl std::fmt::Display) -> PeerError {
    #[cfg(not(target_arch = "wasm32"))]
    return PeerError::Sync(e.to_string());
    #[cfg(target_arch = "wasm32")]
    {
        let _ = e;
        PeerError::Sync(String::new())
    }
}

fn relay_has_all(doc: &Automerge, state: &sync::State) -> bool {
    let ours: Vec<ChangeHash> = doc.get_heads();
    match &state.their_heads {
        Some(theirs) => ours.iter().all(|h| theirs.contains(h) || state.shared_heads.contains(h)),
        None => ours.is_empty(),
    }
}
