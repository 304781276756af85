//! The desk screen: sync state, log a referral, today's desk log.

use crate::app::{focus_error_summary, random_suffix};
use crate::background;
use crate::connection::{Connection, Status};
use crate::credential::Setup;
use crate::replica::{Replica, META_SETUP};
use automerge::Automerge;
use chrono::NaiveDate;
use signpost_shared::ids::DocumentId;
use signpost_shared::peer::Event;
use signpost_shared::schema::{self, AgencyRef, EntryKey, Header, Referral, Shift};
use signpost_shared::vocab::{AgeBand, Category, HelpKind, Helped};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wasm_bindgen::JsCast;
use yew::prelude::*;

/// Everything the desk needs once local storage is open.
struct Ctx {
    setup: Setup,
    rep: Replica,
    conn: RefCell<Option<Connection>>,
    /// The day the desk is on and its document. It follows the tablet's clock: a desk left open
    /// past midnight files what comes next under the new day.
    day: Cell<(NaiveDate, DocumentId)>,
    directory: DocumentId,
}

impl Ctx {
    async fn persist(&self, id: DocumentId) -> Result<(), String> {
        self.rep.persist(id).await
    }

    /// Records a local change all or nothing, makes it durable on the tablet, and only then sends
    /// it. The error is what to tell the volunteer.
    async fn commit(
        &self,
        doc: DocumentId,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), automerge::AutomergeError>,
    ) -> Result<(), String> {
        let out = match self.rep.peer.borrow_mut().try_change(doc, f) {
            Ok(Ok(((), out))) => out,
            _ => return Err("The change could not be recorded. Try again.".into()),
        };
        self.persist(doc).await.map_err(|e| {
            format!("The change could not be stored on this tablet ({e}). Keep the app open and try again.")
        })?;
        if !self.rep.peer.borrow().is_connected() {
            background::request();
        }
        if let Some(conn) = self.conn.borrow().as_ref() {
            conn.deliver(out);
        }
        Ok(())
    }

    /// Referrals (not shifts), of any day, whose latest edits the relay has not acknowledged.
    fn waiting(&self) -> usize {
        self.rep.waiting_total()
    }

    /// The document of the day it is now on the tablet's clock, opened here if the day has just
    /// begun.
    fn today(&self) -> DocumentId {
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
    fn open_day(&self, date: NaiveDate) -> (DocumentId, bool) {
        let header = Header::desk_day(&self.setup.scheme, &self.setup.site, date);
        let id = header.well_known_id();
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
fn day_document(header: &Header) -> Automerge {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    // Cannot fail on an empty document. (No `expect`: formatting automerge's error would add
    // to the download.)
    let _ = schema::write_header(&mut tx, header);
    tx.commit();
    doc
}

fn today() -> NaiveDate {
    let d = js_sys::Date::new_0();
    chrono::NaiveDate::from_ymd_opt(d.get_full_year() as i32, d.get_month() + 1, d.get_date()).expect("valid date")
}

/// The shift running on this tablet: who is on the desk, kept in local storage so that a reload
/// or a flat battery does not lose it. The shift itself is an entry of the day's document.
#[derive(Clone, Debug, PartialEq)]
struct OnDesk {
    volunteer: String,
    shift: String,
    start_ms: i64,
    doc: DocumentId,
}

const ON_DESK: &str = "signpost.on-desk";

fn local() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn load_on_desk() -> Option<OnDesk> {
    let raw = local()?.get_item(ON_DESK).ok().flatten()?;
    let mut it = raw.split('\n');
    Some(OnDesk {
        volunteer: it.next()?.to_owned(),
        shift: it.next()?.to_owned(),
        start_ms: it.next()?.parse().ok()?,
        doc: it.next()?.parse().ok()?,
    })
}

fn store_on_desk(d: Option<&OnDesk>) {
    if let Some(s) = local() {
        let _ = match d {
            Some(d) => s.set_item(ON_DESK, &format!("{}\n{}\n{}\n{}", d.volunteer, d.shift, d.start_ms, d.doc)),
            None => s.remove_item(ON_DESK),
        };
    }
}

/// Timing marks (`performance.measure`) that benchmarks and the browser's tools can read.
fn mark(name: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.mark(name);
    }
}

fn measure(name: &str, since: &str) {
    if let Some(p) = web_sys::window().and_then(|w| w.performance()) {
        let _ = p.measure_with_start_mark(name, since);
    }
}

fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

fn clock(ms: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    format!("{:02}:{:02}", d.get_hours(), d.get_minutes())
}

/// Asks the browser to keep this site's data even when space runs low. `Some(false)`: the browser
/// said no, and may evict entries that have not synced.
async fn ask_persistent_storage() -> Option<bool> {
    let storage = web_sys::window()?.navigator().storage();
    let already = wasm_bindgen_futures::JsFuture::from(storage.persisted().ok()?).await.ok()?.as_bool();
    if already == Some(true) {
        return Some(true);
    }
    wasm_bindgen_futures::JsFuture::from(storage.persist().ok()?).await.ok()?.as_bool()
}

async fn open(setup: Setup) -> Result<Rc<Ctx>, String> {
    let rep = Replica::open(&format!("tablet-{}", random_suffix())).await?;
    // Background sync runs in the service worker, which cannot read the page's local storage.
    rep.store.set_meta(META_SETUP, Some(&setup.encode())).await?;
    let date = today();
    let directory = schema::directory_id(&setup.scheme);
    let id = Header::desk_day(&setup.scheme, &setup.site, date).well_known_id();
    let ctx = Rc::new(Ctx { setup, rep, conn: RefCell::new(None), day: Cell::new((date, id)), directory });
    let (today, changed) = ctx.open_day(date);
    if changed {
        ctx.persist(today).await?;
    }
    if ctx.rep.peer.borrow().doc(&directory).is_none() {
        let _ = ctx.rep.peer.borrow_mut().find(directory);
    }
    Ok(ctx)
}

#[derive(Properties, PartialEq)]
pub struct DeskProps {
    pub setup: Setup,
    pub on_forget: Callback<()>,
}

#[function_component(Desk)]
pub fn desk(props: &DeskProps) -> Html {
    let ctx = use_state(|| None::<Rc<Ctx>>);
    let failure = use_state(|| None::<String>);
    let status = use_state(|| Status::Connecting);
    let version = use_state(|| 0u32);
    let last_synced = use_state(|| None::<i64>);
    // The entry being corrected: its document (the day it was logged) and id.
    let editing = use_state(|| None::<(DocumentId, String)>);
    let notice = use_state(|| None::<String>);
    let persistent = use_state(|| None::<bool>);
    {
        let persistent = persistent.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move { persistent.set(ask_persistent_storage().await) });
        });
    }
    {
        let (ctx, failure, status, version, last_synced) =
            (ctx.clone(), failure.clone(), status.clone(), version.clone(), last_synced.clone());
        use_effect_with(props.setup.clone(), move |setup: &Setup| {
            let setup = setup.clone();
            let holder: Rc<RefCell<Option<Rc<Ctx>>>> = Rc::default();
            let h = holder.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match open(setup.clone()).await {
                    Err(e) => failure.set(Some(e)),
                    Ok(c) => {
                        last_synced.set(c.rep.last_synced());
                        let weak = Rc::downgrade(&c);
                        let on_event = Callback::from(move |e: Event| {
                            let Some(c) = weak.upgrade() else { return };
                            match e {
                                Event::Changed(id) | Event::Synced(id) => {
                                    let synced_at = matches!(e, Event::Synced(_)).then(now_ms);
                                    if synced_at.is_some() {
                                        last_synced.set(synced_at);
                                    }
                                    let v = version.clone();
                                    wasm_bindgen_futures::spawn_local(async move {
                                        let _ = c.persist(id).await;
                                        if let Some(t) = synced_at {
                                            let _ = c.rep.note_synced(t).await;
                                        }
                                        v.set(*v + 1);
                                    });
                                }
                                _ => {}
                            }
                        });
                        let (s, weak) = (status.clone(), Rc::downgrade(&c));
                        let on_status = Callback::from(move |st: Status| {
                            // Entries waiting and no connection: the service worker sends them
                            // when the network returns, even if the app is closed by then.
                            if matches!(st, Status::Offline { .. } | Status::Refused { .. }) && weak.upgrade().is_some_and(|c| c.waiting() > 0) {
                                background::request();
                            }
                            s.set(st)
                        });
                        let conn = Connection::start(&setup.token, c.rep.peer.clone(), on_status, on_event);
                        *c.conn.borrow_mut() = Some(conn);
                        *h.borrow_mut() = Some(c.clone());
                        ctx.set(Some(c));
                        mark("signpost:desk-ready");
                    }
                }
            });
            move || {
                if let Some(c) = holder.borrow().as_ref() {
                    if let Some(conn) = c.conn.borrow().as_ref() {
                        conn.stop();
                    }
                }
            }
        });
    }
    {
        // The desk follows the clock: past midnight it shows and files under the new day, even
        // if nobody touches the tablet.
        let version = version.clone();
        let weak = (*ctx).as_ref().map(Rc::downgrade);
        use_effect_with((*ctx).as_ref().map(|c| Rc::as_ptr(c) as usize), move |_| {
            if let Some(weak) = weak {
                // Ends by itself once the desk (and so its context) is gone.
                wasm_bindgen_futures::spawn_local(async move {
                    loop {
                        gloo_timers::future::TimeoutFuture::new(20_000).await;
                        let Some(c) = weak.upgrade() else { return };
                        let before = c.day.get().0;
                        c.today();
                        if c.day.get().0 != before {
                            version.set(*version + 1);
                        }
                    }
                });
            }
        });
    }
    let Some(c) = (*ctx).clone() else {
        return match (*failure).clone() {
            Some(e) => html! {
                <div class="govuk-error-summary" role="alert">
                    <h2 class="govuk-error-summary__title">{ "Signpost cannot store entries on this tablet" }</h2>
                    <div class="govuk-error-summary__body"><p class="govuk-body">{ e }</p></div>
                </div>
            },
            None => html! { <p class="govuk-body">{ "Opening the desk log…" }</p> },
        };
    };
    let bump = {
        let (version, editing, notice) = (version.clone(), editing.clone(), notice.clone());
        Callback::from(move |msg: String| {
            editing.set(None);
            notice.set(Some(msg));
            version.set(*version + 1)
        })
    };
    let on_edit = {
        let (editing, notice) = (editing.clone(), notice.clone());
        Callback::from(move |entry: Option<(DocumentId, String)>| {
            notice.set(None);
            editing.set(entry);
            scroll_to("log-heading");
        })
    };
    let current = (*editing).as_ref().and_then(|(doc, id)| {
        let r = c.rep.peer.borrow().doc(doc).and_then(|d| schema::read_referral(d, id).ok().flatten());
        r.map(|r| (*doc, r))
    });
    html! {
        <>
            <h1 class="govuk-heading-l">
                { c.setup.site_name.clone() }
                <span class="govuk-caption-m">{ c.setup.scheme_name.clone() }</span>
            </h1>
            <SyncState status={(*status).clone()} waiting={c.waiting()} last_synced={*last_synced} />
            if *persistent == Some(false) {
                { warning("storage-warning", "This browser may clear Signpost's saved entries if the tablet runs low on space. Add Signpost to the home screen, and let entries sync before closing it for long.") }
            }
            if *status == Status::Revoked {
                <div class="govuk-notification-banner" role="region" aria-labelledby="revoked-title" id="revoked">
                    <div class="govuk-notification-banner__header">
                        <h2 class="govuk-notification-banner__title" id="revoked-title">{ "Important" }</h2>
                    </div>
                    <div class="govuk-notification-banner__content">
                        <p class="govuk-notification-banner__heading">{ "This tablet's access to Signpost has been removed" }</p>
                        <p class="govuk-body">
                            { "Your coordinator revoked it, for example because it was reported lost. " }
                            { match c.waiting() {
                                0 => "Everything saved on this tablet had already been sent.".to_owned(),
                                1 => "1 entry saved on this tablet has not been sent. It is kept here: nothing is deleted.".to_owned(),
                                n => format!("{n} entries saved on this tablet have not been sent. They are kept here: nothing is deleted."),
                            } }
                        </p>
                        <p class="govuk-body">{ "To send them, ask your coordinator for a new enrolment code for this desk, then choose Enrol again." }</p>
                        <button type="button" class="govuk-button" onclick={props.on_forget.reform(|_: MouseEvent| ())}>
                            { "Enrol again" }
                        </button>
                    </div>
                </div>
            }
            if matches!(*status, Status::Refused { .. }) {
                { warning("refused-warning", "Signpost's server keeps refusing entries from this tablet. They are kept here: keep working, do not remove this tablet's set-up, and tell your coordinator, who can see this tablet's problem in the list of tablets.") }
            }
            if !c.rep.damaged().is_empty() {
                { warning("damaged-warning", "Some entries saved on this tablet could not be read back. They are kept: do not remove this tablet's set-up or clear its data, and tell your coordinator. Entries already synced are safe.") }
            }
            <Roster ctx={CtxRef(c.clone())} version={*version} on_saved={bump.clone()} />
            if let Some(msg) = (*notice).clone() {
                <div class="govuk-notification-banner govuk-notification-banner--success" role="alert" aria-labelledby="saved-title">
                    <div class="govuk-notification-banner__header">
                        <h2 class="govuk-notification-banner__title" id="saved-title">{ "Success" }</h2>
                    </div>
                    <div class="govuk-notification-banner__content">
                        <p class="govuk-notification-banner__heading" id="saved-message">{ msg }</p>
                    </div>
                </div>
            }
            <LogReferral
                key={current.as_ref().map(|(_, r)| r.id.clone()).unwrap_or_else(|| "new".into())}
                ctx={CtxRef(c.clone())}
                editing={current.clone()}
                on_saved={bump}
                on_cancel={on_edit.reform(|_| None)}
            />
            <TodaysLog ctx={CtxRef(c.clone())} version={*version} on_edit={on_edit.reform(Some)} />
            <details class="govuk-details">
                <summary class="govuk-details__summary">
                    <span class="govuk-details__summary-text">{ "Tablet settings" }</span>
                </summary>
                <div class="govuk-details__text">
                    <p class="govuk-body">
                        { "Remove the set-up only if this tablet is leaving the desk. Entries already saved stay on the tablet." }
                    </p>
                    <button type="button" class="govuk-button govuk-button--warning" onclick={props.on_forget.reform(|_: MouseEvent| ())}>
                        { "Remove this tablet's set-up" }
                    </button>
                </div>
            </details>
        </>
    }
}

