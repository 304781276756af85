//! A scheme's page ([`super::scheme_page`]) and the forms that belong to the scheme itself: its
//! name, region and kind, and its coordinators.

use super::admin::link_page;
use super::error::{WebError, WebResult};
use super::form::Done;
use super::form::{self, Problem};
use super::lang::l;
use super::layout::{manage, page};
use super::scheme_page::{again, checked_details, details_fields, done, render, DetailsForm};
use super::session::{db, managed, Session, SignedForm};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use maud::html;
use serde::Deserialize;
use signpost_domain::accounts::{self, Role};
use signpost_domain::{audit, schemes, Refusal};

pub(super) async fn scheme_page(
    State(st): State<AppState>,
    s: Session,
    Path(scheme): Path<String>,
    Query(d): Query<Done>,
) -> WebResult {
    render(&st, &s, &scheme, None, &d).await
}

pub(super) async fn details_page(State(st): State<AppState>, s: Session, Path(scheme): Path<String>) -> WebResult {
    details_form(&st, &s, &scheme, None).await
}

async fn details_form(st: &AppState, s: &Session, scheme: &str, problem: Option<Problem>) -> WebResult {
    managed(s, scheme)?;
    let sc = scheme.to_owned();
    let d = db(&st.store, move |c| schemes::details(c, &sc))
        .await?
        .ok_or_else(|| WebError::NotFound(l("There is no such scheme.", "Nid oes cynllun o'r fath.").into()))?;
    let p = problem.as_ref();
    let body = html! {
        a class="govuk-back-link" href=(manage(&["schemes", scheme])) { (l("Back", "Yn ôl")) }
        (form::summary(p))
        span class="govuk-caption-l" { (d.name) }
        h1 class="govuk-heading-l" { (l("Change the scheme's details", "Newid manylion y cynllun")) }
        p class="govuk-body" { (l("The region and kind place the scheme in the national figures.", "Mae'r rhanbarth a'r math yn gosod y cynllun yn y ffigurau cenedlaethol.")) }
        form method="post" action=(manage(&["schemes", scheme, "details"])) novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (details_fields(p, Some(&d.name), Some(&d)))
            button type="submit" class="govuk-button" { (l("Save", "Cadw")) }
        }
    };
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(page(status, &form::title(l("Change the scheme's details", "Newid manylion y cynllun"), p), Some(s), body))
}

pub(super) async fn save_details(
    State(st): State<AppState>,
    Path(scheme): Path<String>,
    SignedForm(s, f): SignedForm<DetailsForm>,
) -> WebResult {
    managed(&s, &scheme)?;
    let d = match checked_details(&f) {
        Ok(d) => d,
        Err(p) => return details_form(&st, &s, &scheme, Some(p)).await,
    };
    let (sc, actor) = (scheme.clone(), s.user.actor());
    let found = db(&st.store, move |c| {
        signpost_domain::db::immediate(c, |c| {
            let found = schemes::set_details(c, &sc, &d)?;
            if found {
                let detail =
                    format!("{}, {}, {}", d.name, d.region.map_or("", |r| r.code()), d.kind.map_or("", |k| k.code()));
                audit::audit(c, &actor, "scheme details changed", Some(&sc), &detail)?;
            }
            Ok(found)
        })
    })
    .await?;
    if !found {
        return Err(WebError::NotFound(l("There is no such scheme.", "Nid oes cynllun o'r fath.").into()));
    }
    Ok(done(&scheme, "details", ""))
}

#[derive(Deserialize)]
pub(super) struct EmailForm {
    #[serde(default)]
    email: String,
}

pub(super) async fn invite_coordinator(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(scheme): Path<String>,
    SignedForm(s, f): SignedForm<EmailForm>,
) -> WebResult {
    managed(&s, &scheme)?;
    let (role, actor, email) = (Role::Coordinator { scheme: scheme.clone() }, s.user.actor(), f.email.clone());
    let created = db(&st.store, move |c| Ok(accounts::create_user(c, &email, &role, &actor))).await?;
    let (user, code) = match created {
        Ok(made) => made,
        Err(e) => match e.downcast::<Refusal>() {
            Ok(r) => {
                return again(
                    &st,
                    &s,
                    &scheme,
                    Problem::new("coordinator-email", super::lang::refusal(r)).keep("coordinator-email", &f.email),
                )
                .await
            }
            Err(e) => return Err(e.into()),
        },
    };
    Ok(link_page(
        &st,
        &s,
        &headers,
        l("Coordinator invited", "Cydlynydd wedi'i wahodd"),
        &user.email,
        &code,
        &manage(&["schemes", &scheme]),
    ))
}
