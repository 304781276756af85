//! The form that logs a referral, or corrects one (filled from the entry).

use super::agency_picker::{shown, use_counts, AgencyPicker, OTHER};
use super::context::CtxRef;
use super::roster::load_on_desk;
use super::todays_log::VoidReferral;
use crate::lang::{age_band, category, cy, help_kind, l};
use crate::sync::random_suffix;
use crate::ui::*;
use signpost_shared::ids::DocumentId;
use signpost_shared::schema::{self, AgencyRef, Referral};
use signpost_shared::vocab::{AgeBand, Category, HelpKind, Helped};
use wasm_bindgen::JsCast;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub(super) struct FormProps {
    pub(super) ctx: CtxRef,
    /// The entry being corrected, with the document it is in, if any; otherwise a new referral.
    pub(super) editing: Option<(DocumentId, Referral)>,
    /// Called with what to tell the volunteer once the change is durable on the tablet.
    pub(super) on_saved: Callback<String>,
    pub(super) on_cancel: Callback<()>,
}

#[function_component(LogReferral)]
pub(super) fn log_referral(p: &FormProps) -> Html {
    let errors = use_state(Vec::<(&'static str, String)>::new);
    let form = use_node_ref();
    // What the agency list follows: the issues ticked, the agency chosen, the search, and how
    // often the desk chose each agency (counted when the form appears).
    let ticked = {
        let cats = p.editing.as_ref().map(|(_, r)| r.categories.clone()).unwrap_or_default();
        use_state(move || cats)
    };
    let chosen = {
        let was = p.editing.as_ref().map(|(_, r)| match &r.agency {
            AgencyRef::Directory(a) => a.clone(),
            AgencyRef::Other(_) => OTHER.to_owned(),
        });
        use_state(move || was)
    };
    let search = use_state(String::new);
    let counts = {
        let peer = p.ctx.0.rep.peer.clone();
        use_state(move || use_counts(&peer.borrow()))
    };
    // Characters typed in the notes, for the GOV.UK character count beneath them.
    let notes_len = {
        let len = p.editing.as_ref().and_then(|(_, r)| r.notes.as_ref()).map_or(0, |n| n.chars().count());
        use_state(move || len)
    };
    let agencies = {
        let peer = p.ctx.0.rep.peer.borrow();
        peer.doc(&p.ctx.0.directory).map(schema::read_agencies).unwrap_or_default()
    };
    let listed: Vec<schema::Agency> =
        shown(&agencies, &p.ctx.0.setup.site, &ticked, &search, &counts, chosen.as_deref())
            .into_iter()
            .cloned()
            .collect();
    // The form tells the list what is ticked and chosen as the volunteer taps.
    let onchange = {
        let (form, ticked, chosen) = (form.clone(), ticked.clone(), chosen.clone());
        Callback::from(move |_: Event| {
            let Some(data) =
                form.cast::<web_sys::HtmlFormElement>().and_then(|f| web_sys::FormData::new_with_form(&f).ok())
            else {
                return;
            };
            let now: std::collections::BTreeSet<Category> = data
                .get_all("category")
                .iter()
                .filter_map(|v| v.as_string())
                .filter_map(|c| Category::from_code(&c))
                .collect();
            if now != *ticked {
                ticked.set(now);
            }
            let agency = data.get("agency").as_string();
            if agency != *chosen {
                chosen.set(agency);
            }
        })
    };
    let onsubmit = {
        let (errors, form, ctx, on_saved) = (errors.clone(), form.clone(), p.ctx.0.clone(), p.on_saved.clone());
        let (editing, notes_len) = (p.editing.clone(), notes_len.clone());
        let (ticked, chosen, search) = (ticked.clone(), chosen.clone(), search.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            mark("signpost:save-start");
            let Some(el) = form.cast::<web_sys::HtmlFormElement>() else { return };
            let Ok(data) = web_sys::FormData::new_with_form(&el) else { return };
            let get = |k: &str| data.get(k).as_string().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
            let mut errs: Vec<(&'static str, String)> = Vec::new();
            let helped = get("helped").and_then(|h| Helped::from_code(&h));
            if helped.is_none() {
                errs.push(("helped", l("Select who was helped", "Dewiswch pwy a gafodd help").into()));
            }
            let categories: std::collections::BTreeSet<Category> = data
                .get_all("category")
                .iter()
                .filter_map(|v| v.as_string())
                .filter_map(|c| Category::from_code(&c))
                .collect();
            if categories.is_empty() {
                errs.push((
                    "category",
                    l(
                        "Select at least one thing they needed help with",
                        "Dewiswch o leiaf un peth yr oedd angen help arnynt gydag ef",
                    )
                    .into(),
                ));
            }
            let agency = match get("agency").as_deref() {
                Some("other") => match get("agency-other") {
                    Some(o) if o.chars().count() <= schema::MAX_TEXT_CHARS => Some(AgencyRef::Other(o)),
                    Some(_) => {
                        errs.push((
                            "agency-other",
                            if cy() {
                                format!("Rhaid i enw'r asiantaeth fod yn {} nod neu lai", schema::MAX_TEXT_CHARS)
                            } else {
                                format!("The agency's name must be {} characters or fewer", schema::MAX_TEXT_CHARS)
                            },
                        ));
                        None
                    }
                    None => {
                        errs.push((
                            "agency-other",
                            l("Enter the name of the agency", "Rhowch enw'r asiantaeth").into(),
                        ));
                        None
                    }
                },
                Some(a) => Some(AgencyRef::Directory(a.to_owned())),
                None => {
                    errs.push((
                        "agency",
                        l(
                            "Select the agency they were signposted to",
                            "Dewiswch yr asiantaeth y cawsant eu cyfeirio ati",
                        )
                        .into(),
                    ));
                    None
                }
            };
            let help = get("help").and_then(|h| HelpKind::from_code(&h));
            if help.is_none() {
                errs.push(("help", l("Select the kind of help given", "Dewiswch y math o help a roddwyd").into()));
            }
            let follow_up = match get("follow-up").as_deref() {
                Some("yes") => Some(true),
                Some("no") => Some(false),
                _ => {
                    errs.push((
                        "follow-up",
                        l("Select whether follow-up is needed", "Dewiswch a oes angen dilyniant").into(),
                    ));
                    None
                }
            };
            let notes = get("notes");
            if notes.as_ref().is_some_and(|n| n.chars().count() > schema::MAX_NOTES_CHARS) {
                errs.push((
                    "notes",
                    if cy() {
                        format!("Rhaid i'r nodiadau fod yn {} nod neu lai", schema::MAX_NOTES_CHARS)
                    } else {
                        format!("Notes must be {} characters or fewer", schema::MAX_NOTES_CHARS)
                    },
                ));
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
                follow_up_closed: None,
                notes,
                void: None,
            };
            // A correction goes to the day the entry was logged; a new entry to today.
            let doc = editing.as_ref().map(|(doc, _)| *doc).unwrap_or_else(|| ctx.today());
            let correcting = editing.is_some();
            let (errors, on_saved, ctx, el, notes_len) =
                (errors.clone(), on_saved.clone(), ctx.clone(), el.clone(), notes_len.clone());
            let (ticked, chosen, search) = (ticked.clone(), chosen.clone(), search.clone());
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
                        let what = match (correcting, cy()) {
                            (true, false) => "Referral corrected at",
                            (false, false) => "Referral saved at",
                            (true, true) => "Cywirwyd yr atgyfeiriad am",
                            (false, true) => "Cadwyd yr atgyfeiriad am",
                        };
                        el.reset();
                        notes_len.set(0);
                        ticked.set(Default::default());
                        chosen.set(None);
                        search.set(String::new());
                        on_saved.emit(format!("{what} {}", clock(now_ms())));
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
    let helped: Vec<(&str, &str)> = Helped::ALL.iter().map(|h| (h.code(), crate::lang::helped(*h))).collect();
    let help: Vec<(&str, &str)> = HelpKind::ALL.iter().map(|h| (h.code(), help_kind(*h))).collect();
    html! {
        <section aria-labelledby="log-heading">
            if !errors.is_empty() {
                <div class="govuk-error-summary" id="error-summary" tabindex="-1">
                    <div role="alert">
                        <h2 class="govuk-error-summary__title">{ l("There is a problem", "Mae problem wedi codi") }</h2>
                        <div class="govuk-error-summary__body">
                            <ul class="govuk-list govuk-error-summary__list">
                                { for errors.iter().map(|(f, m)| html! { <li><a href={format!("#{f}")}>{ m.clone() }</a></li> }) }
                            </ul>
                        </div>
                    </div>
                </div>
            }
            <h2 class="govuk-heading-m" id="log-heading">
                { match (e, cy()) {
                    (Some(r), false) => format!("Correct the referral logged at {}", clock(r.recorded_at_ms)),
                    (Some(r), true) => format!("Cywiro'r atgyfeiriad a gofnodwyd am {}", clock(r.recorded_at_ms)),
                    (None, _) => l("Log a referral", "Cofnodi atgyfeiriad").into(),
                } }
            </h2>
            <form ref={form} onsubmit={onsubmit} onchange={onchange} novalidate=true>
                { radios("helped", l("Who was helped?", "Pwy a gafodd help?"), helped, err("helped").as_deref()) }
                <div class="govuk-form-group">
                    <label class="govuk-label govuk-label--s" for="age-band">{ l("Age band (optional)", "Band oedran (dewisol)") }</label>
                    <select class="govuk-select" id="age-band" name="age-band">
                        // `selected`: the browser would otherwise show whichever option it inserted
                        // first, and a volunteer who never touched the list would record it.
                        <option value="" selected=true>{ l("Not asked", "Heb ofyn") }</option>
                        { for AgeBand::ALL.iter().map(|a| html! { <option value={a.code()}>{ age_band(*a) }</option> }) }
                    </select>
                </div>
                <div class={classes!("govuk-form-group", err("category").map(|_| "govuk-form-group--error"))} id="category-group">
                    <fieldset class="govuk-fieldset" aria-describedby="category-hint">
                        <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">{ l("What did they need help with?", "Gyda beth roedd angen help arnynt?") }</legend>
                        <div id="category-hint" class="govuk-hint">{ l("Select all that apply.", "Dewiswch bob un sy'n berthnasol.") }</div>
                        if let Some(e) = err("category") {
                            <p class="govuk-error-message"><span class="govuk-visually-hidden">{ l("Error: ", "Gwall: ") }</span>{ e }</p>
                        }
                        <div class="govuk-checkboxes" data-module="govuk-checkboxes">
                            { for Category::ALL.iter().enumerate().map(|(i, c)| {
                                let id = if i == 0 { "category".to_owned() } else { format!("category-{}", c.code()) };
                                html! {
                                    <div class="govuk-checkboxes__item">
                                        <input class="govuk-checkboxes__input" id={id.clone()} name="category" type="checkbox" value={c.code()} />
                                        <label class="govuk-label govuk-checkboxes__label" for={id}>{ category(*c) }</label>
                                    </div>
                                }
                            }) }
                        </div>
                    </fieldset>
                </div>
                <AgencyPicker
                    agencies={listed}
                    selected={(*chosen).clone()}
                    error={err("agency")}
                    other_error={err("agency-other")}
                    narrowed={!ticked.is_empty() && search.trim().is_empty()}
                    search={(*search).clone()}
                    on_search={{ let s = search.clone(); Callback::from(move |v: String| s.set(v)) }}
                />
                { radios("help", l("Kind of help", "Math o help"), help, err("help").as_deref()) }
                { radios("follow-up", l("Is follow-up needed?", "Oes angen dilyniant?"), vec![("no", l("No", "Nac oes")), ("yes", l("Yes", "Oes"))], err("follow-up").as_deref()) }
                <div class={classes!("govuk-form-group", "govuk-character-count", err("notes").map(|_| "govuk-form-group--error"))}>
                    <label class="govuk-label govuk-label--s" for="notes">{ l("Notes (optional)", "Nodiadau (dewisol)") }</label>
                    <div id="notes-hint" class="govuk-hint">{ l("Do not include names or anything that identifies the person.", "Peidiwch â chynnwys enwau nac unrhyw beth sy'n dangos pwy yw'r person.") }</div>
                    if let Some(e) = err("notes") {
                        <p class="govuk-error-message"><span class="govuk-visually-hidden">{ l("Error: ", "Gwall: ") }</span>{ e }</p>
                    }
                    <textarea class={classes!("govuk-textarea", (*notes_len > schema::MAX_NOTES_CHARS).then_some("govuk-textarea--error"))}
                        id="notes" name="notes" rows="3" aria-describedby="notes-hint notes-info"
                        oninput={{ let n = notes_len.clone(); move |e: InputEvent| {
                            if let Some(t) = e.target_dyn_into::<web_sys::HtmlTextAreaElement>() { n.set(t.value().chars().count()) }
                        } }} />
                    { character_count("notes-info", *notes_len, schema::MAX_NOTES_CHARS) }
                </div>
                <div class="govuk-button-group">
                    <button type="submit" class="govuk-button" data-module="govuk-button">
                        { if e.is_some() { l("Save correction", "Cadw'r cywiriad") } else { l("Save referral", "Cadw'r atgyfeiriad") } }
                    </button>
                    if e.is_some() {
                        <button type="button" class="govuk-button govuk-button--secondary" onclick={p.on_cancel.reform(|_: MouseEvent| ())}>
                            { l("Cancel", "Canslo") }
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

/// The GOV.UK character count's message: how many characters are left, or how many too many
/// (in the error colour), read out politely as it changes.
fn character_count(id: &'static str, used: usize, max: usize) -> Html {
    let (text, over) = match (max.checked_sub(used), cy()) {
        (Some(1), false) => ("You have 1 character remaining".to_owned(), false),
        (Some(left), false) => (format!("You have {left} characters remaining"), false),
        (Some(left), true) => (format!("Mae gennych {left} nod ar ôl"), false),
        (None, false) if used - max == 1 => ("You have 1 character too many".to_owned(), true),
        (None, false) => (format!("You have {} characters too many", used - max), true),
        (None, true) => (format!("Mae gennych {} nod yn ormod", used - max), true),
    };
    html! {
        <div id={id} aria-live="polite"
            class={classes!("govuk-character-count__message", if over { "govuk-error-message" } else { "govuk-hint" })}>
            { text }
        </div>
    }
}

pub(super) fn prefill(form: &web_sys::HtmlFormElement, r: &Referral) {
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
    // The agency's radio is checked from the form's state; only another agency's name is typed.
    if let AgencyRef::Other(o) = &r.agency {
        set("#agency-other".into(), &value(o.clone()));
    }
    set("#notes".into(), &value(r.notes.clone().unwrap_or_default()));
}
