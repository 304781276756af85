//! A scheme's sites and tablets: a site added, renamed, closed or opened again; an enrolment
//! code for a site's new tablet; a lost tablet revoked after a confirmation step. A site's name
//! and state are in the sites table (for the pages and enrolment) and in the scheme's directory
//! document (for its tablets, which learn of a new name or of the closing when they sync), both
//! written in one transaction through the relay.

use super::error::{WebError, WebResult};
use super::form::{self, Confirm, Problem, Text};
use super::lang::l;
use super::lang::tf;
use super::layout::{manage, page};
use super::scheme_page::{again, done};
use super::session::{db, managed, NameForm, Nothing, Session, SignedForm};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use maud::html;
use serde::Deserialize;
use signpost_domain::{audit, schemes, tablets, Refusal};
use signpost_shared::relay::Edit;
use signpost_shared::schema::{self, SiteState};

#[derive(Deserialize)]
pub(super) struct SchemeSite {
    scheme: String,
    site: String,
}

/// A site name in plain words: given, not too long, and not another open or closed site's of
/// the scheme (its `sites`; `except` the one being renamed).
fn checked_site_name(
    sites: &[schemes::Site],
    except: Option<&str>,
    field: &str,
    typed: &str,
) -> Result<String, Problem> {
    let name = form::checked_name(field, typed, l("the site's name", "enw'r safle"), 120)?;
    let taken = sites.iter().any(|s| Some(s.id.as_str()) != except && s.name.to_lowercase() == name.to_lowercase());
    if taken {
        let p = Problem::new(
            field,
            tf!(
                "The scheme already has a site called {name}. Give this one another name",
                "Mae gan y cynllun safle o'r enw {name} eisoes. Rhowch enw arall i'r un hwn"
            ),
        );
        return Err(p.keep(field, typed));
    }
    Ok(name)
}

pub(super) async fn create_site(
    State(st): State<AppState>,
    Path(scheme): Path<String>,
    SignedForm(s, f): SignedForm<NameForm>,
) -> WebResult {
    managed(&s, &scheme)?;
    let (sc, actor) = (scheme.clone(), s.user.actor());
    let made = db(&st.store, move |c| {
        signpost_domain::db::immediate(c, |c| {
            let name = match checked_site_name(&schemes::sites(c, &sc)?, None, "site-name", &f.name) {
                Ok(n) => n,
                Err(p) => return Ok(Err(p)),
            };
            let id = schemes::create_site(c, &sc, &name)?;
            audit::audit(c, &actor, "site created", Some(&sc), &format!("{id} {name}"))?;
            Ok(Ok(id))
        })
    })
    .await?;
    match made {
        Ok(id) => Ok(done(&scheme, "site-added", &id)),
        Err(p) => again(&st, &s, &scheme, p).await,
    }
}

pub(super) async fn site_page(State(st): State<AppState>, s: Session, Path(p): Path<SchemeSite>) -> WebResult {
    site_form(&st, &s, &p, None).await
}

async fn site_form(st: &AppState, s: &Session, at: &SchemeSite, problem: Option<Problem>) -> WebResult {
    managed(s, &at.scheme)?;
    let (sc, id) = (at.scheme.clone(), at.site.clone());
    let site = db(&st.store, move |c| Ok(schemes::sites(c, &sc)?.into_iter().find(|x| x.id == id))).await?.ok_or_else(
        || WebError::NotFound(l("This scheme has no such site.", "Nid oes gan y cynllun hwn safle o'r fath.").into()),
    )?;
    let p = problem.as_ref();
    let closed = p.and_then(|p| p.kept("site-open")).map_or(site.closed_at.is_some(), |v| v == "closed");
    let body = html! {
        a class="govuk-back-link" href=(manage(&["schemes", &at.scheme])) { (l("Back", "Yn ôl")) }
        (form::summary(p))
        span class="govuk-caption-l" { (site.name) }
        h1 class="govuk-heading-l" { (l("Rename or close this site", "Ailenwi neu gau'r safle hwn")) }
        form method="post" action=(manage(&["schemes", &at.scheme, "sites", &at.site])) novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (Text { value: Some(&site.name), ..Text::new("site-rename", "name", l("Site's name", "Enw'r safle")) }.render(p))
            div class="govuk-form-group" {
                fieldset class="govuk-fieldset" aria-describedby="site-open-hint" {
                    legend class="govuk-fieldset__legend govuk-fieldset__legend--s" { (l("Is the site open?", "A yw'r safle ar agor?")) }
                    div class="govuk-hint" id="site-open-hint" {
                        (l("When a site closes, its tablets stop logging as soon as they next sync; what they hold still reaches the server. Its records and figures stay. You can open it again.", "Pan fydd safle'n cau, mae ei dabledi'n peidio â chofnodi cyn gynted ag y byddant yn cysoni nesaf; mae'r hyn sydd arnynt yn dal i gyrraedd y gweinydd. Mae ei gofnodion a'i ffigurau'n aros. Gallwch ei agor eto."))
                    }
                    div class="govuk-radios" {
                        div class="govuk-radios__item" {
                            input class="govuk-radios__input" id="site-open" name="state" type="radio" value="open" checked[!closed];
                            label class="govuk-label govuk-radios__label" for="site-open" { (l("Open", "Ar agor")) }
                        }
                        div class="govuk-radios__item" {
                            input class="govuk-radios__input" id="site-closed" name="state" type="radio" value="closed" checked[closed];
                            label class="govuk-label govuk-radios__label" for="site-closed" { (l("Closed", "Ar gau")) }
                        }
                    }
                }
            }
            button type="submit" class="govuk-button" { (l("Save", "Cadw")) }
        }
    };
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(page(status, &form::title(l("Rename or close this site", "Ailenwi neu gau'r safle hwn"), p), Some(s), body))
}

