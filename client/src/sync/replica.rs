//! The tablet's copy of its documents: the shared [`Peer`] core over IndexedDB. The desk screen and
//! the service worker's background sync both work through this one type, so that what is stored
//! and how is decided in one place.

use crate::sync::storage::LocalStore;
use signpost_shared::ids::DocumentId;
use signpost_shared::local::{self, Save};
use signpost_shared::peer::Peer;
use signpost_shared::projection::touched_keys;
use signpost_shared::schema::EntryKey;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

/// `meta` key: the tablet's set-up, for background sync (which cannot read the page's storage).
pub const META_SETUP: &str = "setup";
/// `meta` key: when the relay last acknowledged everything (milliseconds since the epoch).
pub const META_LAST_SYNCED: &str = "last-synced";
/// `meta` key: days the server replaced (an entry erased or its notes redacted), one
/// "old new" pair of document ids per line.
pub const META_REPLACED: &str = "replaced";

/// The ids of the referrals of one document waiting to sync.
type WaitingIds = Rc<BTreeSet<String>>;

pub struct Replica {
    pub store: LocalStore,
    pub peer: Rc<RefCell<Peer>>,
    /// Per document: what local storage already holds. Knowing it, a save appends only what is
    /// new.
    stored: RefCell<HashMap<DocumentId, local::Stored>>,
    damaged: Vec<DocumentId>,
    /// Per document: (its heads, the heads the relay acknowledged) and the ids of the referrals
    /// waiting then.
    waiting: RefCell<HashMap<DocumentId, (WaitingKey, WaitingIds)>>,
    /// When the relay last acknowledged everything, as last written to storage.
    last_synced: Cell<Option<i64>>,
    /// Days the server replaced, old id to new (kept: a day's well-known id leads to its
    /// replacement).
    replaced: RefCell<BTreeMap<DocumentId, DocumentId>>,
    /// Documents the server says it removed for good: the only gone ones the tablet forgets
    /// without following them somewhere.
    removed: RefCell<HashSet<DocumentId>>,
}

type WaitingKey = (Vec<automerge::ChangeHash>, Vec<automerge::ChangeHash>);

/// The stored "last synced" time is shown to the minute: writing it more often than this would
/// only compete with saves for IndexedDB.
const LAST_SYNCED_EVERY_MS: i64 = 60_000;

impl Replica {
    /// Opens local storage and loads every stored document into a new peer. A document some of
    /// whose records do not load is used as far as it loads and listed in [`Replica::damaged`];
    /// its records are kept and never saved over ([`local`]).
    pub async fn open(peer_name: &str) -> Result<Replica, String> {
        let store = LocalStore::open().await?;
        let mut peer = Peer::new(peer_name.into());
        let mut stored = HashMap::new();
        let mut damaged = Vec::new();
        for saved in store.load_all().await? {
            let loaded = local::load(&saved.chunks);
            if !loaded.damaged_records.is_empty() {
                damaged.push(saved.id);
            }
            stored.insert(saved.id, loaded.stored);
            let _ = peer.insert(saved.id, loaded.doc, saved.sync.as_deref());
        }
        let last_synced = store.meta(META_LAST_SYNCED).await?.and_then(|t| t.parse().ok());
        let replaced = store.meta(META_REPLACED).await?.unwrap_or_default();
        let replaced = replaced
            .lines()
            .filter_map(|l| {
                let (old, new) = l.split_once(' ')?;
                Some((old.parse().ok()?, new.parse().ok()?))
            })
            .collect();
        Ok(Replica {
            store,
            peer: Rc::new(RefCell::new(peer)),
            stored: RefCell::new(stored),
            damaged,
            waiting: RefCell::default(),
            last_synced: Cell::new(last_synced),
            replaced: RefCell::new(replaced),
            removed: RefCell::default(),
        })
    }

    /// The document that holds a day now: `id`, or what replaced it (and what replaced that).
    pub fn resolve(&self, id: DocumentId) -> DocumentId {
        signpost_shared::replace::resolve(&self.replaced.borrow(), id)
    }

    /// Records that the server replaced `old` by `new`; durable when this returns `Ok`.
    pub async fn note_replaced(&self, old: DocumentId, new: DocumentId) -> Result<(), String> {
        self.replaced.borrow_mut().insert(old, new);
        let text: String = self.replaced.borrow().iter().map(|(o, n)| format!("{o} {n}\n")).collect();
        self.store.set_meta(META_REPLACED, Some(&text)).await
    }

    /// Records that the server removed `id` for good (past the retention period).
    pub fn note_removed(&self, id: DocumentId) {
        self.removed.borrow_mut().insert(id);
    }

    /// Follows the replacement of `old` once `new` has arrived: what the tablet wrote in `old`
    /// that the relay never acknowledged is carried into `new` (except what was erased), `new`
    /// is stored, and only then is `old` removed. What to send; `None` while `new` is empty.
    pub async fn follow(
        &self,
        old: DocumentId,
        new: DocumentId,
    ) -> Result<Option<signpost_shared::peer::Output>, String> {
        let followed = signpost_shared::replace::follow(&mut self.peer.borrow_mut(), old, new);
        let Some((_, out)) = followed.map_err(|e| e.to_string())? else { return Ok(None) };
        self.persist(new).await?;
        self.drop_local(&old).await?;
        Ok(Some(out))
    }

