//! The scheme's page: its details (name, region, kind), sites and tablets, agency directory,
//! roster, keeping records and coordinators. The handlers of its forms ([`super::schemes`],
//! [`super::sites`], [`super::roster`], [`super::records`]) bring it back with the problem when
//! a form is refused ([`again`]) and come back to it with a success banner when an action works
//! ([`done`]); it imports none of them, so the pages layer without circles.

use super::error::{WebError, WebResult};
use super::form::{self, Problem, Text};
use super::layout::{breadcrumbs, page, see_other, success, when};
use super::session::{db, managed, Session};
use crate::state::AppState;
use axum::http::StatusCode;
use maud::{html, Markup};
use rusqlite::Connection;
use serde::Deserialize;
use signpost_domain::accounts::{self, Role, User};
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
    }))
}

/// What was just done, for the success banner: `done` names the action, `item` the site,
/// tablet or volunteer it was done to (ids only in the address; the page finds the name).
#[derive(Deserialize, Default)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    item: String,
}

/// Back to the scheme's page after an action, with its banner.
pub(super) fn done(scheme: &str, what: &str, item: &str) -> axum::response::Response {
    see_other(&format!("/manage/schemes/{scheme}?done={what}&item={item}"))
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
        "details" => "The scheme's details are saved".to_owned(),
        "created" => "The scheme is created. Add its sites and volunteers, then set up its tablets.".to_owned(),
        "site-added" => format!("{} is added. Create an enrolment code to set up its tablet.", site()),
        "site-renamed" => format!("The site is now called {}", site()),
        "site-closed" => format!("{} is closed. Its tablets log nothing more once they sync.", site()),
        "site-opened" => format!("{} is open again", site()),
        "tablet-revoked" => format!("{} is revoked. It can no longer sync.", tablet().unwrap_or_default()),
        "volunteer-added" => format!("{} is on the roster", volunteer()),
        "volunteer-off" => format!("{} is taken off the roster", volunteer()),
        "volunteer-back" => format!("{} is back on the roster", volunteer()),
        "pin-set" => format!("{}'s PIN is set. Tell them it in person.", volunteer()),
        "pin-setting" => if v.pin_required {
            "Volunteers now enter their PIN to start a shift"
        } else {
            "Volunteers start a shift without a PIN"
        }
        .to_owned(),
        "equality-withdrawn" => format!("{}'s equality-monitoring answers are deleted", volunteer()),
        "retention" => "How long records are kept is saved".to_owned(),
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
    .ok_or_else(|| WebError::NotFound("There is no such scheme.".into()))?;
    let p = problem.as_ref();
    let csrf = &s.csrf;
    let not_given = "Not given";
    let body = html! {
        @if s.user.role == Role::Admin { (breadcrumbs(&[("Schemes and accounts", "/manage".into())])) }
        (success(done_message(&view, d).as_deref()))
        (form::summary(p))
        span class="govuk-caption-l" { "Scheme" }
        h1 class="govuk-heading-l" { (view.details.name) }
        dl class="govuk-summary-list" id="scheme-details" {
            div class="govuk-summary-list__row" {
                dt class="govuk-summary-list__key" { "Region" }
                dd class="govuk-summary-list__value" { (view.details.region.map_or(not_given, |r| r.label())) }
                dd class="govuk-summary-list__actions" {
                    a class="govuk-link" href=(format!("/manage/schemes/{scheme}/details")) { "Change" span class="govuk-visually-hidden" { " the scheme's name, region and kind" } }
                }
            }
            div class="govuk-summary-list__row govuk-summary-list__row--no-actions" {
                dt class="govuk-summary-list__key" { "Kind of scheme" }
                dd class="govuk-summary-list__value" { (view.details.kind.map_or(not_given, |k| k.label())) }
            }
        }
        p class="govuk-body" {
            a class="govuk-link" href=(format!("/manage/schemes/{scheme}/dashboard")) { "Impact: referrals, volunteer hours and more" }
        }
        h2 class="govuk-heading-m" { "Sites and tablets" }
        p class="govuk-body" { "To set up a tablet, create an enrolment code for its site and type it into Signpost on the tablet. A code works once, within 15 minutes." }
        table class="govuk-table" id="sites" {
            caption class="govuk-table__caption govuk-visually-hidden" { "Sites" }
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                th scope="col" class="govuk-table__header" { "Site" }
                th scope="col" class="govuk-table__header" { "Action" }
            } }
            tbody class="govuk-table__body" {
                @if view.sites.is_empty() {
                    tr class="govuk-table__row" { td class="govuk-table__cell" colspan="2" { "No sites yet. Add the scheme's first site below." } }
                }
                @for site in &view.sites {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" {
                            (site.name)
                            @if site.closed_at.is_some() { " " strong class="govuk-tag govuk-tag--grey" { "Closed" } }
                            br;
                            a class="govuk-link govuk-body-s" href=(format!("/manage/schemes/{scheme}/sites/{}", site.id)) {
                                "Rename or close" span class="govuk-visually-hidden" { " " (site.name) }
                            }
                        }
                        td class="govuk-table__cell" {
                            @if site.closed_at.is_none() {
                                form method="post" action=(format!("/manage/schemes/{scheme}/sites/{}/enrolment-code", site.id)) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" class="govuk-button govuk-!-margin-bottom-0" {
                                        "Create an enrolment code" span class="govuk-visually-hidden" { " for " (site.name) }
                                    }
                                }
                            } @else { "No new tablets at a closed site" }
                        }
                    }
                }
            }
        }
        form method="post" action=(format!("/manage/schemes/{scheme}/sites")) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (Text { hint: Some("For example, Highbury Corner Magistrates' Court"), ..Text::new("site-name", "name", "New site's name") }.render(p))
            button type="submit" class="govuk-button govuk-button--secondary" { "Add site" }
        }
        h3 class="govuk-heading-s" { "Tablets" }
        @if view.devices.is_empty() { p class="govuk-body" { "No tablets are enrolled yet." } }
        @else {
            div class="signpost-scroll" {
            table class="govuk-table" id="tablets" {
                thead class="govuk-table__head" { tr class="govuk-table__row" {
                    th scope="col" class="govuk-table__header" { "Tablet" }
                    th scope="col" class="govuk-table__header" { "Site" }
                    th scope="col" class="govuk-table__header" { "Enrolled" }
                    th scope="col" class="govuk-table__header" { "Last synced" }
                    th scope="col" class="govuk-table__header" { "Status" }
                } }
                tbody class="govuk-table__body" {
                    @for dv in &view.devices {
                        @let label = if dv.label.is_empty() { dv.id.clone() } else { dv.label.clone() };
                        tr class="govuk-table__row" {
                            td class="govuk-table__cell" { (label) }
                            td class="govuk-table__cell" { (dv.site_name) }
                            td class="govuk-table__cell" { (when(dv.created_at)) }
                            td class="govuk-table__cell" {
                                @match dv.last_synced_at { Some(at) => (when(at)), None => "Never" }
                                @if let Some((at, why)) = dv.recent_refusal(signpost_domain::util::now_ms()) {
                                    p class="govuk-body-s govuk-!-margin-bottom-0 signpost-refused" {
                                        strong class="govuk-tag govuk-tag--red" { "Refused" } " " (when(*at)) ": " (why)
                                    }
                                }
                            }
                            td class="govuk-table__cell" {
                                @if let Some(at) = dv.revoked_at { strong class="govuk-tag govuk-tag--grey" { "Revoked" } " " (when(at)) }
                                @else {
                                    a class="govuk-button govuk-button--warning govuk-!-margin-bottom-0" role="button" draggable="false"
                                        href=(format!("/manage/schemes/{scheme}/tablets/{}/revoke", dv.id)) {
                                        "Revoke" span class="govuk-visually-hidden" { " " (label) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            }
        }
        h2 class="govuk-heading-m" { "Agency directory" }
        p class="govuk-body" {
            "The agencies volunteers signpost to, with what each helps with. "
            a class="govuk-link" href=(format!("/manage/schemes/{scheme}/agencies")) { "Add, change or retire agencies" }
        }
        (super::sections::roster(scheme, &view.volunteers, &view.equality, view.pin_required, csrf, p))
        (super::sections::records(scheme, view.retention, csrf, p))
        h2 class="govuk-heading-m" { "Coordinators" }
        ul class="govuk-list govuk-list--bullet" {
            @for u in &view.coordinators {
                li { (u.email) @if !u.has_password { " (invited)" } @if !u.active { " (deactivated)" } }
            }
        }
        form method="post" action=(format!("/manage/schemes/{scheme}/coordinators")) novalidate {
            input type="hidden" name="csrf" value=(csrf);
            (Text { kind: "email", ..Text::new("coordinator-email", "email", "Invite a coordinator: email address") }.render(p))
            button type="submit" class="govuk-button govuk-button--secondary" { "Invite coordinator" }
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
    let regions: Vec<(&str, &str)> = Region::ALL.iter().map(|r| (r.code(), r.label())).collect();
    let kinds: Vec<(&str, &str)> = SchemeType::ALL.iter().map(|t| (t.code(), t.label())).collect();
    html! {
        (Text { value: name, ..Text::new("scheme-name", "name", "Scheme's name") }.render(p))
        (form::select(p, "scheme-region", "region", "Region", &regions, d.and_then(|d| d.region).map(|r| r.code())))
        (form::select(p, "scheme-type", "scheme_type", "Kind of scheme", &kinds, d.and_then(|d| d.kind).map(|k| k.code())))
    }
}

/// Reads the scheme's name, region and kind from a form, in plain words when one is missing.
pub(super) fn checked_details(f: &DetailsForm) -> Result<schemes::Details, Problem> {
    use signpost_shared::vocab::{Region, SchemeType};
    let keep = |p: Problem| {
        p.keep("scheme-name", &f.name).keep("scheme-region", &f.region).keep("scheme-type", &f.scheme_type)
    };
    let name = form::checked_name("scheme-name", &f.name, "the scheme's name", 120).map_err(keep)?;
    let region = Region::from_code(&f.region)
        .ok_or_else(|| keep(Problem::new("scheme-region", "Select the scheme's region")))?;
    let kind = SchemeType::from_code(&f.scheme_type)
        .ok_or_else(|| keep(Problem::new("scheme-type", "Select the kind of scheme")))?;
    Ok(schemes::Details { name, region: Some(region), kind: Some(kind) })
}
