//! Who is on the desk: the scheme's roster, starting and ending a shift (kept in local storage
//! so that a reload or a flat battery does not lose it).

use super::context::CtxRef;
use crate::lang::{cy, l};
use crate::sync::random_suffix;
use crate::ui::*;
use signpost_shared::ids::DocumentId;
use signpost_shared::schema::{self, Shift};
use yew::prelude::*;

/// The shift running on this tablet: who is on the desk, kept in local storage so that a reload
/// or a flat battery does not lose it. The shift itself is an entry of the day's document.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct OnDesk {
    pub(super) volunteer: String,
    pub(super) shift: String,
    pub(super) start_ms: i64,
    pub(super) doc: DocumentId,
}

pub(super) const ON_DESK: &str = "signpost.on-desk";

pub(super) fn local() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

pub(super) fn load_on_desk() -> Option<OnDesk> {
    let raw = local()?.get_item(ON_DESK).ok().flatten()?;
    let mut it = raw.split('\n');
    Some(OnDesk {
        volunteer: it.next()?.to_owned(),
        shift: it.next()?.to_owned(),
        start_ms: it.next()?.parse().ok()?,
        doc: it.next()?.parse().ok()?,
    })
}

pub(super) fn store_on_desk(d: Option<&OnDesk>) {
    if let Some(s) = local() {
        let _ = match d {
            Some(d) => s.set_item(ON_DESK, &format!("{}\n{}\n{}\n{}", d.volunteer, d.shift, d.start_ms, d.doc)),
            None => s.remove_item(ON_DESK),
        };
    }
}

#[derive(Properties, PartialEq)]
pub(super) struct RosterProps {
    pub(super) ctx: CtxRef,
    pub(super) version: u32,
    pub(super) on_saved: Callback<String>,
}

/// Who is on the desk: pick yourself from the scheme's roster to start a shift; end it when you
/// leave. Shifts are how volunteer hours are counted.
#[function_component(Roster)]
pub(super) fn roster(p: &RosterProps) -> Html {
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
        volunteers
            .iter()
            .find(|v| v.id == id)
            .map(|v| v.name.clone())
            .unwrap_or_else(|| l("A volunteer", "Gwirfoddolwr").into())
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
                    let msg = if cy() {
                        format!("Daeth sifft {name} i ben am {}", clock(now_ms()))
                    } else {
                        format!("{name}'s shift ended at {}", clock(now_ms()))
                    };
                    write(d.doc, shift, None, msg);
                })
            };
            html! {
                <div class="govuk-inset-text" id="on-desk">
                    <p class="govuk-body">{ if cy() { format!("Mae {name} ar y ddesg ers {}.", clock(d.start_ms)) } else { format!("{name} is on the desk since {}.", clock(d.start_ms)) } }</p>
                    <div class="govuk-button-group govuk-!-margin-bottom-0">
                        <button type="button" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" onclick={end}>{ l("End shift", "Gorffen sifft") }</button>
                        // A page of its own (cached for offline use): answers never touch the
                        // desk's documents.
                        <a class="govuk-link" id="equality-link"
                            href={format!("{}?volunteer={}&name={}", l("/equality", "/cy/equality"), d.volunteer, String::from(js_sys::encode_uri_component(&name)))}>
                            { l("Equality monitoring form (voluntary)", "Ffurflen monitro cydraddoldeb (gwirfoddol)") }
                        </a>
                    </div>
                </div>
            }
        }
        None if volunteers.is_empty() => html! {
            <div class="govuk-inset-text" id="on-desk">
                { l("No volunteers are on this scheme's roster yet. Ask your coordinator to add you: a referral is logged by the volunteer on the desk.", "Nid oes gwirfoddolwyr ar restr y cynllun hwn eto. Gofynnwch i'ch cydlynydd eich ychwanegu: mae atgyfeiriad yn cael ei gofnodi gan y gwirfoddolwr ar y ddesg.") }
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
                        error.set(Some(l("Select your name", "Dewiswch eich enw").into()));
                        return;
                    };
                    if pin_required {
                        let pin = field("pin");
                        let problem = if v.pin.is_none() {
                            Some(l(
                                "You do not have a PIN yet. Ask your coordinator to set one",
                                "Nid oes gennych PIN eto. Gofynnwch i'ch cydlynydd osod un",
                            ))
                        } else if !schema::valid_pin(pin.trim()) {
                            Some(l("Enter your PIN: 4 digits", "Rhowch eich PIN: 4 digid"))
                        } else if !schema::pin_matches(v, pin.trim()) {
                            Some(l(
                                "The PIN is not right. Try again",
                                "Nid yw'r PIN yn gywir. Rhowch gynnig arall arni",
                            ))
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
                    let msg = if cy() {
                        format!("Dechreuodd sifft {name} am {}", clock(start))
                    } else {
                        format!("{name}'s shift started at {}", clock(start))
                    };
                    write(today, shift, Some(d), msg);
                })
            };
            html! {
                <form ref={form} onsubmit={onsubmit} novalidate=true id="on-desk">
                    <div class={classes!("govuk-form-group", error.is_some().then_some("govuk-form-group--error"))}>
                        <fieldset class="govuk-fieldset">
                            <legend class="govuk-fieldset__legend govuk-fieldset__legend--m">
                                <h2 class="govuk-fieldset__heading" id="roster-heading">{ l("Who is on the desk?", "Pwy sydd ar y ddesg?") }</h2>
                            </legend>
                            if let Some(e) = (*error).clone() {
                                <p class="govuk-error-message"><span class="govuk-visually-hidden">{ l("Error: ", "Gwall: ") }</span>{ e }</p>
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
                                <label class="govuk-label govuk-label--s" for="pin">{ l("Your PIN", "Eich PIN") }</label>
                                <div class="govuk-hint" id="pin-hint">{ l("4 digits, from your coordinator", "4 digid, gan eich cydlynydd") }</div>
                                <input class="govuk-input govuk-input--width-4" id="pin" name="pin" type="password"
                                    inputmode="numeric" autocomplete="off" maxlength="4" aria-describedby="pin-hint" />
                            </div>
                        }
                    </div>
                    <button type="submit" class="govuk-button">{ l("Start shift", "Dechrau sifft") }</button>
                </form>
            }
        }
    }
}
