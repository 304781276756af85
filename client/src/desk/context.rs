//! The desk's context, shared by its components: the set-up, the replica of documents, the
//! connection, and the day the desk is on (it follows the tablet's clock).

use crate::credential::Setup;
use crate::lang::l;
use crate::sync::background;
use crate::sync::connection::{fate, follow_up_days, Connection, Fate};
use crate::sync::random_suffix;
use crate::sync::replica::{Replica, META_SETUP};
use automerge::Automerge;
use chrono::NaiveDate;
use signpost_shared::ids::DocumentId;
use signpost_shared::schema::{self, Header};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Everything the desk needs once local storage is open.
pub(super) struct Ctx {
    pub(super) setup: Setup,
    pub(super) rep: Replica,
    pub(super) conn: RefCell<Option<Connection>>,
    /// The day the desk is on and its document. It follows the tablet's clock: a desk left open
    /// past midnight files what comes next under the new day.
    pub(super) day: Cell<(NaiveDate, DocumentId)>,
    pub(super) directory: DocumentId,
    /// Days being followed to their replacements, old id to new, until the new one arrives.
    following: RefCell<Vec<(DocumentId, DocumentId)>>,
    /// Days the relay refused or set aside, with what it said (a code the desk words).
    problems: RefCell<std::collections::BTreeMap<DocumentId, String>>,
}

/// A day the relay would not count as it is: its date (from its header) and the relay's code
/// (`set-aside`, or why it refused it).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct DayProblem {
    pub(super) date: Option<NaiveDate>,
    pub(super) code: String,
}

impl Ctx {
    pub(super) async fn persist(&self, id: DocumentId) -> Result<(), String> {
        self.rep.persist(id).await
    }