/// Shared context handed to child components (compared by identity).
#[derive(Clone)]
struct CtxRef(Rc<Ctx>);

impl PartialEq for CtxRef {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

#[derive(Properties, PartialEq)]
struct SyncStateProps {
    status: Status,
    waiting: usize,
    last_synced: Option<i64>,
}

#[function_component(SyncState)]
fn sync_state(p: &SyncStateProps) -> Html {
    let waiting = match p.waiting {
        0 => "Everything is saved on this tablet and synced.".to_owned(),
        1 => "Saved on this tablet. 1 entry waiting to sync.".to_owned(),
        n => format!("Saved on this tablet. {n} entries waiting to sync."),
    };
    let (class, tag, line) = match &p.status {
        Status::Online => {
            ("govuk-tag govuk-tag--green", "Online", p.last_synced.map(|t| format!("Last synced at {}.", clock(t))))
        }
        Status::Connecting => ("govuk-tag govuk-tag--blue", "Connecting", None),
        Status::Offline { retry_in_s } => (
            "govuk-tag govuk-tag--grey",
            "Offline",
            Some(format!("You can keep working. Trying to connect again in {}.", seconds(*retry_in_s))),
        ),
        Status::Refused { retry_in_s } => (
            "govuk-tag govuk-tag--red",
            "Not syncing",
            Some(format!("Trying again in {}.", seconds(*retry_in_s))),
        ),
        Status::Revoked => ("govuk-tag govuk-tag--red", "Access removed", Some("Not syncing.".to_owned())),
    };
    let waiting = if p.waiting == 0 && !matches!(p.status, Status::Online) {
        "Everything is saved on this tablet.".to_owned()
    } else {
        waiting
    };
    html! {
        <div class="signpost-sync" role="status" aria-live="polite">
            <strong id="sync-state" class={class}>{ tag }</strong>
            <p class="govuk-body govuk-!-margin-top-2" id="sync-detail">
                { waiting } { " " } { line.unwrap_or_default() }
            </p>
        </div>
    }
}

fn seconds(n: u32) -> String {
    format!("{n} second{}", if n == 1 { "" } else { "s" })
}

/// The GOV.UK warning text pattern.
fn warning(id: &'static str, text: &'static str) -> Html {
    html! {
        <div class="govuk-warning-text" id={id}>
            <span class="govuk-warning-text__icon" aria-hidden="true">{ "!" }</span>
            <strong class="govuk-warning-text__text">
                <span class="govuk-visually-hidden">{ "Warning" }</span>
                { text }
            </strong>
        </div>
    }
}

fn scroll_to(id: &str) {
    if let Some(el) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(id)) {
        el.scroll_into_view();
    }
}