    async fn drop_local(&self, id: &DocumentId) -> Result<(), String> {
        self.store.delete(id).await?;
        self.peer.borrow_mut().remove(id);
        self.stored.borrow_mut().remove(id);
        self.waiting.borrow_mut().remove(id);
        Ok(())
    }

    /// Documents on this tablet some of whose stored records cannot be read.
    pub fn damaged(&self) -> &[DocumentId] {
        &self.damaged
    }

    /// Persists what is new in a document, with its sync state; durable when this returns `Ok`.
    pub async fn persist(&self, id: DocumentId) -> Result<(), String> {
        let (save, next, sync) = {
            let peer = self.peer.borrow();
            let Some(doc) = peer.doc(&id) else { return Ok(()) };
            let stored = self.stored.borrow();
            let save = local::plan(doc, stored.get(&id));
            let next = local::after(doc, stored.get(&id), &save);
            (save, next, peer.saved_state(&id))
        };
        match &save {
            Save::Whole(bytes) => self.store.save_whole(&id, bytes, sync.as_deref()).await?,
            Save::Append(n, bytes) => self.store.append(&id, *n, bytes, sync.as_deref()).await?,
            Save::Nothing => {
                if let Some(s) = sync.filter(|_| next.is_some()) {
                    self.store.save_sync(&id, &s).await?;
                }
                return Ok(());
            }
        }
        if let Some(next) = next {
            self.stored.borrow_mut().insert(id, next);
        }
        // Two saves of one document can be under way at once (a change, then the relay's
        // acknowledgement before the change's save finished): whichever ends last must leave the
        // newest sync state stored, or a reload finds acknowledged entries still waiting.
        let now = self.peer.borrow().saved_state(&id);
        if now.is_some() && now != sync {
            self.store.save_sync(&id, now.as_deref().unwrap_or_default()).await?;
        }
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

    /// How many referrals (not shifts) of a document wait to sync: see [`Replica::waiting_ids`].
    pub fn waiting_referrals(&self, id: &DocumentId) -> usize {
        self.waiting_ids(id).len()
    }

    /// The referrals (not shifts) in a document whose latest edits the relay has not
    /// acknowledged. Listed again only when the document or what the relay acknowledged
    /// changed: the desk shows them on every render, and a tablet may hold many unsynced days.
    pub fn waiting_ids(&self, id: &DocumentId) -> Rc<BTreeSet<String>> {
        let peer = self.peer.borrow();
        let Some(doc) = peer.doc(id) else { return Rc::default() };
        if peer.is_synced(id) {
            return Rc::default();
        }
        let key = (doc.get_heads(), peer.acknowledged_heads(id).to_vec());
        if let Some((k, ids)) = self.waiting.borrow().get(id) {
            if *k == key {
                return ids.clone();
            }
        }
        let referrals = |keys: &mut dyn Iterator<Item = EntryKey>| -> BTreeSet<String> {
            keys.filter_map(|k| match k {
                EntryKey::Referral(r) => Some(r),
                EntryKey::Shift(_) => None,
            })
            .collect()
        };
        // Nothing of it acknowledged (a day logged offline): every entry waits, and listing the
        // entries is far cheaper than reading every change.
        let ids = Rc::new(if key.1.is_empty() {
            referrals(&mut signpost_shared::schema::entry_keys(doc).into_iter())
        } else {
            referrals(&mut touched_keys(doc, &peer.unacknowledged(id)).into_iter())
        });
        self.waiting.borrow_mut().insert(*id, (key, ids.clone()));
        ids
    }

    /// Referrals waiting to sync in every document on the tablet.
    pub fn waiting_total(&self) -> usize {
        let ids = self.peer.borrow().doc_ids();
        ids.iter().map(|id| self.waiting_referrals(id)).sum()
    }

    /// Removes what the tablet no longer keeps ([`local::to_forget`]) from memory and storage.
    pub async fn forget_old(
        &self,
        site: &str,
        today: chrono::NaiveDate,
        days: u32,
        keep: &[DocumentId],
    ) -> Result<(), String> {
        // A day the relay says is gone stays until the server says why: replaced days are
        // followed (their unsynced entries carried over), only removed ones are forgotten.
        let mut keep = keep.to_vec();
        let ids = {
            let peer = self.peer.borrow();
            let removed = self.removed.borrow();
            keep.extend(peer.doc_ids().into_iter().filter(|id| peer.is_gone(id) && !removed.contains(id)));
            local::to_forget(&peer, site, today, days, &keep, &|id| self.resolve(id))
        };
        for id in ids {
            self.drop_local(&id).await?;
        }
        Ok(())
    }

    /// Documents holding local changes the relay has not acknowledged.
    pub fn unsynced_docs(&self) -> Vec<DocumentId> {
        let peer = self.peer.borrow();
        peer.doc_ids().into_iter().filter(|id| !peer.unacknowledged(id).is_empty()).collect()
    }
}