    /// Records a local change all or nothing, makes it durable on the tablet, and only then sends
    /// it. The error is what to tell the volunteer.
    pub(super) async fn commit(
        &self,
        doc: DocumentId,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), automerge::AutomergeError>,
    ) -> Result<(), String> {
        let out = match self.rep.peer.borrow_mut().try_change(doc, f) {
            Ok(Ok(((), out))) => out,
            _ => {
                return Err(l(
                    "The change could not be recorded. Try again.",
                    "Nid oedd modd cofnodi'r newid. Rhowch gynnig arall arni.",
                )
                .into())
            }
        };
        self.persist(doc).await.map_err(|e| {
            if crate::lang::cy() {
                format!("Nid oedd modd cadw'r newid ar y dabled hon ({e}). Cadwch yr ap ar agor a rhowch gynnig arall arni.")
            } else {
                format!("The change could not be stored on this tablet ({e}). Keep the app open and try again.")
            }
        })?;
        if !self.rep.peer.borrow().is_connected() {
            background::request();
        }
        if let Some(conn) = self.conn.borrow().as_ref() {
            conn.deliver(out);
        }
        Ok(())
    }

    /// Removes the days the tablet no longer needs: older than the scheme's number of days (7
    /// until its directory says), with everything in them acknowledged by the relay.
    pub(super) async fn forget_old_days(&self) -> Result<(), String> {
        let days = self.rep.peer.borrow().doc(&self.directory).and_then(schema::read_tablet_days).unwrap_or(7);
        let (on, today) = self.day.get();
        self.rep.forget_old(&self.setup.site, on, days, &[self.directory, today]).await
    }

    /// The relay says a document the tablet holds is unavailable: the server says why. A day it
    /// replaced (an entry erased or its notes redacted) is followed to its replacement; one it
    /// removed for good is forgotten. Asked again on a later connection if the server could not
    /// be reached.
    pub(super) async fn on_unavailable(&self, id: DocumentId) -> Result<(), String> {
        let held = self.rep.peer.borrow().doc(&id).is_some();
        if !held || self.following.borrow().iter().any(|(old, _)| *old == id) {
            return Ok(());
        }
        match fate(&self.setup.token, &id).await {
            Some(Fate::Replaced(new)) => {
                self.rep.note_replaced(id, new).await?;
                self.following.borrow_mut().push((id, new));
                self.fetch(new);
                self.arrived(new).await
            }
            Some(Fate::Removed) => {
                self.rep.note_removed(id);
                self.forget_old_days().await
            }
            None => Ok(()),
        }
    }

    /// Fetches the site's days with open follow-ups that the tablet does not hold (set up after
    /// they were logged, or past its window), so that its follow-up list is the desk's.
    pub(super) async fn fetch_follow_ups(&self) {
        for id in follow_up_days(&self.setup.token).await.unwrap_or_default() {
            self.fetch(id);
        }
    }

    /// The open follow-ups of every day the tablet holds: (the day's document, the referral),
    /// oldest first.
    pub(super) fn open_follow_ups(&self) -> Vec<(DocumentId, schema::Referral)> {
        let peer = self.rep.peer.borrow();
        let mut out: Vec<(DocumentId, schema::Referral)> = Vec::new();
        for id in peer.doc_ids() {
            let Some(doc) = peer.doc(&id).filter(|_| id != self.directory) else { continue };
            for key in schema::entry_keys(doc) {
                let schema::EntryKey::Referral(r) = key else { continue };
                if let Ok(Some(r)) = schema::read_referral(doc, &r) {
                    if r.follow_up && r.follow_up_closed.is_none() && r.void.is_none() {
                        out.push((id, r));
                    }
                }
            }
        }
        out.sort_by_key(|(_, r)| r.recorded_at_ms);
        out
    }

    /// Asks the relay for a document the tablet does not hold (sent now if connected, else
    /// when it connects).
    fn fetch(&self, id: DocumentId) {
        if self.rep.peer.borrow().doc(&id).is_some() {
            return;
        }
        let out = self.rep.peer.borrow_mut().find(id);
        if let Some(conn) = self.conn.borrow().as_ref() {
            conn.deliver(out);
        }
    }

    /// A document arrived or changed: if it replaces a day being followed, the tablet's unsynced
    /// entries of the old day are carried into it and the old day goes.
    pub(super) async fn arrived(&self, new: DocumentId) -> Result<(), String> {
        let olds: Vec<DocumentId> =
            self.following.borrow().iter().filter(|(_, n)| *n == new).map(|(old, _)| *old).collect();
        for old in olds {
            let Some(out) = self.rep.follow(old, new).await? else { continue };
            self.following.borrow_mut().retain(|(o, _)| *o != old);
            let (on, day) = self.day.get();
            if day == old {
                self.day.set((on, new));
            }
            if let Some(conn) = self.conn.borrow().as_ref() {
                conn.deliver(out);
            }
        }
        Ok(())
    }

    /// The desk's site as its coordinator last set it: its name (renamed since enrolment, maybe)
    /// and whether it is closed.
    pub(super) fn site(&self) -> schema::SiteState {
        let peer = self.rep.peer.borrow();
        let known = peer.doc(&self.directory).and_then(|d| schema::read_site(d, &self.setup.site));
        known.unwrap_or_else(|| schema::SiteState { name: self.setup.site_name.clone(), closed: false })
    }

    /// The relay refused a day, or set it aside: the desk says so, in words for the volunteer.
    pub(super) fn note_problem(&self, id: DocumentId, code: &str) {
        self.problems.borrow_mut().insert(id, code.to_owned());
    }

    /// The relay took everything of a day: whatever it refused before is past. (A day set aside
    /// stays so: it is stored, and not counted.)
    pub(super) fn clear_problem(&self, id: DocumentId) {
        let mut p = self.problems.borrow_mut();
        if p.get(&id).is_some_and(|c| c != signpost_shared::relay::SET_ASIDE) {
            p.remove(&id);
        }
    }

    /// The days the relay refused or set aside that the tablet still holds, oldest first.
    pub(super) fn problems(&self) -> Vec<DayProblem> {
        let peer = self.rep.peer.borrow();
        let mut out: Vec<DayProblem> = self
            .problems
            .borrow()
            .iter()
            .filter_map(|(id, code)| {
                let doc = peer.doc(id)?;
                Some(DayProblem { date: schema::read_header(doc).ok().and_then(|h| h.date), code: code.clone() })
            })
            .collect();
        out.sort_by(|a, b| a.date.cmp(&b.date));
        out
    }

    /// Referrals (not shifts), of any day, whose latest edits the relay has not acknowledged.
    pub(super) fn waiting(&self) -> usize {
        self.rep.waiting_total()
    }

    /// The document of the day it is now on the tablet's clock, opened here if the day has just
    /// begun.
    pub(super) fn today(&self) -> DocumentId {
        let date = today();
        let (on, id) = self.day.get();
        if on == date {
            return id;
        }
        let (id, _) = self.open_day(date);
        self.day.set((date, id));
        id
    }

    /// Opens a day's document: created on this tablet if it has none, or given its header again
    /// if only part of a damaged copy loaded (the same values, so it merges with the relay's
    /// copy); sent at once when connected. `true` if it changed here.
    pub(super) fn open_day(&self, date: NaiveDate) -> (DocumentId, bool) {
        let header = Header::desk_day(&self.setup.scheme, &self.setup.site, date);
        let id = self.rep.resolve(header.well_known_id());
        if id != header.well_known_id() {
            // A day the server replaced: its document comes from the relay, whole.
            self.fetch(id);
            return (id, false);
        }
        // (A look for the type field, not a full header read: that would add to the download.)
        let has_header = self.rep.peer.borrow().doc(&id).map(|d| {
            use automerge::ReadDoc;
            d.get(automerge::ROOT, "type").ok().flatten().is_some()
        });
        let out = match has_header {
            None => Some(self.rep.peer.borrow_mut().insert(id, day_document(&header), None)),
            Some(false) => {
                let mut peer = self.rep.peer.borrow_mut();
                peer.try_change(id, |tx| schema::write_header(tx, &header)).ok().and_then(Result::ok).map(|((), o)| o)
            }
            Some(true) => None,
        };
        let changed = out.is_some();
        if let (Some(out), Some(conn)) = (out, self.conn.borrow().as_ref()) {
            conn.deliver(out);
        }
        (id, changed)
    }
}