#[derive(Properties, PartialEq)]
struct FormProps {
    ctx: CtxRef,
    /// The entry being corrected, with the document it is in, if any; otherwise a new referral.
    editing: Option<(DocumentId, Referral)>,
    /// Called with what to tell the volunteer once the change is durable on the tablet.
    on_saved: Callback<String>,
    on_cancel: Callback<()>,
}

fn radios(
    name: &'static str,
    legend: &'static str,
    items: Vec<(&'static str, &'static str)>,
    error: Option<&str>,
) -> Html {
    html! {
        <div class={classes!("govuk-form-group", error.is_some().then_some("govuk-form-group--error"))} id={format!("{name}-group")}>
            <fieldset class="govuk-fieldset">
                <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">{ legend }</legend>
                if let Some(e) = error {
                    <p class="govuk-error-message"><span class="govuk-visually-hidden">{ "Error: " }</span>{ e.to_owned() }</p>
                }
                <div class="govuk-radios" data-module="govuk-radios">
                    { for items.into_iter().enumerate().map(|(i, (code, label))| {
                        let id = if i == 0 { name.to_owned() } else { format!("{name}-{code}") };
                        html! {
                            <div class="govuk-radios__item">
                                <input class="govuk-radios__input" id={id.clone()} name={name} type="radio" value={code} />
                                <label class="govuk-label govuk-radios__label" for={id}>{ label }</label>
                            </div>
                        }
                    }) }
                </div>
            </fieldset>
        </div>
    }
}

