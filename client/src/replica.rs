//! The tablet's copy of its documents: the shared [`Peer`] core over IndexedDB. The desk screen and
//! the service worker's background sync both work through this one type, so that what is stored
//! and how is decided in one place.

use crate::storage::{LocalStore, COMPACT_AFTER};
use automerge::{Automerge, ChangeHash};
use signpost_shared::ids::DocumentId;
use signpost_shared::peer::Peer;
use signpost_shared::projection::touched_keys;
use signpost_shared::schema::EntryKey;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

/// `meta` key: the tablet's set-up, for background sync (which cannot read the page's storage).
pub const META_SETUP: &str = "setup";
/// `meta` key: when the relay last acknowledged everything (milliseconds since the epoch).
pub const META_LAST_SYNCED: &str = "last-synced";

pub struct Replica {
    pub store: LocalStore,
    pub peer: Rc<RefCell<Peer>>,
    /// Per document: the heads already in local storage and how many change records follow its
    /// base. Knowing them, a save appends only what is new.
    stored: RefCell<HashMap<DocumentId, (Vec<ChangeHash>, u32)>>,
    /// When the relay last acknowledged everything, as last written to storage.
    last_synced: Cell<Option<i64>>,
}

/// The stored "last synced" time is shown to the minute: writing it more often than this would
/// only compete with saves for IndexedDB.
const LAST_SYNCED_EVERY_MS: i64 = 60_000;

impl Replica {
    /// Opens local storage and loads every stored document into a new peer.
    pub async fn open(peer_name: &str) -> Result<Replica, String> {
        let store = LocalStore::open().await?;
        let mut peer = Peer::new(peer_name.into());
        let mut stored = HashMap::new();
        for saved in store.load_all().await? {
            let mut doc = Automerge::new();
            if saved.chunks.iter().all(|c| doc.load_incremental(c).is_ok()) {
                stored.insert(saved.id, (doc.get_heads(), saved.chunks.len() as u32 - 1));
                let _ = peer.insert(saved.id, doc, saved.sync.as_deref());
            }
        }
        let last_synced = store.meta(META_LAST_SYNCED).await?.and_then(|t| t.parse().ok());
        Ok(Replica {
            store,
            peer: Rc::new(RefCell::new(peer)),
            stored: RefCell::new(stored),
            last_synced: Cell::new(last_synced),
        })
    }

    /// Persists what is new in a document, with its sync state; durable when this returns `Ok`.
    pub async fn persist(&self, id: DocumentId) -> Result<(), String> {
        enum Plan {
            Whole(Vec<u8>),
            Append(u32, Vec<u8>),
            SyncOnly,
        }
        let (plan, heads, sync) = {
            let peer = self.peer.borrow();
            let Some(doc) = peer.doc(&id) else { return Ok(()) };
            let heads = doc.get_heads();
            if heads.is_empty() {
                return Ok(());
            }
            let plan = match self.stored.borrow().get(&id) {
                Some((stored, _)) if *stored == heads => Plan::SyncOnly,
                Some((stored, n)) if *n < COMPACT_AFTER => Plan::Append(n + 1, doc.save_after(stored)),
                _ => Plan::Whole(doc.save()),
            };
            (plan, heads, peer.saved_state(&id))
        };
        let n = match plan {
            Plan::Whole(bytes) => {
                self.store.save_whole(&id, &bytes, sync.as_deref()).await?;
                0
            }
            Plan::Append(n, bytes) => {
                self.store.append(&id, n, &bytes, sync.as_deref()).await?;
                n
            }
            Plan::SyncOnly => {
                if let Some(s) = sync {
                    self.store.save_sync(&id, &s).await?;
                }
                return Ok(());
            }
        };
        self.stored.borrow_mut().insert(id, (heads, n));
        Ok(())
    }

    /// When the relay last acknowledged everything, as stored (perhaps by a background sync while
    /// the app was closed).
    pub fn last_synced(&self) -> Option<i64> {
        self.last_synced.get()
    }

    /// Records that the relay acknowledged everything at `at_ms` (stored at most once a minute).
    pub async fn note_synced(&self, at_ms: i64) -> Result<(), String> {
        if self.last_synced.get().is_some_and(|t| at_ms - t < LAST_SYNCED_EVERY_MS) {
            return Ok(());
        }
        self.last_synced.set(Some(at_ms));
        self.store.set_meta(META_LAST_SYNCED, Some(&at_ms.to_string())).await
    }

    /// Referrals (not shifts) in a document whose latest edits the relay has not acknowledged.
    pub fn waiting_referrals(&self, id: &DocumentId) -> usize {
        let peer = self.peer.borrow();
        let Some(doc) = peer.doc(id) else { return 0 };
        touched_keys(doc, &peer.unacknowledged(id)).iter().filter(|k| matches!(k, EntryKey::Referral(_))).count()
    }

    /// Documents holding local changes the relay has not acknowledged.
    pub fn unsynced_docs(&self) -> Vec<DocumentId> {
        let peer = self.peer.borrow();
        peer.doc_ids().into_iter().filter(|id| !peer.unacknowledged(id).is_empty()).collect()
    }
}
