//! Today's desk log (every tablet's entries), with a correction button per referral, and
//! voiding one.

use super::context::CtxRef;
use crate::lang::{category, cy, helped, l};
use crate::ui::*;
use signpost_shared::ids::DocumentId;
use signpost_shared::schema::{self, AgencyRef, EntryKey, Referral};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub(super) struct LogProps {
    pub(super) ctx: CtxRef,
    pub(super) version: u32,
    pub(super) on_edit: Callback<(DocumentId, String)>,
}

#[function_component(TodaysLog)]
pub(super) fn todays_log(p: &LogProps) -> Html {
    let c = &p.ctx.0;
    let today = c.today();
    let peer = c.rep.peer.borrow();
    let agencies = peer.doc(&c.directory).map(schema::read_agencies).unwrap_or_default();
    let volunteers = peer.doc(&c.directory).map(schema::read_volunteers).unwrap_or_default();
    let waiting = c.rep.waiting_ids(&today);
    let logged_by =
        |v: &Option<String>| v.as_ref().and_then(|id| volunteers.iter().find(|x| &x.id == id)).map(|x| x.name.clone());
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
            <h2 class="govuk-heading-m" id="today-heading">{ if cy() { format!("Log y ddesg heddiw ({live})") } else { format!("Today's desk log ({live})") } }</h2>
            if rows.is_empty() {
                <p class="govuk-body">{ l("No referrals logged at this desk today.", "Dim atgyfeiriadau wedi'u cofnodi wrth y ddesg hon heddiw.") }</p>
            } else {
                <table class="govuk-table">
                    <caption class="govuk-table__caption govuk-visually-hidden">{ l("Referrals logged today at this desk, on every tablet", "Atgyfeiriadau a gofnodwyd heddiw wrth y ddesg hon, ar bob tabled") }</caption>
                    <thead class="govuk-table__head">
                        <tr class="govuk-table__row">
                            <th scope="col" class="govuk-table__header">{ l("Time and volunteer", "Amser a gwirfoddolwr") }</th>
                            <th scope="col" class="govuk-table__header">{ l("Who", "Pwy") }</th>
                            <th scope="col" class="govuk-table__header">{ l("Needed help with", "Angen help gyda") }</th>
                            <th scope="col" class="govuk-table__header">{ l("Agency", "Asiantaeth") }</th>
                            <th scope="col" class="govuk-table__header"><span class="govuk-visually-hidden">{ l("Actions", "Camau") }</span></th>
                        </tr>
                    </thead>
                    <tbody class="govuk-table__body">
                        { for rows.iter().map(|r| html! {
                            <tr class="govuk-table__row referral-row">
                                <td class="govuk-table__cell">
                                    { clock(r.recorded_at_ms) }
                                    if let Some(name) = logged_by(&r.volunteer) {
                                        <br /><span class="govuk-body-s">{ name }</span>
                                    }
                                    if waiting.contains(&r.id) {
                                        <br /><strong class="govuk-tag govuk-tag--yellow signpost-waiting">{ l("Waiting to sync", "Yn aros i gysoni") }</strong>
                                    }
                                </td>
                                <td class="govuk-table__cell">
                                    { helped(r.helped) }
                                    if r.void.is_some() { { " " } <strong class="govuk-tag govuk-tag--grey">{ l("Void", "Di-rym") }</strong> }
                                </td>
                                <td class="govuk-table__cell">{ r.categories.iter().map(|c| category(*c)).collect::<Vec<_>>().join(", ") }</td>
                                <td class="govuk-table__cell">{ agency_name(&r.agency) }</td>
                                <td class="govuk-table__cell">
                                    if r.void.is_none() {
                                        <button type="button" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0"
                                            onclick={{ let (id, cb) = (r.id.clone(), p.on_edit.clone()); move |_: MouseEvent| cb.emit((today, id.clone())) }}>
                                            { l("Change", "Newid") }
                                            <span class="govuk-visually-hidden">{ if cy() { format!(" yr atgyfeiriad a gofnodwyd am {}", clock(r.recorded_at_ms)) } else { format!(" the referral logged at {}", clock(r.recorded_at_ms)) } }</span>
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
pub(super) struct VoidProps {
    pub(super) ctx: CtxRef,
    pub(super) doc: DocumentId,
    pub(super) id: String,
    pub(super) on_saved: Callback<String>,
}

/// Voiding keeps the entry for audit and takes it out of every statistic; a reason is required.
#[function_component(VoidReferral)]
pub(super) fn void_referral(p: &VoidProps) -> Html {
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
                error.set(Some(
                    l(
                        "Enter why this referral is void (at most 200 characters)",
                        "Rhowch pam mae'r atgyfeiriad hwn yn ddi-rym (200 nod ar y mwyaf)",
                    )
                    .into(),
                ));
                return;
            }
            let (error, ctx, on_saved, id) = (error.clone(), ctx.clone(), on_saved.clone(), id.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match ctx.commit(doc, |tx| schema::void_referral(tx, &id, &text, now_ms())).await {
                    Ok(()) => on_saved.emit(if cy() {
                        format!("Gwnaed yr atgyfeiriad yn ddi-rym am {}", clock(now_ms()))
                    } else {
                        format!("Referral voided at {}", clock(now_ms()))
                    }),
                    Err(msg) => error.set(Some(msg)),
                }
            });
        })
    };
    html! {
        <form onsubmit={onsubmit} novalidate=true class="govuk-!-margin-top-6">
            <h3 class="govuk-heading-s">{ l("Void this referral", "Gwneud yr atgyfeiriad hwn yn ddi-rym") }</h3>
            <p class="govuk-body">{ l("A void referral stays in the log for audit but is not counted.", "Mae atgyfeiriad di-rym yn aros yn y log ar gyfer archwilio ond nid yw'n cael ei gyfrif.") }</p>
            <div class={classes!("govuk-form-group", error.is_some().then_some("govuk-form-group--error"))}>
                <label class="govuk-label" for="void-reason">{ l("Why is it void?", "Pam mae'n ddi-rym?") }</label>
                if let Some(e) = (*error).clone() {
                    <p class="govuk-error-message"><span class="govuk-visually-hidden">{ l("Error: ", "Gwall: ") }</span>{ e }</p>
                }
                <input ref={reason} class="govuk-input" id="void-reason" name="void-reason" type="text" maxlength="200" autocomplete="off" />
            </div>
            <button type="submit" class="govuk-button govuk-button--warning">{ l("Void referral", "Gwneud yn ddi-rym") }</button>
        </form>
    }
}