#[function_component(LogReferral)]
fn log_referral(p: &FormProps) -> Html {
    let errors = use_state(Vec::<(&'static str, String)>::new);
    let form = use_node_ref();
    let agencies = {
        let peer = p.ctx.0.rep.peer.borrow();
        peer.doc(&p.ctx.0.directory).map(schema::read_agencies).unwrap_or_default()
    };
    let onsubmit = {
        let (errors, form, ctx, on_saved) = (errors.clone(), form.clone(), p.ctx.0.clone(), p.on_saved.clone());
        let editing = p.editing.clone();
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            mark("signpost:save-start");
            let Some(el) = form.cast::<web_sys::HtmlFormElement>() else { return };
            let Ok(data) = web_sys::FormData::new_with_form(&el) else { return };
            let get = |k: &str| data.get(k).as_string().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
            let mut errs: Vec<(&'static str, String)> = Vec::new();
            let helped = get("helped").and_then(|h| Helped::from_code(&h));
            if helped.is_none() {
                errs.push(("helped", "Select who was helped".into()));
            }
            let categories: std::collections::BTreeSet<Category> = data
                .get_all("category")
                .iter()
                .filter_map(|v| v.as_string())
                .filter_map(|c| Category::from_code(&c))
                .collect();
            if categories.is_empty() {
                errs.push(("category", "Select at least one thing they needed help with".into()));
            }
            let agency = match get("agency").as_deref() {
                Some("other") => match get("agency-other") {
                    Some(o) if o.chars().count() <= schema::MAX_TEXT_CHARS => Some(AgencyRef::Other(o)),
                    Some(_) => {
                        errs.push((
                            "agency-other",
                            format!("The agency's name must be {} characters or fewer", schema::MAX_TEXT_CHARS),
                        ));
                        None
                    }
                    None => {
                        errs.push(("agency-other", "Enter the name of the agency".into()));
                        None
                    }
                },
                Some(a) => Some(AgencyRef::Directory(a.to_owned())),
                None => {
                    errs.push(("agency", "Select the agency they were signposted to".into()));
                    None
                }
            };
            let help = get("help").and_then(|h| HelpKind::from_code(&h));
            if help.is_none() {
                errs.push(("help", "Select the kind of help given".into()));
            }
            let follow_up = match get("follow-up").as_deref() {
                Some("yes") => Some(true),
                Some("no") => Some(false),
                _ => {
                    errs.push(("follow-up", "Select whether follow-up is needed".into()));
                    None
                }
            };
            let notes = get("notes");
            if notes.as_ref().is_some_and(|n| n.chars().count() > schema::MAX_NOTES_CHARS) {
                errs.push(("notes", format!("Notes must be {} characters or fewer", schema::MAX_NOTES_CHARS)));
            }
            if !errs.is_empty() {
                errors.set(errs);
                focus_error_summary();
                return;
            }
            let (id, recorded_at_ms, volunteer) = match &editing {
                Some((_, r)) => (r.id.clone(), r.recorded_at_ms, r.volunteer.clone()),
                None => (format!("{}-{}", now_ms(), random_suffix()), now_ms(), load_on_desk().map(|d| d.volunteer)),
            };
            let referral = Referral {
                id,
                recorded_at_ms,
                volunteer,
                helped: helped.expect("checked"),
                age_band: get("age-band").and_then(|a| AgeBand::from_code(&a)),
                categories,
                agency: agency.expect("checked"),
                help: help.expect("checked"),
                follow_up: follow_up.expect("checked"),
                notes,
                void: None,
            };
            // A correction goes to the day the entry was logged; a new entry to today.
            let doc = editing.as_ref().map(|(doc, _)| *doc).unwrap_or_else(|| ctx.today());
            let correcting = editing.is_some();
            let (errors, on_saved, ctx, el) = (errors.clone(), on_saved.clone(), ctx.clone(), el.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let written = ctx
                    .commit(doc, |tx| {
                        if correcting {
                            schema::correct_referral(tx, &referral)
                        } else {
                            schema::write_referral(tx, &referral)
                        }
                    })
                    .await;
                match written {
                    Ok(()) => {
                        measure("signpost:save-durable", "signpost:save-start");
                        errors.set(vec![]);
                        let what = if correcting { "Referral corrected" } else { "Referral saved" };
                        el.reset();
                        on_saved.emit(format!("{what} at {}", clock(now_ms())));
                    }
                    Err(msg) => errors.set(vec![("helped", msg)]),
                }
            });
        })
    };
    let err = |k: &str| errors.iter().find(|(f, _)| *f == k).map(|(_, m)| m.clone());
    let e = p.editing.as_ref().map(|(_, r)| r);
    // The form is uncontrolled: what the volunteer ticks survives any re-render (a sync status
    // change, say). A correction's current values are put in once, when the form appears.
    {
        let (form, editing) = (form.clone(), p.editing.clone());
        use_effect_with((), move |_| {
            if let (Some(el), Some((_, r))) = (form.cast::<web_sys::HtmlFormElement>(), editing) {
                prefill(&el, &r);
            }
        });
    }
    let helped: Vec<(&str, &str)> = Helped::ALL.iter().map(|h| (h.code(), h.label())).collect();
    let help: Vec<(&str, &str)> = HelpKind::ALL.iter().map(|h| (h.code(), h.label())).collect();
    html! {
        <section aria-labelledby="log-heading">
            if !errors.is_empty() {
                <div class="govuk-error-summary" id="error-summary" tabindex="-1">
                    <div role="alert">
                        <h2 class="govuk-error-summary__title">{ "There is a problem" }</h2>
                        <div class="govuk-error-summary__body">
                            <ul class="govuk-list govuk-error-summary__list">
                                { for errors.iter().map(|(f, m)| html! { <li><a href={format!("#{f}")}>{ m.clone() }</a></li> }) }
                            </ul>
                        </div>
                    </div>
                </div>
            }
            <h2 class="govuk-heading-m" id="log-heading">
                { match e { Some(r) => format!("Correct the referral logged at {}", clock(r.recorded_at_ms)), None => "Log a referral".into() } }
            </h2>
            <form ref={form} onsubmit={onsubmit} novalidate=true>
                { radios("helped", "Who was helped?", helped, err("helped").as_deref()) }
                <div class="govuk-form-group">
                    <label class="govuk-label govuk-label--s" for="age-band">{ "Age band (optional)" }</label>
                    <select class="govuk-select" id="age-band" name="age-band">
                        // `selected`: the browser would otherwise show whichever option it inserted
                        // first, and a volunteer who never touched the list would record it.
                        <option value="" selected=true>{ "Not asked" }</option>
                        { for AgeBand::ALL.iter().map(|a| html! { <option value={a.code()}>{ a.label() }</option> }) }
                    </select>
                </div>
                <div class={classes!("govuk-form-group", err("category").map(|_| "govuk-form-group--error"))} id="category-group">
                    <fieldset class="govuk-fieldset" aria-describedby="category-hint">
                        <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">{ "What did they need help with?" }</legend>
                        <div id="category-hint" class="govuk-hint">{ "Select all that apply." }</div>
                        if let Some(e) = err("category") {
                            <p class="govuk-error-message"><span class="govuk-visually-hidden">{ "Error: " }</span>{ e }</p>
                        }
                        <div class="govuk-checkboxes" data-module="govuk-checkboxes">
                            { for Category::ALL.iter().enumerate().map(|(i, c)| {
                                let id = if i == 0 { "category".to_owned() } else { format!("category-{}", c.code()) };
                                html! {
                                    <div class="govuk-checkboxes__item">
                                        <input class="govuk-checkboxes__input" id={id.clone()} name="category" type="checkbox" value={c.code()} />
                                        <label class="govuk-label govuk-checkboxes__label" for={id}>{ c.label() }</label>
                                    </div>
                                }
                            }) }
                        </div>
                    </fieldset>
                </div>
                <div class={classes!("govuk-form-group", err("agency").map(|_| "govuk-form-group--error"))}>
                    <label class="govuk-label govuk-label--s" for="agency">{ "Agency signposted to" }</label>
                    if let Some(e) = err("agency") {
                        <p class="govuk-error-message"><span class="govuk-visually-hidden">{ "Error: " }</span>{ e }</p>
                    }
                    <select class="govuk-select" id="agency" name="agency">
                        <option value="" selected=true>{ "Select an agency" }</option>
                        { for agencies.iter().map(|a| html! { <option value={a.id.clone()}>{ a.name.clone() }</option> }) }
                        <option value="other">{ "Other (type its name below)" }</option>
                    </select>
                </div>
                <div class={classes!("govuk-form-group", err("agency-other").map(|_| "govuk-form-group--error"))}>
                    <label class="govuk-label" for="agency-other">{ "Other agency's name" }</label>
                    if let Some(e) = err("agency-other") {
                        <p class="govuk-error-message"><span class="govuk-visually-hidden">{ "Error: " }</span>{ e }</p>
                    }
                    <input class="govuk-input" id="agency-other" name="agency-other" type="text" maxlength="200" autocomplete="off" />
                </div>
                { radios("help", "Kind of help", help, err("help").as_deref()) }
                { radios("follow-up", "Is follow-up needed?", vec![("no", "No"), ("yes", "Yes")], err("follow-up").as_deref()) }
                <div class={classes!("govuk-form-group", err("notes").map(|_| "govuk-form-group--error"))}>
                    <label class="govuk-label govuk-label--s" for="notes">{ "Notes (optional)" }</label>
                    <div id="notes-hint" class="govuk-hint">{ "Do not include names or anything that identifies the person. At most 500 characters." }</div>
                    if let Some(e) = err("notes") {
                        <p class="govuk-error-message"><span class="govuk-visually-hidden">{ "Error: " }</span>{ e }</p>
                    }
                    <textarea class="govuk-textarea" id="notes" name="notes" rows="3" aria-describedby="notes-hint" />
                </div>
                <div class="govuk-button-group">
                    <button type="submit" class="govuk-button" data-module="govuk-button">
                        { if e.is_some() { "Save correction" } else { "Save referral" } }
                    </button>
                    if e.is_some() {
                        <button type="button" class="govuk-button govuk-button--secondary" onclick={p.on_cancel.reform(|_: MouseEvent| ())}>
                            { "Cancel" }
                        </button>
                    }
                </div>
            </form>
            if let Some((doc, r)) = p.editing.as_ref() {
                <VoidReferral ctx={p.ctx.clone()} doc={*doc} id={r.id.clone()} on_saved={p.on_saved.clone()} />
            }
        </section>
    }
}