#[derive(Deserialize)]
pub(super) struct SiteForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    state: String,
}

pub(super) async fn save_site(
    State(st): State<AppState>,
    Path(at): Path<SchemeSite>,
    SignedForm(s, f): SignedForm<SiteForm>,
) -> WebResult {
    managed(&s, &at.scheme)?;
    let closed = match f.state.as_str() {
        "open" => false,
        "closed" => true,
        _ => {
            let p = Problem::new("site-open", l("Select whether the site is open", "Dewiswch a yw'r safle ar agor"))
                .keep("site-rename", &f.name);
            return site_form(&st, &s, &at, Some(p)).await;
        }
    };
    let (sc, id, typed) = (at.scheme.clone(), at.site.clone(), f.name.clone());
    let before = db(&st.store, move |c| {
        let sites = schemes::sites(c, &sc)?;
        let checked = checked_site_name(&sites, Some(&id), "site-rename", &typed);
        Ok(sites.into_iter().find(|x| x.id == id).map(|site| (site, checked)))
    })
    .await?;
    let Some((site, name)) = before else {
        return Err(WebError::NotFound(
            l("This scheme has no such site.", "Nid oes gan y cynllun hwn safle o'r fath.").into(),
        ));
    };
    let name = match name {
        Ok(n) => n,
        Err(p) => return site_form(&st, &s, &at, Some(p.keep("site-open", &f.state))).await,
    };
    let what = match (site.name != name, closed, site.closed_at.is_some()) {
        (_, true, false) => "site-closed",
        (_, false, true) => "site-opened",
        (true, _, _) => "site-renamed",
        _ => return Ok(done(&at.scheme, "site-renamed", &at.site)),
    };
    let state = SiteState { name: name.clone(), closed };
    let site_id = at.site.clone();
    let write: Edit = Box::new(move |tx| schema::write_site(tx, &site_id, &state).map_err(|e| e.to_string()));
    let (sc, id, actor) = (at.scheme.clone(), at.site.clone(), s.user.actor());
    let record: crate::relay::Record = Box::new(move |c| {
        schemes::update_site(c, &sc, &id, &name, closed)?;
        let action = match what {
            "site-closed" => "site closed",
            "site-opened" => "site opened again",
            _ => "site renamed",
        };
        audit::audit(c, &actor, action, Some(&sc), &format!("{id} {name}"))
    });
    st.hub
        .edit_recorded(schema::directory_id(&at.scheme), write, Some(record))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!(e)))?;
    Ok(done(&at.scheme, what, &at.site))
}

