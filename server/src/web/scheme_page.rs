//! The scheme's page: its details (name, region, kind), sites and tablets, agency directory,
//! roster, keeping records and coordinators. The handlers of its forms ([`super::schemes`],
//! [`super::sites`], [`super::roster`], [`super::records`]) bring it back with the problem when
//! a form is refused ([`again`]) and come back to it with a success banner when an action works
//! ([`done`]); it imports none of them, so the pages layer without circles.

use super::error::{WebError, WebResult};
use super::form::Done;
use super::form::{self, Problem, Text};
use super::lang::l;
use super::lang::tf;
use super::layout::table_head;
use super::layout::{breadcrumbs, manage, page, see_other, segment, success, when};
use super::session::{db, managed, Session};
use super::words::say;
use crate::state::AppState;
use axum::http::StatusCode;
use maud::{html, Markup};
use serde::Deserialize;
use signpost_domain::accounts::{self, Role, User};
use signpost_domain::sql::Connection;
use signpost_domain::tablets::{self, Device};
use signpost_domain::{audit, equality, schemes};
use signpost_shared::schema::{self, Volunteer};

pub(super) struct SchemeView {
    details: schemes::Details,
    /// Volunteers who gave equality-monitoring answers, and when.
    equality: std::collections::HashMap<String, i64>,
    pin_required: bool,
    retention: signpost_domain::retention::Policy,
    sites: Vec<schemes::Site>,
    devices: Vec<Device>,
    volunteers: Vec<Volunteer>,
    coordinators: Vec<User>,
    set_aside: Vec<signpost_domain::set_aside::SetAsideDay>,
}

fn load_scheme(conn: &Connection, scheme: &str) -> anyhow::Result<Option<SchemeView>> {
    let Some(details) = schemes::details(conn, scheme)? else { return Ok(None) };
    Ok(Some(SchemeView {
        details,
        equality: equality::equality_given(conn, scheme)?,
        pin_required: schema::read_pin_required(&schemes::directory(conn, scheme)?),
        retention: signpost_domain::retention::policy(conn, scheme)?.unwrap_or_default(),
        sites: schemes::sites(conn, scheme)?,
        devices: tablets::devices(conn, scheme)?,
        volunteers: schemes::roster(conn, scheme)?,
        coordinators: accounts::users(conn, Some(scheme))?,
        set_aside: signpost_domain::set_aside::list(conn, scheme)?,
    }))
}

/// Back to the scheme's page after an action, with its banner.
pub(super) fn done(scheme: &str, what: &str, item: &str) -> axum::response::Response {
    see_other(&format!("{}?done={}&item={}", manage(&["schemes", scheme]), what, segment(item)))
}