fn prefill(form: &web_sys::HtmlFormElement, r: &Referral) {
    let set = |selector: String, f: &dyn Fn(&web_sys::Element)| {
        if let Ok(Some(el)) = form.query_selector(&selector) {
            f(&el);
        }
    };
    let check = |el: &web_sys::Element| {
        if let Some(i) = el.dyn_ref::<web_sys::HtmlInputElement>() {
            i.set_checked(true);
        }
    };
    let value = |v: String| {
        move |el: &web_sys::Element| {
            let _ = js_sys::Reflect::set(el, &"value".into(), &v.clone().into());
        }
    };
    set(format!("input[name=helped][value=\"{}\"]", r.helped.code()), &check);
    set(format!("input[name=help][value=\"{}\"]", r.help.code()), &check);
    set(format!("input[name=follow-up][value=\"{}\"]", if r.follow_up { "yes" } else { "no" }), &check);
    for c in &r.categories {
        set(format!("input[name=category][value=\"{}\"]", c.code()), &check);
    }
    set("#age-band".into(), &value(r.age_band.map(|a| a.code().to_owned()).unwrap_or_default()));
    match &r.agency {
        AgencyRef::Directory(a) => set("#agency".into(), &value(a.clone())),
        AgencyRef::Other(o) => {
            set("#agency".into(), &value("other".into()));
            set("#agency-other".into(), &value(o.clone()));
        }
    }
    set("#notes".into(), &value(r.notes.clone().unwrap_or_default()));
}