pub(super) async fn enrolment_code(
    State(st): State<AppState>,
    Path(p): Path<SchemeSite>,
    SignedForm(s, _): SignedForm<Nothing>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let (scheme, site, actor) = (p.scheme.clone(), p.site.clone(), s.user.actor());
    let (code, site_name) = db(&st.store, move |c| {
        let names = schemes::site_and_scheme_names(c, &site)?;
        let in_scheme = schemes::site_in_scheme(c, &scheme, &site)?;
        let (Some((site_name, _)), true) = (names, in_scheme) else {
            return Err(Refusal::new(
                "There is no such site in this scheme.",
                "Nid oes safle o'r fath yn y cynllun hwn.",
            )
            .into());
        };
        Ok((tablets::create_enrol_code(c, &site, &actor)?, site_name))
    })
    .await?;
    let until = chrono::Utc::now() + chrono::Duration::milliseconds(tablets::ENROL_CODE_MS);
    let body = html! {
        div class="govuk-panel govuk-panel--confirmation" {
            h1 class="govuk-panel__title" { (l("Enrolment code", "Cod cofrestru")) }
            div class="govuk-panel__body" { strong id="enrolment-code" { (code) } }
        }
        p class="govuk-body" { (l("On the tablet for ", "Ar y dabled ar gyfer ")) strong { (site_name) } (l(", open Signpost and enter this code.", ", agorwch Signpost a rhowch y cod hwn.")) }
        p class="govuk-body" { (l("It works once, until ", "Mae'n gweithio unwaith, tan ")) (until.format("%H:%M UTC")) (l(". Do not write it down or share it.", ". Peidiwch â'i ysgrifennu na'i rannu.")) }
        p class="govuk-body" { a class="govuk-link" href=(manage(&["schemes", &p.scheme])) { (l("Back to the scheme", "Yn ôl i'r cynllun")) } }
    };
    Ok(page(StatusCode::OK, l("Enrolment code", "Cod cofrestru"), Some(&s), body))
}

#[derive(Deserialize)]
pub(super) struct SchemeDevice {
    scheme: String,
    device: String,
}

/// The step before a tablet is revoked: which tablet, what happens, and a warning button.
pub(super) async fn revoke_page(State(st): State<AppState>, s: Session, Path(p): Path<SchemeDevice>) -> WebResult {
    managed(&s, &p.scheme)?;
    let (sc, dev) = (p.scheme.clone(), p.device.clone());
    let device = db(&st.store, move |c| Ok(tablets::devices(c, &sc)?.into_iter().find(|d| d.id == dev)))
        .await?
        .filter(|d| d.revoked_at.is_none())
        .ok_or_else(|| {
            WebError::NotFound(
                l(
                    "This scheme has no such tablet, or it is already revoked.",
                    "Nid oes gan y cynllun hwn dabled o'r fath, neu mae wedi'i dirymu eisoes.",
                )
                .into(),
            )
        })?;
    let label = if device.label.is_empty() { device.id.clone() } else { device.label.clone() };
    let body = Confirm {
        back: &manage(&["schemes", &p.scheme]),
        caption: Some(&device.site_name),
        heading: &tf!("Revoke {label}?", "Dirymu {label}?"),
        what: l("Revoke a tablet that is lost, stolen or no longer used. It stops syncing at once and cannot see the scheme's records again. Entries it already synced stay.", "Dirymwch dabled sydd ar goll, wedi'i dwyn neu nad yw'n cael ei defnyddio mwyach. Mae'n peidio â chysoni ar unwaith ac ni all weld cofnodion y cynllun eto. Mae cofnodion y mae eisoes wedi'u cysoni yn aros."),
        warning: Some(l("Anything on it not yet synced cannot reach the server afterwards. To use the tablet again, set it up with a new enrolment code.", "Ni all unrhyw beth arni sydd heb ei gysoni eto gyrraedd y gweinydd wedyn. I ddefnyddio'r dabled eto, gosodwch hi gyda chod cofrestru newydd.")),
        action: &manage(&["schemes", &p.scheme, "tablets", &p.device, "revoke"]),
        button: &tf!("Revoke {label}", "Dirymu {label}"),
        field: None,
    }
    .render(&s.csrf);
    Ok(page(StatusCode::OK, &tf!("Revoke {label}?", "Dirymu {label}?"), Some(&s), body))
}

pub(super) async fn revoke_tablet(
    State(st): State<AppState>,
    Path(p): Path<SchemeDevice>,
    SignedForm(s, _): SignedForm<Nothing>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let (scheme, device, actor) = (p.scheme.clone(), p.device.clone(), s.user.actor());
    let revoked = db(&st.store, move |c| tablets::revoke_device(c, &scheme, &device, &actor)).await?;
    if !revoked {
        return Err(WebError::NotFound(
            l(
                "This scheme has no such tablet, or it is already revoked.",
                "Nid oes gan y cynllun hwn dabled o'r fath, neu mae wedi'i dirymu eisoes.",
            )
            .into(),
        ));
    }
    st.hub.revoke(p.device.clone()).await;
    Ok(done(&p.scheme, "tablet-revoked", &p.device))
}