fn done_message(v: &SchemeView, d: &Done) -> Option<String> {
    let volunteer = || v.volunteers.iter().find(|x| x.id == d.item).map(|x| x.name.clone()).unwrap_or_default();
    let site = || v.sites.iter().find(|x| x.id == d.item).map(|x| x.name.clone()).unwrap_or_default();
    let tablet = || {
        v.devices
            .iter()
            .find(|x| x.id == d.item)
            .map(|x| if x.label.is_empty() { x.id.clone() } else { x.label.clone() })
    };
    Some(match d.done.as_str() {
        "details" => l("The scheme's details are saved", "Mae manylion y cynllun wedi'u cadw").to_owned(),
        "created" => l(
            "The scheme is created. Add its sites and volunteers, then set up its tablets.",
            "Mae'r cynllun wedi'i greu. Ychwanegwch ei safleoedd a'i wirfoddolwyr, yna gosodwch ei dabledi.",
        )
        .to_owned(),
        "site-added" => tf!(
            "{} is added. Create an enrolment code to set up its tablet.",
            "Mae {} wedi'i ychwanegu. Crëwch god cofrestru i osod ei dabled.",
            site()
        ),
        "site-renamed" => tf!("The site is now called {}", "Enw'r safle nawr yw {}", site()),
        "site-closed" => tf!(
            "{} is closed. Its tablets log nothing more once they sync.",
            "Mae {} ar gau. Nid yw ei dabledi'n cofnodi dim mwy unwaith y byddant yn cysoni.",
            site()
        ),
        "site-opened" => tf!("{} is open again", "Mae {} ar agor eto", site()),
        "tablet-revoked" => tf!(
            "{} is revoked. It can no longer sync.",
            "Mae {} wedi'i dirymu. Ni all gysoni mwyach.",
            tablet().unwrap_or_default()
        ),
        "volunteer-added" => tf!("{} is on the roster", "Mae {} ar y rhestr", volunteer()),
        "volunteer-off" => tf!("{} is taken off the roster", "Mae {} wedi'i dynnu oddi ar y rhestr", volunteer()),
        "volunteer-back" => tf!("{} is back on the roster", "Mae {} yn ôl ar y rhestr", volunteer()),
        "pin-set" => tf!(
            "{}'s PIN is set. Tell them it in person.",
            "Mae PIN {} wedi'i osod. Dywedwch wrthynt wyneb yn wyneb.",
            volunteer()
        ),
        "pin-setting" => if v.pin_required {
            l(
                "Volunteers now enter their PIN to start a shift",
                "Mae gwirfoddolwyr nawr yn rhoi eu PIN i ddechrau shifft",
            )
        } else {
            l("Volunteers start a shift without a PIN", "Mae gwirfoddolwyr yn dechrau shifft heb PIN")
        }
        .to_owned(),
        "equality-withdrawn" => tf!(
            "{}'s equality-monitoring answers are deleted",
            "Mae atebion monitro cydraddoldeb {} wedi'u dileu",
            volunteer()
        ),
        "retention" => l("How long records are kept is saved", "Mae'r cyfnod cadw cofnodion wedi'i gadw").to_owned(),
        "set-aside-filed" => l(
            "The day is filed under the date it arrived, and counted. Tablets that hold it follow.",
            "Mae'r diwrnod wedi'i ffeilio o dan y dyddiad y cyrhaeddodd, ac yn cael ei gyfrif. Mae tabledi sy'n ei ddal yn dilyn.",
        )
        .to_owned(),
        "set-aside-discarded" => l("The day is discarded", "Mae'r diwrnod wedi'i waredu").to_owned(),
        _ => return None,
    })
}

/// The scheme's page again with the form that was refused, its message and what was typed.
pub(super) async fn again(st: &AppState, s: &Session, scheme: &str, problem: Problem) -> WebResult {
    render(st, s, scheme, Some(problem), &Done::default()).await
}