#[derive(Properties, PartialEq)]
struct LogProps {
    ctx: CtxRef,
    version: u32,
    on_edit: Callback<(DocumentId, String)>,
}

#[function_component(TodaysLog)]
fn todays_log(p: &LogProps) -> Html {
    let c = &p.ctx.0;
    let today = c.today();
    let peer = c.rep.peer.borrow();
    let agencies = peer.doc(&c.directory).map(schema::read_agencies).unwrap_or_default();
    let mut rows: Vec<Referral> = peer
        .doc(&today)
        .map(|doc| {
            schema::entry_keys(doc)
                .into_iter()
                .filter_map(|k| match k {
                    EntryKey::Referral(id) => schema::read_referral(doc, &id).ok().flatten(),
                    EntryKey::Shift(_) => None,
                })
                .collect()
        })
        .unwrap_or_default();
    rows.sort_by_key(|r| std::cmp::Reverse(r.recorded_at_ms));
    let live = rows.iter().filter(|r| r.void.is_none()).count();
    let agency_name = |a: &AgencyRef| match a {
        AgencyRef::Directory(id) => {
            agencies.iter().find(|x| &x.id == id).map(|x| x.name.clone()).unwrap_or_else(|| id.clone())
        }
        AgencyRef::Other(o) => o.clone(),
    };
    html! {
        <section aria-labelledby="today-heading" id="todays-log">
            <h2 class="govuk-heading-m" id="today-heading">{ format!("Today's desk log ({live})") }</h2>
            if rows.is_empty() {
                <p class="govuk-body">{ "No referrals logged at this desk today." }</p>
            } else {
                <table class="govuk-table">
                    <caption class="govuk-table__caption govuk-visually-hidden">{ "Referrals logged today at this desk, on every tablet" }</caption>
                    <thead class="govuk-table__head">
                        <tr class="govuk-table__row">
                            <th scope="col" class="govuk-table__header">{ "Time" }</th>
                            <th scope="col" class="govuk-table__header">{ "Who" }</th>
                            <th scope="col" class="govuk-table__header">{ "Needed help with" }</th>
                            <th scope="col" class="govuk-table__header">{ "Agency" }</th>
                            <th scope="col" class="govuk-table__header"><span class="govuk-visually-hidden">{ "Actions" }</span></th>
                        </tr>
                    </thead>
                    <tbody class="govuk-table__body">
                        { for rows.iter().map(|r| html! {
                            <tr class="govuk-table__row referral-row">
                                <td class="govuk-table__cell">{ clock(r.recorded_at_ms) }</td>
                                <td class="govuk-table__cell">
                                    { r.helped.label() }
                                    if r.void.is_some() { { " " } <strong class="govuk-tag govuk-tag--grey">{ "Void" }</strong> }
                                </td>
                                <td class="govuk-table__cell">{ r.categories.iter().map(|c| c.label()).collect::<Vec<_>>().join(", ") }</td>
                                <td class="govuk-table__cell">{ agency_name(&r.agency) }</td>
                                <td class="govuk-table__cell">
                                    if r.void.is_none() {
                                        <button type="button" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0"
                                            onclick={{ let (id, cb) = (r.id.clone(), p.on_edit.clone()); move |_: MouseEvent| cb.emit((today, id.clone())) }}>
                                            { "Change" }
                                            <span class="govuk-visually-hidden">{ format!(" the referral logged at {}", clock(r.recorded_at_ms)) }</span>
                                        </button>
                                    }
                                </td>
                            </tr>
                        }) }
                    </tbody>
                </table>
            }
        </section>
    }
}

