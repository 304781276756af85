//! The desk's follow-ups: referrals marked "follow-up needed", from any day and any tablet of the
//! desk, until someone closes each with an outcome. The closing is written into the referral in
//! its own day's document (see `schema::close_follow_up`), so it syncs, counts and merges like
//! any edit.

use super::context::CtxRef;
use super::roster::load_on_desk;
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
                error.set(Some("Select how the follow-up ended".into()));
                return;
            };
            let closed = FollowUpClosed { outcome, at_ms: now_ms(), by: load_on_desk().map(|d| d.volunteer) };
            let (closing, error, on_saved, c) = (closing.clone(), error.clone(), on_saved.clone(), c.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match c.commit(doc, |tx| schema::close_follow_up(tx, &id, &closed)).await {
                    Ok(()) => {
                        closing.set(None);
                        error.set(None);
                        on_saved.emit(format!("Follow-up closed: {}", outcome.label().to_lowercase()));
                    }
                    Err(m) => error.set(Some(m)),
                }
            });
        })
    };
    html! {
        <section aria-labelledby="follow-ups-heading" id="follow-ups">
            <h2 class="govuk-heading-m" id="follow-ups-heading">{ format!("Follow-ups ({} open)", open.len()) }</h2>
            if open.is_empty() {
                <p class="govuk-body">{ "No follow-ups are open at this desk." }</p>
            } else {
                <p class="govuk-body">{ "Referrals marked \"follow-up needed\", from any day and any tablet of this desk, oldest first. Close each once it is done." }</p>
                <ul class="govuk-list" id="follow-up-list">
                    { for open.iter().map(|(doc, r)| {
                        let this = Some((*doc, r.id.clone()));
                        let open_form = *closing == this;
                        let when = format!("{} {}", day_label(r.recorded_at_ms), clock(r.recorded_at_ms));
                        html! {
                            <li class="signpost-follow-up">
                                <h3 class="govuk-heading-s govuk-!-margin-bottom-1">{ format!("{}: {}", when, r.helped.label()) }</h3>
                                <p class="govuk-body govuk-!-margin-bottom-1">
                                    { r.categories.iter().map(|c| c.label()).collect::<Vec<_>>().join(", ") }
                                    { " – " }{ agency_name(&r.agency) }
                                </p>
                                if let Some(n) = &r.notes { <p class="govuk-body-s">{ n.clone() }</p> }
                                if open_form {
                                    <form onsubmit={onsubmit.clone()} novalidate=true>
                                        <div class={classes!("govuk-form-group", error.is_some().then_some("govuk-form-group--error"))}>
                                            <fieldset class="govuk-fieldset">
                                                <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">{ "How did the follow-up end?" }</legend>
                                                if let Some(e) = (*error).clone() {
                                                    <p class="govuk-error-message"><span class="govuk-visually-hidden">{ "Error: " }</span>{ e }</p>
                                                }
                                                <div class="govuk-radios">
                                                    { for FollowUpOutcome::ALL.iter().map(|o| {
                                                        let id = format!("outcome-{}", o.code());
                                                        html! {
                                                            <div class="govuk-radios__item">
                                                                <input class="govuk-radios__input" id={id.clone()} name="outcome" type="radio" value={o.code()} />
                                                                <label class="govuk-label govuk-radios__label" for={id}>{ o.label() }</label>
                                                            </div>
                                                        }
                                                    }) }
                                                </div>
                                            </fieldset>
                                        </div>
                                        <div class="govuk-button-group">
                                            <button type="submit" class="govuk-button">{ "Close follow-up" }</button>
                                            <button type="button" class="govuk-button govuk-button--secondary"
                                                onclick={{ let s = closing.clone(); move |_: MouseEvent| s.set(None) }}>{ "Cancel" }</button>
                                        </div>
                                    </form>
                                } else {
                                    <button type="button" class="govuk-button govuk-button--secondary"
                                        onclick={{ let (s, e) = (closing.clone(), error.clone()); move |_: MouseEvent| { e.set(None); s.set(this.clone()) } }}>
                                        { "Close" }
                                        <span class="govuk-visually-hidden">{ format!(" the follow-up of {when}") }</span>
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
    format!("{} {}", d.get_date(), MONTHS[d.get_month() as usize % 12])
}
