//! Days set aside (a tablet's wrong clock dated them outside the relay's window): for each a
//! confirmation page and the action — file it under the date it was synced, or discard it (their
//! section of the scheme's page is `sections::set_aside`). Both are audited in the domain
//! ([`signpost_domain::set_aside`]); tablets that hold the day follow, as after an erasure.

use super::error::{WebError, WebResult};
use super::form::Confirm;
use super::lang::{l, tf};
use super::layout::page;
use super::scheme_page::done;
use super::sections::set_aside_link as link;
use super::session::{db, managed, Nothing, Session, SignedForm};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use signpost_domain::set_aside::{self, SetAsideDay};
use signpost_shared::ids::DocumentId;

#[derive(Deserialize)]
pub(super) struct At {
    scheme: String,
    doc: String,
    action: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Action {
    File,
    Discard,
}

fn parse(at: &At) -> Result<(DocumentId, Action), WebError> {
    let none = || WebError::NotFound(l("There is no such day set aside.", "Nid oes diwrnod o'r fath wedi'i roi o'r neilltu.").into());
    let doc: DocumentId = at.doc.parse().map_err(|_| none())?;
    let action = match at.action.as_str() {
        "file" => Action::File,
        "discard" => Action::Discard,
        _ => return Err(none()),
    };
    Ok((doc, action))
}

async fn find(st: &AppState, scheme: &str, doc: DocumentId) -> Result<SetAsideDay, WebError> {
    let sc = scheme.to_owned();
    db(&st.store, move |c| set_aside::get(c, &sc, &doc)).await?.ok_or_else(|| {
        WebError::NotFound(
            l(
                "This scheme has no such day set aside: it may have been filed or discarded already.",
                "Nid oes gan y cynllun hwn ddiwrnod o'r fath wedi'i roi o'r neilltu: efallai ei fod wedi'i ffeilio neu ei waredu eisoes.",
            )
            .into(),
        )
    })
}

/// `GET …/set-aside/{doc}/{file|discard}`: what will happen, and the button.
pub(super) async fn confirm_page(State(st): State<AppState>, s: Session, Path(at): Path<At>) -> WebResult {
    managed(&s, &at.scheme)?;
    let (doc, action) = parse(&at)?;
    let day = find(&st, &at.scheme, doc).await?;
    let ymd = |d: chrono::NaiveDate| d.format("%d/%m/%Y").to_string();
    let (heading, what, warning, button) = match action {
        Action::File => (
            tf!("File the day dated {} under {}?", "Ffeilio'r diwrnod dyddiedig {} o dan {}?", ymd(day.day), ymd(day.synced_on)),
            tf!(
                "Its {} referrals and {} shifts become entries of {} at {}, at the same times of day, and are counted from then on. Tablets that hold the day follow.",
                "Mae ei {} atgyfeiriad a'i {} sifft yn dod yn gofnodion {} yn {}, ar yr un amseroedd o'r dydd, ac yn cael eu cyfrif o hynny ymlaen. Mae tabledi sy'n dal y diwrnod yn dilyn.",
                day.referrals, day.shifts, ymd(day.synced_on), day.site_name
            ),
            None,
            l("File the day", "Ffeilio'r diwrnod"),
        ),
        Action::Discard => (
            tf!("Discard the day dated {}?", "Gwaredu'r diwrnod dyddiedig {}?", ymd(day.day)),
            tf!(
                "Its {} referrals and {} shifts are removed for good and never counted.",
                "Mae ei {} atgyfeiriad a'i {} sifft yn cael eu dileu am byth a byth yn cael eu cyfrif.",
                day.referrals, day.shifts
            ),
            Some(l(
                "Discard only a day that holds nothing real (a test, say). Real entries with a wrong date should be filed.",
                "Gwaredwch ddiwrnod nad yw'n dal dim byd go iawn yn unig (prawf, er enghraifft). Dylid ffeilio cofnodion go iawn gyda dyddiad anghywir.",
            )),
            l("Discard the day", "Gwaredu'r diwrnod"),
        ),
    };
    let back = format!("/manage/schemes/{}#set-aside-heading", super::layout::segment(&at.scheme));
    let body = Confirm {
        back: &back,
        caption: Some(&day.site_name),
        heading: &heading,
        what: &what,
        warning,
        action: &link(&at.scheme, &doc, &at.action),
        button,
        field: None,
    }
    .render(&s.csrf);
    Ok(page(StatusCode::OK, &heading, Some(&s), body))
}

/// `POST …/set-aside/{doc}/{file|discard}`.
pub(super) async fn act(State(st): State<AppState>, Path(at): Path<At>, SignedForm(s, _): SignedForm<Nothing>) -> WebResult {
    managed(&s, &at.scheme)?;
    let (doc, action) = parse(&at)?;
    let (scheme, actor) = (at.scheme.clone(), s.user.actor());
    let outcome = db(&st.store, move |c| match action {
        Action::File => set_aside::file(c, &scheme, &doc, &actor, DocumentId::random(rand::random())),
        Action::Discard => set_aside::discard(c, &scheme, &doc, &actor),
    })
    .await?;
    let Some(outcome) = outcome else {
        return Err(WebError::NotFound(
            l(
                "This scheme has no such day set aside: it may have been filed or discarded already.",
                "Nid oes gan y cynllun hwn ddiwrnod o'r fath wedi'i roi o'r neilltu: efallai ei fod wedi'i ffeilio neu ei waredu eisoes.",
            )
            .into(),
        ));
    };
    // The relay drops its live copy at once, rather than at its next tick.
    let replaced_by = match outcome {
        set_aside::Outcome::Filed { new, .. } => Some(new),
        set_aside::Outcome::Discarded => None,
    };
    st.hub.retired(vec![(doc, replaced_by)]).await;
    let what = match action {
        Action::File => "set-aside-filed",
        Action::Discard => "set-aside-discarded",
    };
    Ok(done(&at.scheme, what, ""))
}