#[derive(Properties, PartialEq)]
struct VoidProps {
    ctx: CtxRef,
    doc: DocumentId,
    id: String,
    on_saved: Callback<String>,
}

/// Voiding keeps the entry for audit and takes it out of every statistic; a reason is required.
#[function_component(VoidReferral)]
fn void_referral(p: &VoidProps) -> Html {
    let reason = use_node_ref();
    let error = use_state(|| None::<String>);
    let onsubmit = {
        let (reason, error, ctx, doc, id, on_saved) =
            (reason.clone(), error.clone(), p.ctx.0.clone(), p.doc, p.id.clone(), p.on_saved.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let text =
                reason.cast::<web_sys::HtmlInputElement>().map(|i| i.value().trim().to_owned()).unwrap_or_default();
            if text.is_empty() || text.chars().count() > schema::MAX_TEXT_CHARS {
                error.set(Some("Enter why this referral is void (at most 200 characters)".into()));
                return;
            }
            let (error, ctx, on_saved, id) = (error.clone(), ctx.clone(), on_saved.clone(), id.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ctx.commit(doc, |tx| schema::void_referral(tx, &id, &text, now_ms())).await {
                    Ok(()) => on_saved.emit(format!("Referral voided at {}", clock(now_ms()))),
                    Err(msg) => error.set(Some(msg)),
                }
            });
        })
    };
    html! {
        <form onsubmit={onsubmit} novalidate=true class="govuk-!-margin-top-6">
            <h3 class="govuk-heading-s">{ "Void this referral" }</h3>
            <p class="govuk-body">{ "A void referral stays in the log for audit but is not counted." }</p>
            <div class={classes!("govuk-form-group", error.is_some().then_some("govuk-form-group--error"))}>
                <label class="govuk-label" for="void-reason">{ "Why is it void?" }</label>
                if let Some(e) = (*error).clone() {
                    <p class="govuk-error-message"><span class="govuk-visually-hidden">{ "Error: " }</span>{ e }</p>
                }
                <input ref={reason} class="govuk-input" id="void-reason" name="void-reason" type="text" maxlength="200" autocomplete="off" />
            </div>
            <button type="submit" class="govuk-button govuk-button--warning">{ "Void referral" }</button>
        </form>
    }
}

#[derive(Properties, PartialEq)]
struct RosterProps {
    ctx: CtxRef,
    version: u32,
    on_saved: Callback<String>,
}