/// A new desk-day document: its header only.
pub(super) fn day_document(header: &Header) -> Automerge {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    // Cannot fail on an empty document. (No `expect`: formatting automerge's error would add
    // to the download.)
    let _ = schema::write_header(&mut tx, header);
    tx.commit();
    doc
}

pub(super) fn today() -> NaiveDate {
    let d = js_sys::Date::new_0();
    chrono::NaiveDate::from_ymd_opt(d.get_full_year() as i32, d.get_month() + 1, d.get_date()).expect("valid date")
}

/// Asks the browser to keep this site's data even when space runs low. `Some(false)`: the browser
/// said no, and may evict entries that have not synced.
pub(super) async fn ask_persistent_storage() -> Option<bool> {
    let storage = web_sys::window()?.navigator().storage();
    let already = wasm_bindgen_futures::JsFuture::from(storage.persisted().ok()?).await.ok()?.as_bool();
    if already == Some(true) {
        return Some(true);
    }
    wasm_bindgen_futures::JsFuture::from(storage.persist().ok()?).await.ok()?.as_bool()
}

pub(super) async fn open(setup: Setup) -> Result<Rc<Ctx>, String> {
    let rep = Replica::open(&format!("tablet-{}", random_suffix())).await?;
    // Background sync runs in the service worker, which cannot read the page's local storage.
    rep.store.set_meta(META_SETUP, Some(&setup.encode())).await?;
    let date = today();
    let directory = schema::directory_id(&setup.scheme);
    let id = rep.resolve(Header::desk_day(&setup.scheme, &setup.site, date).well_known_id());
    let ctx = Rc::new(Ctx {
        setup,
        rep,
        conn: RefCell::new(None),
        day: Cell::new((date, id)),
        directory,
        following: RefCell::default(),
        problems: RefCell::default(),
    });
    let (today, changed) = ctx.open_day(date);
    if changed {
        ctx.persist(today).await?;
    }
    if ctx.rep.peer.borrow().doc(&directory).is_none() {
        let _ = ctx.rep.peer.borrow_mut().find(directory);
    }
    ctx.forget_old_days().await?;
    Ok(ctx)
}

/// Shared context handed to child components (compared by identity).
#[derive(Clone)]
pub(super) struct CtxRef(pub(super) Rc<Ctx>);

impl PartialEq for CtxRef {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}
