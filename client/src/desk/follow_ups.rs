//! The desk's follow-ups: referrals marked "follow-up needed", from any day and any tablet of the
//! desk, until someone closes each with an outcome. The closing is written into the referral in
//! its own day's document (see `schema::close_follow_up`), so it syncs, counts and merges like
//! any edit.

use super::context::CtxRef;
use super::roster::load_on_desk;
use crate::lang::{category, cy, helped, l};
use crate::ui::*;
use signpost_shared::ids::DocumentId;
use signpost_shared::schema::{self, AgencyRef, FollowUpClosed};
use signpost_shared::vocab::FollowUpOutcome;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub(super) struct FollowUpsProps {
    pub(super) ctx: CtxRef,
    pub(super) version: u32,
    pub(super) on_saved: Callback<String>,
}

#[function_component(FollowUps)]
pub(super) fn follow_ups(p: &FollowUpsProps) -> Html {
    let c = p.ctx.0.clone();
    // The follow-up being closed, and the problem with its form.
    let closing = use_state(|| None::<(DocumentId, String)>);
    let error = use_state(|| None::<String>);
    let open = c.open_follow_ups();
    let agencies = c.rep.peer.borrow().doc(&c.directory).map(schema::read_agencies).unwrap_or_default();
    let agency_name = |a: &AgencyRef| match a {
        AgencyRef::Directory(id) => {
            agencies.iter().find(|x| &x.id == id).map(|x| x.name.clone()).unwrap_or_else(|| id.clone())
        }
        AgencyRef::Other(o) => o.clone(),
    };
    let onsubmit = {
        let (closing, error, on_saved, c) = (closing.clone(), error.clone(), p.on_saved.clone(), c.clone());
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let Some((doc, id)) = (*closing).clone() else { return };
            let chosen = e
                .target_dyn_into::<web_sys::HtmlFormElement>()
                .and_then(|f| web_sys::FormData::new_with_form(&f).ok())
                .and_then(|d| d.get("outcome").as_string())
                .and_then(|o| FollowUpOutcome::from_code(&o));
            let Some(outcome) = chosen else {
                error.set(Some(l("Select how the follow-up ended", "Dewiswch sut daeth y dilyniant i ben").into()));
                return;
            };
            let closed = FollowUpClosed { outcome, at_ms: now_ms(), by: load_on_desk().map(|d| d.volunteer) };
            let (closing, error, on_saved, c) = (closing.clone(), error.clone(), on_saved.clone(), c.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match c.commit(doc, |tx| schema::close_follow_up(tx, &id, &closed)).await {
                    Ok(()) => {
                        closing.set(None);
                        error.set(None);
                        on_saved.emit(if cy() {
                            format!("Dilyniant wedi'i gau: {}", crate::lang::outcome(outcome).to_lowercase())
                        } else {
                            format!("Follow-up closed: {}", outcome.label().to_lowercase())
                        });
                    }
                    Err(m) => error.set(Some(m)),
                }
            });
        })
    };
    html! {
        <section aria-labelledby="follow-ups-heading" id="follow-ups">
            <h2 class="govuk-heading-m" id="follow-ups-heading">{ if cy() { format!("Dilyniannau ({} ar agor)", open.len()) } else { format!("Follow-ups ({} open)", open.len()) } }</h2>
            if open.is_empty() {
                <p class="govuk-body">{ l("No follow-ups are open at this desk.", "Nid oes dilyniannau ar agor wrth y ddesg hon.") }</p>
            } else {
                <p class="govuk-body">{ l("Referrals marked \"follow-up needed\", from any day and any tablet of this desk, oldest first. Close each once it is done.", "Atgyfeiriadau wedi'u marcio \"angen dilyniant\", o unrhyw ddiwrnod ac unrhyw dabled wrth y ddesg hon, yr hynaf yn gyntaf. Caewch bob un unwaith y bydd wedi'i wneud.") }</p>
                <ul class="govuk-list" id="follow-up-list">
                    { for open.iter().map(|(doc, r)| {
                        let this = Some((*doc, r.id.clone()));
                        let open_form = *closing == this;
                        let when = format!("{} {}", day_label(r.recorded_at_ms), clock(r.recorded_at_ms));
                        html! {
                            <li class="signpost-follow-up">
                                <h3 class="govuk-heading-s govuk-!-margin-bottom-1">{ format!("{}: {}", when, helped(r.helped)) }</h3>
                                <p class="govuk-body govuk-!-margin-bottom-1">
                                    { r.categories.iter().map(|c| category(*c)).collect::<Vec<_>>().join(", ") }
                                    { " – " }{ agency_name(&r.agency) }
                                </p>
                                if let Some(n) = &r.notes { <p class="govuk-body-s">{ n.clone() }</p> }
                                if open_form {
                                    <form onsubmit={onsubmit.clone()} novalidate=true>
                                        <div class={classes!("govuk-form-group", error.is_some().then_some("govuk-form-group--error"))}>
                                            <fieldset class="govuk-fieldset">
                                                <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">{ l("How did the follow-up end?", "Sut daeth y dilyniant i ben?") }</legend>
                                                if let Some(e) = (*error).clone() {
                                                    <p class="govuk-error-message"><span class="govuk-visually-hidden">{ l("Error: ", "Gwall: ") }</span>{ e }</p>
                                                }
                                                <div class="govuk-radios">
                                                    { for FollowUpOutcome::ALL.iter().map(|o| {
                                                        let id = format!("outcome-{}", o.code());
                                                        html! {
                                                            <div class="govuk-radios__item">
                                                                <input class="govuk-radios__input" id={id.clone()} name="outcome" type="radio" value={o.code()} />
                                                                <label class="govuk-label govuk-radios__label" for={id}>{ crate::lang::outcome(*o) }</label>
                                                            </div>
                                                        }
                                                    }) }
                                                </div>
                                            </fieldset>
                                        </div>
                                        <div class="govuk-button-group">
                                            <button type="submit" class="govuk-button">{ l("Close follow-up", "Cau'r dilyniant") }</button>
                                            <button type="button" class="govuk-button govuk-button--secondary"
                                                onclick={{ let s = closing.clone(); move |_: MouseEvent| s.set(None) }}>{ l("Cancel", "Canslo") }</button>
                                        </div>
                                    </form>
                                } else {
                                    <button type="button" class="govuk-button govuk-button--secondary"
                                        onclick={{ let (s, e) = (closing.clone(), error.clone()); move |_: MouseEvent| { e.set(None); s.set(this.clone()) } }}>
                                        { l("Close", "Cau") }
                                        <span class="govuk-visually-hidden">{ if cy() { format!(" y dilyniant o {when}") } else { format!(" the follow-up of {when}") } }</span>
                                    </button>
                                }
                            </li>
                        }
                    }) }
                </ul>
            }
        </section>
    }
}

/// The day of a time, as the desk reads it: "2 Dec".
fn day_label(ms: i64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    const MISOEDD: [&str; 12] =
        ["Ion", "Chwef", "Maw", "Ebr", "Mai", "Meh", "Gorff", "Awst", "Medi", "Hyd", "Tach", "Rhag"];
    let months = if cy() { MISOEDD } else { MONTHS };
    format!("{} {}", d.get_date(), months[d.get_month() as usize % 12])
}