/// Who is on the desk: pick yourself from the scheme's roster to start a shift; end it when you
/// leave. Shifts are how volunteer hours are counted.
#[function_component(Roster)]
fn roster(p: &RosterProps) -> Html {
    let on_desk = use_state(load_on_desk);
    let error = use_state(|| None::<String>);
    let form = use_node_ref();
    let c = p.ctx.0.clone();
    let (volunteers, pin_required): (Vec<schema::Volunteer>, bool) = {
        let peer = c.rep.peer.borrow();
        let dir = peer.doc(&c.directory);
        let all = dir.map(schema::read_volunteers).unwrap_or_default();
        (all.into_iter().filter(|v| v.active).collect(), dir.is_some_and(schema::read_pin_required))
    };
    let name_of = |id: &str| {
        volunteers.iter().find(|v| v.id == id).map(|v| v.name.clone()).unwrap_or_else(|| "A volunteer".into())
    };
    // Writes a shift entry, durably, then sends it.
    let write = {
        let (c, error, on_desk, on_saved) = (c.clone(), error.clone(), on_desk.clone(), p.on_saved.clone());
        move |doc: DocumentId, shift: Shift, next: Option<OnDesk>, message: String| {
            let (c, error, on_desk, on_saved) = (c.clone(), error.clone(), on_desk.clone(), on_saved.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match c.commit(doc, |tx| schema::write_shift(tx, &shift)).await {
                    Ok(()) => {
                        store_on_desk(next.as_ref());
                        on_desk.set(next);
                        error.set(None);
                        on_saved.emit(message);
                    }
                    Err(msg) => error.set(Some(msg)),
                }
            });
        }
    };
    match (*on_desk).clone() {
        Some(d) => {
            let name = name_of(&d.volunteer);
            let end = {
                let (write, d, name) = (write.clone(), d.clone(), name.clone());
                Callback::from(move |_: MouseEvent| {
                    let shift = Shift {
                        id: d.shift.clone(),
                        volunteer: d.volunteer.clone(),
                        start_ms: d.start_ms,
                        end_ms: Some(now_ms()),
                    };
                    write(d.doc, shift, None, format!("{name}'s shift ended at {}", clock(now_ms())));
                })
            };
            html! {
                <div class="govuk-inset-text" id="on-desk">
                    <p class="govuk-body">{ format!("{name} is on the desk since {}.", clock(d.start_ms)) }</p>
                    <div class="govuk-button-group govuk-!-margin-bottom-0">
                        <button type="button" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" onclick={end}>{ "End shift" }</button>
                        // A page of its own (cached for offline use): answers never touch the
                        // desk's documents.
                        <a class="govuk-link" id="equality-link"
                            href={format!("/equality?volunteer={}&name={}", d.volunteer, String::from(js_sys::encode_uri_component(&name)))}>
                            { "Equality monitoring form (voluntary)" }
                        </a>
                    </div>
                </div>
            }
        }
        None if volunteers.is_empty() => html! {
            <div class="govuk-inset-text" id="on-desk">
                { "No volunteers are on this scheme's roster yet. Ask your coordinator to add you; you can log referrals meanwhile." }
            </div>
        },
        None => {
            let onsubmit = {
                let (form, error, roster, c) = (form.clone(), error.clone(), volunteers.clone(), c.clone());
                Callback::from(move |e: SubmitEvent| {
                    e.prevent_default();
                    let data =
                        form.cast::<web_sys::HtmlFormElement>().and_then(|f| web_sys::FormData::new_with_form(&f).ok());
                    let field = |k: &str| data.as_ref().and_then(|d| d.get(k).as_string()).unwrap_or_default();
                    let chosen = field("volunteer");
                    let Some(v) = roster.iter().find(|v| v.id == chosen) else {
                        error.set(Some("Select your name".into()));
                        return;
                    };
                    if pin_required {
                        let pin = field("pin");
                        let problem = if v.pin.is_none() {
                            Some("You do not have a PIN yet. Ask your coordinator to set one")
                        } else if !schema::valid_pin(pin.trim()) {
                            Some("Enter your PIN: 4 digits")
                        } else if !schema::pin_matches(v, pin.trim()) {
                            Some("The PIN is not right. Try again")
                        } else {
                            None
                        };
                        if let Some(p) = problem {
                            error.set(Some(p.into()));
                            return;
                        }
                    }
                    let (id, name) = (v.id.clone(), v.name.clone());
                    let start = now_ms();
                    let today = c.today();
                    let d = OnDesk {
                        volunteer: id.clone(),
                        shift: format!("{start}-{}", random_suffix()),
                        start_ms: start,
                        doc: today,
                    };
                    let shift = Shift { id: d.shift.clone(), volunteer: id, start_ms: start, end_ms: None };
                    write(today, shift, Some(d), format!("{name}'s shift started at {}", clock(start)));
                })
            };
            html! {
                <form ref={form} onsubmit={onsubmit} novalidate=true id="on-desk">
                    <div class={classes!("govuk-form-group", error.is_some().then_some("govuk-form-group--error"))}>
                        <fieldset class="govuk-fieldset">
                            <legend class="govuk-fieldset__legend govuk-fieldset__legend--m">
                                <h2 class="govuk-fieldset__heading">{ "Who is on the desk?" }</h2>
                            </legend>
                            if let Some(e) = (*error).clone() {
                                <p class="govuk-error-message"><span class="govuk-visually-hidden">{ "Error: " }</span>{ e }</p>
                            }
                            <div class="govuk-radios" data-module="govuk-radios">
                                { for volunteers.iter().enumerate().map(|(i, v)| {
                                    let id = if i == 0 { "volunteer".to_owned() } else { format!("volunteer-{}", v.id) };
                                    html! {
                                        <div class="govuk-radios__item">
                                            <input class="govuk-radios__input" id={id.clone()} name="volunteer" type="radio" value={v.id.clone()} />
                                            <label class="govuk-label govuk-radios__label" for={id}>{ v.name.clone() }</label>
                                        </div>
                                    }
                                }) }
                            </div>
                        </fieldset>
                        if pin_required {
                            <div class="govuk-form-group govuk-!-margin-top-6 govuk-!-margin-bottom-0">
                                <label class="govuk-label govuk-label--s" for="pin">{ "Your PIN" }</label>
                                <div class="govuk-hint" id="pin-hint">{ "4 digits, from your coordinator" }</div>
                                <input class="govuk-input govuk-input--width-4" id="pin" name="pin" type="password"
                                    inputmode="numeric" autocomplete="off" maxlength="4" aria-describedby="pin-hint" />
                            </div>
                        }
                    </div>
                    <button type="submit" class="govuk-button">{ "Start shift" }</button>
                </form>
            }
        }
    }
}