pub(super) async fn render(st: &AppState, s: &Session, scheme: &str, problem: Option<Problem>, d: &Done) -> WebResult {
    managed(s, scheme)?;
    let (sc, actor) = (scheme.to_owned(), s.user.actor());
    // A refused form comes back to the page its sender was looking at, whose view is already
    // in the audit log: a refusal changes nothing, not even the log.
    let viewed = problem.is_none();
    let view = db(&st.store, move |c| {
        let v = load_scheme(c, &sc)?;
        if v.is_some() && viewed {
            // Volunteers' names are individual-level data.
            audit::audit(c, &actor, "viewed the volunteer roster and tablets", Some(&sc), "")?;
        }
        Ok(v)
    })
    .await?
    .ok_or_else(|| WebError::NotFound(l("There is no such scheme.", "Nid oes cynllun o'r fath.").into()))?;
    let p = problem.as_ref();
    let csrf = &s.csrf;
    let not_given = l("Not given", "Heb ei roi");
    let body = html! {
        @if s.user.role == Role::Admin { (breadcrumbs(&[(l("Schemes and accounts", "Cynlluniau a chyfrifon"), "/manage".into())])) }
        (success(done_message(&view, d).as_deref()))
        (form::summary(p))
        span class="govuk-caption-l" { (l("Scheme", "Cynllun")) }
        h1 class="govuk-heading-l" { (view.details.name) }
        dl class="govuk-summary-list" id="scheme-details" {
            div class="govuk-summary-list__row" {
                dt class="govuk-summary-list__key" { (l("Region", "Rhanbarth")) }
                dd class="govuk-summary-list__value" { (view.details.region.map_or(not_given, |r| say(r.label()))) }
                dd class="govuk-summary-list__actions" {
                    a class="govuk-link" href=(manage(&["schemes", scheme, "details"])) { (l("Change", "Newid")) span class="govuk-visually-hidden" { (l(" the scheme's name, region and kind", " enw, rhanbarth a math y cynllun")) } }
                }
            }
            div class="govuk-summary-list__row govuk-summary-list__row--no-actions" {
                dt class="govuk-summary-list__key" { (l("Kind of scheme", "Math o gynllun")) }
                dd class="govuk-summary-list__value" { (view.details.kind.map_or(not_given, |k| say(k.label()))) }
            }
        }
        p class="govuk-body" {
            a class="govuk-link" href=(manage(&["schemes", scheme, "dashboard"])) { (l("Impact: referrals, volunteer hours and more", "Effaith: atgyfeiriadau, oriau gwirfoddoli a mwy")) }
        }
        h2 class="govuk-heading-m" { (l("Sites and tablets", "Safleoedd a thabledi")) }
        p class="govuk-body" { (l("To set up a tablet, create an enrolment code for its site and type it into Signpost on the tablet. A code works once, within 15 minutes.", "I osod tabled, crëwch god cofrestru ar gyfer ei safle a'i deipio i mewn i Signpost ar y dabled. Mae cod yn gweithio unwaith, o fewn 15 munud.")) }
        table class="govuk-table" id="sites" {
            caption class="govuk-table__caption govuk-visually-hidden" { (l("Sites", "Safleoedd")) }
            (table_head(&[l("Site", "Safle"), l("Action", "Cam")]))
            tbody class="govuk-table__body" {
                @if view.sites.is_empty() {
                    tr class="govuk-table__row" { td class="govuk-table__cell" colspan="2" { (l("No sites yet. Add the scheme's first site below.", "Dim safleoedd eto. Ychwanegwch safle cyntaf y cynllun isod.")) } }
                }
                @for site in &view.sites {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" {
                            (site.name)
                            @if site.closed_at.is_some() { " " strong class="govuk-tag govuk-tag--grey" { (l("Closed", "Ar gau")) } }
                            br;
                            a class="govuk-link govuk-body-s" href=(manage(&["schemes", scheme, "sites", &site.id])) {
                                (l("Rename or close", "Ailenwi neu gau")) span class="govuk-visually-hidden" { " " (site.name) }
                            }
                        }
                        td class="govuk-table__cell" {
                            @if site.closed_at.is_none() {
                                form method="post" action=(manage(&["schemes", scheme, "sites", &site.id, "enrolment-code"])) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" class="govuk-button govuk-!-margin-bottom-0" {
                                        (l("Create an enrolment code", "Creu cod cofrestru")) span class="govuk-visually-hidden" { (l(" for ", " ar gyfer ")) (site.name) }
                                    }
                                }
                            } @else { (l("No new tablets at a closed site", "Dim tabledi newydd mewn safle sydd ar gau")) }
                        }
                    }
                }
            }
        }
        form method="post" action=(manage(&["schemes", scheme, "sites"])) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (Text { hint: Some(l("For example, Highbury Corner Magistrates' Court", "Er enghraifft, Llys Ynadon Caerdydd")), ..Text::new("site-name", "name", l("New site's name", "Enw'r safle newydd")) }.render(p))
            button type="submit" class="govuk-button govuk-button--secondary" { (l("Add site", "Ychwanegu safle")) }
        }
        h3 class="govuk-heading-s" { (l("Tablets", "Tabledi")) }
        @if view.devices.is_empty() { p class="govuk-body" { (l("No tablets are enrolled yet.", "Nid oes tabledi wedi'u cofrestru eto.")) } }
        @else {
            div class="signpost-scroll" {
            table class="govuk-table" id="tablets" {
                (table_head(&[l("Tablet", "Tabled"), l("Site", "Safle"), l("Enrolled", "Cofrestrwyd"), l("Last synced", "Cysoni diwethaf"), l("Status", "Statws")]))
                tbody class="govuk-table__body" {
                    @for dv in &view.devices {
                        @let label = if dv.label.is_empty() { dv.id.clone() } else { dv.label.clone() };
                        tr class="govuk-table__row" {
                            td class="govuk-table__cell" { (label) }
                            td class="govuk-table__cell" { (dv.site_name) }
                            td class="govuk-table__cell" { (when(dv.created_at)) }
                            td class="govuk-table__cell" {
                                @match dv.last_synced_at { Some(at) => (when(at)), None => (l("Never", "Erioed")) }
                                @if let Some((at, why)) = dv.recent_refusal(signpost_domain::util::now_ms()) {
                                    p class="govuk-body-s govuk-!-margin-bottom-0 signpost-refused" {
                                        strong class="govuk-tag govuk-tag--red" { (l("Refused", "Gwrthodwyd")) } " " (when(*at)) ": " (why)
                                    }
                                }
                            }
                            td class="govuk-table__cell" {
                                @if let Some(at) = dv.revoked_at { strong class="govuk-tag govuk-tag--grey" { (l("Revoked", "Wedi'i dirymu")) } " " (when(at)) }
                                @else {
                                    a class="govuk-button govuk-button--warning govuk-!-margin-bottom-0" role="button" draggable="false"
                                        href=(manage(&["schemes", scheme, "tablets", &dv.id, "revoke"])) {
                                        (l("Revoke", "Dirymu")) span class="govuk-visually-hidden" { " " (label) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            }
        }
        (super::sections::set_aside(scheme, &view.set_aside))
        h2 class="govuk-heading-m" { (l("Agency directory", "Cyfeiriadur asiantaethau")) }
        p class="govuk-body" {
            (l("The agencies volunteers signpost to, with what each helps with. ", "Yr asiantaethau y mae gwirfoddolwyr yn cyfeirio pobl atynt, a'r hyn y mae pob un yn helpu ag ef. "))
            a class="govuk-link" href=(manage(&["schemes", scheme, "agencies"])) { (l("Add, change or retire agencies", "Ychwanegu, newid neu dynnu asiantaethau'n ôl")) }
        }
        (super::sections::roster(scheme, &view.volunteers, &view.equality, view.pin_required, csrf, p))
        (super::sections::records(scheme, view.retention, csrf, p))
        h2 class="govuk-heading-m" { (l("Coordinators", "Cydlynwyr")) }
        ul class="govuk-list govuk-list--bullet" {
            @for u in &view.coordinators {
                li { (u.email) @if !u.has_password { (l(" (invited)", " (wedi'i wahodd)")) } @if !u.active { (l(" (deactivated)", " (wedi'i ddadactifadu)")) } }
            }
        }
        form method="post" action=(manage(&["schemes", scheme, "coordinators"])) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (Text { kind: "email", ..Text::new("coordinator-email", "email", l("Invite a coordinator: email address", "Gwahodd cydlynydd: cyfeiriad e-bost")) }.render(p))
            button type="submit" class="govuk-button govuk-button--secondary" { (l("Invite coordinator", "Gwahodd cydlynydd")) }
        }
    };
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(page(status, &form::title(&view.details.name, p), Some(s), body))
}

#[derive(Deserialize)]
pub(super) struct DetailsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    scheme_type: String,
}

/// The scheme's name, region and kind as fields (the scheme page's "Change" and the
/// administrator's new scheme share them): neither select chooses for the user.
pub(super) fn details_fields(p: Option<&Problem>, name: Option<&str>, d: Option<&schemes::Details>) -> Markup {
    use signpost_shared::vocab::{Region, SchemeType};
    let regions: Vec<(&str, &str)> = Region::ALL.iter().map(|r| (r.code(), say(r.label()))).collect();
    let kinds: Vec<(&str, &str)> = SchemeType::ALL.iter().map(|t| (t.code(), say(t.label()))).collect();
    html! {
        (Text { value: name, ..Text::new("scheme-name", "name", l("Scheme's name", "Enw'r cynllun")) }.render(p))
        (form::select(p, "scheme-region", "region", l("Region", "Rhanbarth"), &regions, d.and_then(|d| d.region).map(|r| r.code())))
        (form::select(p, "scheme-type", "scheme_type", l("Kind of scheme", "Math o gynllun"), &kinds, d.and_then(|d| d.kind).map(|k| k.code())))
    }
}

/// Reads the scheme's name, region and kind from a form, in plain words when one is missing.
pub(super) fn checked_details(f: &DetailsForm) -> Result<schemes::Details, Problem> {
    use signpost_shared::vocab::{Region, SchemeType};
    let keep = |p: Problem| {
        p.keep("scheme-name", &f.name).keep("scheme-region", &f.region).keep("scheme-type", &f.scheme_type)
    };
    let name =
        form::checked_name("scheme-name", &f.name, l("the scheme's name", "enw'r cynllun"), 120).map_err(keep)?;
    let region = Region::from_code(&f.region).ok_or_else(|| {
        keep(Problem::new("scheme-region", l("Select the scheme's region", "Dewiswch ranbarth y cynllun")))
    })?;
    let kind = SchemeType::from_code(&f.scheme_type).ok_or_else(|| {
        keep(Problem::new("scheme-type", l("Select the kind of scheme", "Dewiswch y math o gynllun")))
    })?;
    Ok(schemes::Details { name, region: Some(region), kind: Some(kind) })
}
