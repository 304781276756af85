//! The desk screen: sync state, who is on the desk, log a referral, today's desk log. This
//! module holds the desk's context (its replica, connection and day) and the screen that puts
//! the components together; each component is a file below it.

mod agency_picker;
mod context;
mod follow_ups;
mod log_referral;
mod roster;
mod sync_state;
mod todays_log;

use crate::credential::Setup;
use crate::lang::{cy, l};
use crate::sync::background;
use crate::sync::connection::{Connection, Status};
use crate::ui::*;
use context::{ask_persistent_storage, open, Ctx, CtxRef};
use follow_ups::FollowUps;
use log_referral::LogReferral;
use roster::Roster;
use signpost_shared::ids::DocumentId;
use signpost_shared::peer::Event;
use signpost_shared::schema::{self};
use std::cell::RefCell;
use std::rc::Rc;
use sync_state::SyncState;
use todays_log::TodaysLog;
use yew::prelude::*;

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
    // "Remove this tablet's set-up" asks again before it does anything.
    let confirm_forget = use_state(|| false);
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
                                Event::Refused { doc, refusal } => {
                                    c.note_problem(doc, &refusal.code);
                                    version.set(*version + 1);
                                }
                                Event::Notice { doc, notice } => {
                                    c.note_problem(doc, &notice.code);
                                    version.set(*version + 1);
                                }
                                Event::Changed(id) | Event::Synced(id) => {
                                    if matches!(e, Event::Synced(_)) {
                                        c.clear_problem(id);
                                    }
                                    let synced_at = matches!(e, Event::Synced(_)).then(now_ms);
                                    let (v, last_synced) = (version.clone(), last_synced.clone());
                                    wasm_bindgen_futures::spawn_local(async move {
                                        let _ = c.persist(id).await;
                                        // "Synced" only once the tablet has stored that the relay
                                        // holds everything: a reload or a closed tab right after
                                        // must not find the day still waiting.
                                        if synced_at.is_some() {
                                            last_synced.set(synced_at);
                                        }
                                        let _ = c.arrived(id).await;
                                        if let Some(t) = synced_at {
                                            let _ = c.rep.note_synced(t).await;
                                            let _ = c.forget_old_days().await;
                                        }
                                        v.set(*v + 1);
                                    });
                                }
                                Event::Unavailable(id) => {
                                    let v = version.clone();
                                    wasm_bindgen_futures::spawn_local(async move {
                                        let _ = c.on_unavailable(id).await;
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
                            if matches!(st, Status::Offline { .. } | Status::Refused { .. })
                                && weak.upgrade().is_some_and(|c| c.waiting() > 0)
                            {
                                background::request();
                            }
                            s.set(st)
                        });
                        let conn = Connection::start(&setup.token, c.rep.peer.clone(), on_status, on_event);
                        *c.conn.borrow_mut() = Some(conn);
                        {
                            // Days with open follow-ups this tablet lacks come from the relay.
                            let c = c.clone();
                            wasm_bindgen_futures::spawn_local(async move { c.fetch_follow_ups().await });
                        }
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
                    <h2 class="govuk-error-summary__title">{ l("Signpost cannot store entries on this tablet", "Ni all Signpost gadw cofnodion ar y dabled hon") }</h2>
                    <div class="govuk-error-summary__body"><p class="govuk-body">{ e }</p></div>
                </div>
            },
            None => html! { <p class="govuk-body">{ l("Opening the desk log…", "Yn agor log y ddesg…") }</p> },
        };
    };
    let bump = {
        let (version, editing, notice) = (version.clone(), editing.clone(), notice.clone());
        Callback::from(move |msg: String| {
            editing.set(None);
            notice.set(Some(msg));
            version.set(*version + 1);
            // The next referral starts at the top, with what was saved in view.
            if let Some(w) = web_sys::window() {
                w.scroll_to_with_x_and_y(0.0, 0.0);
            }
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
    let site = c.site();
    // A new referral is logged by whoever is on the desk: nobody on it, nobody logs.
    let on_desk = roster::load_on_desk().is_some();
    let current = (*editing).as_ref().and_then(|(doc, id)| {
        let r = c.rep.peer.borrow().doc(doc).and_then(|d| schema::read_referral(d, id).ok().flatten());
        r.map(|r| (*doc, r))
    });
    html! {
        <>
            if let Some(msg) = (*notice).clone() {
                <div class="govuk-notification-banner govuk-notification-banner--success" role="alert" aria-labelledby="saved-title">
                    <div class="govuk-notification-banner__header">
                        <h2 class="govuk-notification-banner__title" id="saved-title">{ l("Success", "Llwyddiant") }</h2>
                    </div>
                    <div class="govuk-notification-banner__content">
                        <p class="govuk-notification-banner__heading" id="saved-message">{ msg }</p>
                    </div>
                </div>
            }
            <h1 class="govuk-heading-l">
                { site.name.clone() }
                <span class="govuk-caption-m">{ c.setup.scheme_name.clone() }</span>
            </h1>
            <SyncState status={(*status).clone()} waiting={c.waiting()} last_synced={*last_synced} problems={c.problems()} />
            if *persistent == Some(false) {
                { warning("storage-warning", l("This browser may clear Signpost's saved entries if the tablet runs low on space. Add Signpost to the home screen, and let entries sync before closing it for long.", "Gall y porwr hwn glirio cofnodion Signpost sydd wedi'u cadw os yw'r dabled yn brin o le. Ychwanegwch Signpost at y sgrin gartref, a gadewch i gofnodion gysoni cyn ei chau am amser hir.")) }
            }
            if *status == Status::Revoked {
                <div class="govuk-notification-banner" role="region" aria-labelledby="revoked-title" id="revoked">
                    <div class="govuk-notification-banner__header">
                        <h2 class="govuk-notification-banner__title" id="revoked-title">{ l("Important", "Pwysig") }</h2>
                    </div>
                    <div class="govuk-notification-banner__content">
                        <p class="govuk-notification-banner__heading">{ l("This tablet's access to Signpost has been removed", "Mae mynediad y dabled hon at Signpost wedi'i dynnu") }</p>
                        <p class="govuk-body">
                            { l("Your coordinator revoked it, for example because it was reported lost. ", "Fe wnaeth eich cydlynydd ei ddiddymu, er enghraifft am fod y dabled wedi'i cholli. ") }
                            { match (c.waiting(), cy()) {
                                (0, false) => "Everything saved on this tablet had already been sent.".to_owned(),
                                (0, true) => "Roedd popeth a gadwyd ar y dabled hon eisoes wedi'i anfon.".to_owned(),
                                (1, false) => "1 entry saved on this tablet has not been sent. It is kept here: nothing is deleted.".to_owned(),
                                (n, false) => format!("{n} entries saved on this tablet have not been sent. They are kept here: nothing is deleted."),
                                (n, true) => format!("Nid yw {n} cofnod a gadwyd ar y dabled hon wedi'u hanfon. Maen nhw'n cael eu cadw yma: nid oes dim yn cael ei ddileu."),
                            } }
                        </p>
                        <p class="govuk-body">{ l("To send them, ask your coordinator for a new enrolment code for this desk, then choose Enrol again.", "I'w hanfon, gofynnwch i'ch cydlynydd am god cofrestru newydd ar gyfer y ddesg hon, yna dewiswch Cofrestru eto.") }</p>
                        <button type="button" class="govuk-button" onclick={props.on_forget.reform(|_: MouseEvent| ())}>
                            { l("Enrol again", "Cofrestru eto") }
                        </button>
                    </div>
                </div>
            }
            if matches!(*status, Status::Refused { .. }) {
                { warning("refused-warning", l("Signpost's server keeps refusing entries from this tablet. They are kept here: keep working, do not remove this tablet's set-up, and tell your coordinator, who can see this tablet's problem in the list of tablets.", "Mae gweinydd Signpost yn dal i wrthod cofnodion o'r dabled hon. Maen nhw'n cael eu cadw yma: daliwch ati i weithio, peidiwch â thynnu gosodiad y dabled hon, a dywedwch wrth eich cydlynydd, sy'n gallu gweld problem y dabled hon yn y rhestr o dabledi.")) }
            }
            if !c.rep.damaged().is_empty() {
                { warning("damaged-warning", l("Some entries saved on this tablet could not be read back. They are kept: do not remove this tablet's set-up or clear its data, and tell your coordinator. Entries already synced are safe.", "Nid oedd modd darllen rhai cofnodion a gadwyd ar y dabled hon. Maen nhw'n cael eu cadw: peidiwch â thynnu gosodiad y dabled hon na chlirio ei data, a dywedwch wrth eich cydlynydd. Mae cofnodion sydd eisoes wedi'u cysoni yn ddiogel.")) }
            }
            if site.closed {
                <div class="govuk-notification-banner" role="region" aria-labelledby="closed-title" id="site-closed">
                    <div class="govuk-notification-banner__header">
                        <h2 class="govuk-notification-banner__title" id="closed-title">{ l("Important", "Pwysig") }</h2>
                    </div>
                    <div class="govuk-notification-banner__content">
                        <p class="govuk-notification-banner__heading">{ l("This desk is closed", "Mae'r ddesg hon ar gau") }</p>
                        <p class="govuk-body">{ l("Your coordinator closed it, so no more referrals or shifts are logged here. Entries already saved on this tablet still sync. Ask your coordinator where the desk has moved.", "Fe wnaeth eich cydlynydd ei chau, felly nid oes rhagor o atgyfeiriadau na sifftiau'n cael eu cofnodi yma. Mae cofnodion sydd eisoes wedi'u cadw ar y dabled hon yn dal i gysoni. Gofynnwch i'ch cydlynydd ble mae'r ddesg wedi symud.") }</p>
                    </div>
                </div>
            } else {
                <Roster ctx={CtxRef(c.clone())} version={*version} on_saved={bump.clone()} />
            }
            if current.is_some() || (on_desk && !site.closed) {
                <LogReferral
                    key={current.as_ref().map(|(_, r)| r.id.clone()).unwrap_or_else(|| "new".into())}
                    ctx={CtxRef(c.clone())}
                    editing={current.clone()}
                    on_saved={bump.clone()}
                    on_cancel={on_edit.reform(|_| None)}
                />
            } else if !site.closed {
                <section aria-labelledby="log-heading">
                    <h2 class="govuk-heading-m" id="log-heading">{ l("Log a referral", "Cofnodi atgyfeiriad") }</h2>
                    <div class="govuk-inset-text" id="start-shift-first">
                        { l("Start your shift before you log a referral: choose your name under ", "Dechreuwch eich sifft cyn cofnodi atgyfeiriad: dewiswch eich enw o dan ") }
                        <a class="govuk-link" href="#roster-heading">{ l("Who is on the desk", "Pwy sydd ar y ddesg") }</a>
                        { l(". Each referral records who logged it.", ". Mae pob atgyfeiriad yn cofnodi pwy a'i cofnododd.") }
                    </div>
                </section>
            }
            <TodaysLog ctx={CtxRef(c.clone())} version={*version} on_edit={on_edit.reform(Some)} />
            <FollowUps ctx={CtxRef(c.clone())} version={*version} on_saved={bump.clone()} />
            <details class="govuk-details">
                <summary class="govuk-details__summary">
                    <span class="govuk-details__summary-text">{ l("Tablet settings", "Gosodiadau'r dabled") }</span>
                </summary>
                <div class="govuk-details__text">
                    <p class="govuk-body">
                        { l("Remove the set-up only if this tablet is leaving the desk. Entries already saved stay on the tablet.", "Tynnwch y gosodiad dim ond os yw'r dabled hon yn gadael y ddesg. Mae cofnodion sydd eisoes wedi'u cadw yn aros ar y dabled.") }
                    </p>
                    if *confirm_forget {
                        <div class="govuk-warning-text" id="forget-warning">
                            <span class="govuk-warning-text__icon" aria-hidden="true">{ "!" }</span>
                            <strong class="govuk-warning-text__text">
                                <span class="govuk-visually-hidden">{ l("Warning", "Rhybudd") }</span>
                                { l("This tablet will stop syncing until it is set up again with a new enrolment code from your coordinator.", "Bydd y dabled hon yn stopio cysoni nes iddi gael ei gosod eto gyda chod cofrestru newydd gan eich cydlynydd.") }
                            </strong>
                        </div>
                        <div class="govuk-button-group">
                            <button type="button" class="govuk-button govuk-button--warning" onclick={props.on_forget.reform(|_: MouseEvent| ())}>
                                { l("Yes, remove the set-up", "Ie, tynnu'r gosodiad") }
                            </button>
                            <button type="button" class="govuk-button govuk-button--secondary" onclick={{ let f = confirm_forget.clone(); move |_: MouseEvent| f.set(false) }}>
                                { l("Cancel", "Canslo") }
                            </button>
                        </div>
                    } else {
                        <button type="button" class="govuk-button govuk-button--warning" onclick={{ let f = confirm_forget.clone(); move |_: MouseEvent| f.set(true) }}>
                            { l("Remove this tablet's set-up", "Tynnu gosodiad y dabled hon") }
                        </button>
                    }
                </div>
            </details>
        </>
    }
}
