//! A scheme's page: its sites and tablets (enrolment codes, revocation), roster, coordinators
//! and equality-monitoring status.

use super::admin::link_page;
use super::error::{WebError, WebResult};
use super::layout::{page, see_other, when};
use super::session::{db, managed, NameForm, Nothing, Session, SignedForm};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use maud::html;
use rusqlite::Connection;
use serde::Deserialize;
use signpost_domain::accounts::{self, Role, User};
use signpost_domain::tablets::{self, Device};
use signpost_domain::{audit, equality, schemes, Refusal};
use signpost_shared::schema::{self, Volunteer};

pub(super) struct SchemeView {
    name: String,
    /// Volunteers who gave equality-monitoring answers, and when.
    equality: std::collections::HashMap<String, i64>,
    pin_required: bool,
    retention: signpost_domain::retention::Policy,
    sites: Vec<(String, String)>,
    devices: Vec<Device>,
    volunteers: Vec<Volunteer>,
    coordinators: Vec<User>,
}

fn load_scheme(conn: &Connection, scheme: &str) -> anyhow::Result<Option<SchemeView>> {
    let Some(name) = schemes::name_of(conn, scheme)? else { return Ok(None) };
    let sites = schemes::sites_of(conn, scheme)?;
    Ok(Some(SchemeView {
        name,
        equality: equality::equality_given(conn, scheme)?,
        pin_required: schema::read_pin_required(&schemes::directory(conn, scheme)?),
        retention: signpost_domain::retention::policy(conn, scheme)?.unwrap_or_default(),
        sites,
        devices: tablets::devices(conn, scheme)?,
        volunteers: schemes::roster(conn, scheme)?,
        coordinators: accounts::users(conn, Some(scheme))?,
    }))
}

pub(super) async fn scheme_page(State(st): State<AppState>, s: Session, Path(scheme): Path<String>) -> WebResult {
    managed(&s, &scheme)?;
    let (sc, actor) = (scheme.clone(), s.user.actor());
    let view = db(&st.store, move |c| {
        let v = load_scheme(c, &sc)?;
        if v.is_some() {
            // Volunteers' names are individual-level data.
            audit::audit(c, &actor, "viewed the volunteer roster and tablets", Some(&sc), "")?;
        }
        Ok(v)
    })
    .await?
    .ok_or_else(|| WebError::NotFound("There is no such scheme.".into()))?;
    let csrf = &s.csrf;
    let body = html! {
        span class="govuk-caption-l" { "Scheme" }
        h1 class="govuk-heading-l" { (view.name) }
        p class="govuk-body" { a class="govuk-link" href=(format!("/manage/schemes/{scheme}/dashboard")) { "Impact: referrals, volunteer hours and more" } }
        h2 class="govuk-heading-m" { "Sites and tablets" }
        p class="govuk-body" { "To set up a tablet, create an enrolment code for its site and type it into Signpost on the tablet. A code works once, within 15 minutes." }
        table class="govuk-table" id="sites" {
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                th scope="col" class="govuk-table__header" { "Site" }
                th scope="col" class="govuk-table__header" { span class="govuk-visually-hidden" { "Action" } }
            } }
            tbody class="govuk-table__body" {
                @for (id, name) in &view.sites {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" { (name) }
                        td class="govuk-table__cell" {
                            form method="post" action=(format!("/manage/schemes/{scheme}/sites/{id}/enrolment-code")) {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" class="govuk-button govuk-!-margin-bottom-0" {
                                    "Create an enrolment code" span class="govuk-visually-hidden" { " for " (name) }
                                }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action=(format!("/manage/schemes/{scheme}/sites")) {
            input type="hidden" name="csrf" value=(csrf);
            div class="govuk-form-group" {
                label class="govuk-label" for="site-name" { "New site's name" }
                input class="govuk-input govuk-!-width-two-thirds" id="site-name" name="name" type="text";
            }
            button type="submit" class="govuk-button govuk-button--secondary" { "Add site" }
        }
        h3 class="govuk-heading-s" { "Tablets" }
        @if view.devices.is_empty() { p class="govuk-body" { "No tablets are enrolled yet." } }
        @else {
            table class="govuk-table" id="tablets" {
                thead class="govuk-table__head" { tr class="govuk-table__row" {
                    th scope="col" class="govuk-table__header" { "Tablet" }
                    th scope="col" class="govuk-table__header" { "Site" }
                    th scope="col" class="govuk-table__header" { "Enrolled" }
                    th scope="col" class="govuk-table__header" { "Last synced" }
                    th scope="col" class="govuk-table__header" { "Status" }
                } }
                tbody class="govuk-table__body" {
                    @for d in &view.devices {
                        @let label = if d.label.is_empty() { d.id.clone() } else { d.label.clone() };
                        tr class="govuk-table__row" {
                            td class="govuk-table__cell" { (label) }
                            td class="govuk-table__cell" { (d.site_name) }
                            td class="govuk-table__cell" { (when(d.created_at)) }
                            td class="govuk-table__cell" {
                                @match d.last_synced_at { Some(at) => (when(at)), None => "Never" }
                                @if let Some((at, why)) = d.recent_refusal(signpost_domain::util::now_ms()) {
                                    p class="govuk-body-s govuk-!-margin-bottom-0 signpost-refused" {
                                        strong class="govuk-tag govuk-tag--red" { "Refused" } " " (when(*at)) ": " (why)
                                    }
                                }
                            }
                            td class="govuk-table__cell" {
                                @if let Some(at) = d.revoked_at { strong class="govuk-tag govuk-tag--grey" { "Revoked" } " " (when(at)) }
                                @else {
                                    form method="post" action=(format!("/manage/schemes/{scheme}/tablets/{}/revoke", d.id)) {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button type="submit" class="govuk-button govuk-button--warning govuk-!-margin-bottom-0" {
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
        h2 class="govuk-heading-m" { "Volunteer roster" }
        p class="govuk-body" { "Volunteers pick their name on the desk's tablet to start a shift. Changes reach the tablets when they next sync." }
        form method="post" action=(format!("/manage/schemes/{scheme}/pin-setting")) {
            input type="hidden" name="csrf" value=(csrf);
            div class="govuk-form-group" {
                fieldset class="govuk-fieldset" aria-describedby="pin-hint" {
                    legend class="govuk-fieldset__legend govuk-fieldset__legend--s" { "Do volunteers enter a PIN to start a shift?" }
                    div class="govuk-hint" id="pin-hint" { "On a shared tablet, a 4-digit PIN stops one volunteer starting a shift as another. You set each volunteer's PIN below and tell them it." }
                    div class="govuk-radios govuk-radios--inline" {
                        div class="govuk-radios__item" {
                            input class="govuk-radios__input" id="pin-required" name="required" type="radio" value="yes" checked[view.pin_required];
                            label class="govuk-label govuk-radios__label" for="pin-required" { "Yes" }
                        }
                        div class="govuk-radios__item" {
                            input class="govuk-radios__input" id="pin-not-required" name="required" type="radio" value="no" checked[!view.pin_required];
                            label class="govuk-label govuk-radios__label" for="pin-not-required" { "No" }
                        }
                    }
                }
            }
            button type="submit" class="govuk-button govuk-button--secondary" { "Save PIN setting" }
        }
        table class="govuk-table" id="roster" {
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                th scope="col" class="govuk-table__header" { "Name" }
                th scope="col" class="govuk-table__header" { "Status" }
                th scope="col" class="govuk-table__header" { "PIN" }
                th scope="col" class="govuk-table__header" { "Equality monitoring" }
            } }
            tbody class="govuk-table__body" {
                @for v in &view.volunteers {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" { (v.name) }
                        td class="govuk-table__cell" {
                            form method="post" action=(format!("/manage/schemes/{scheme}/volunteers/{}/active", v.id)) {
                                input type="hidden" name="csrf" value=(csrf);
                                input type="hidden" name="active" value=(if v.active { "false" } else { "true" });
                                @if v.active { strong class="govuk-tag govuk-tag--green" { "On the roster" } " " }
                                @else { strong class="govuk-tag govuk-tag--grey" { "Left" } " " }
                                button type="submit" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" {
                                    @if v.active { "Take off the roster" } @else { "Put back on the roster" }
                                    span class="govuk-visually-hidden" { " " (v.name) }
                                }
                            }
                        }
                        td class="govuk-table__cell" {
                            form method="post" action=(format!("/manage/schemes/{scheme}/volunteers/{}/pin", v.id)) {
                                input type="hidden" name="csrf" value=(csrf);
                                @let field = format!("pin-{}", v.id);
                                label class="govuk-label" for=(field) {
                                    @if v.pin.is_some() { "New PIN" } @else { "PIN (not set)" }
                                    span class="govuk-visually-hidden" { " for " (v.name) }
                                }
                                input class="govuk-input govuk-input--width-4" id=(field) name="pin" type="text" inputmode="numeric" autocomplete="off" maxlength="4";
                                " "
                                button type="submit" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" {
                                    "Set PIN" span class="govuk-visually-hidden" { " for " (v.name) }
                                }
                            }
                        }
                        td class="govuk-table__cell" {
                            @if let Some(at) = view.equality.get(&v.id) {
                                form method="post" action=(format!("/manage/schemes/{scheme}/volunteers/{}/equality/withdraw", v.id)) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    "Given " (when(*at)) " "
                                    button type="submit" class="govuk-button govuk-button--warning govuk-!-margin-bottom-0" {
                                        "Withdraw" span class="govuk-visually-hidden" { " " (v.name) "'s answers" }
                                    }
                                }
                            } @else { "Not given" }
                        }
                    }
                }
            }
        }
        form method="post" action=(format!("/manage/schemes/{scheme}/volunteers")) {
            input type="hidden" name="csrf" value=(csrf);
            div class="govuk-form-group" {
                label class="govuk-label" for="volunteer-name" { "Volunteer's name" }
                div class="govuk-hint" id="volunteer-name-hint" { "A first name and initial is enough, for example Ann E." }
                input class="govuk-input govuk-!-width-one-half" id="volunteer-name" name="name" type="text" aria-describedby="volunteer-name-hint";
            }
            button type="submit" class="govuk-button govuk-button--secondary" { "Add volunteer" }
        }
        (super::records::section(&scheme, view.retention, csrf))
        h2 class="govuk-heading-m" { "Coordinators" }
        ul class="govuk-list govuk-list--bullet" {
            @for u in &view.coordinators { li { (u.email) @if !u.has_password { " (invited)" } } }
        }
        form method="post" action=(format!("/manage/schemes/{scheme}/coordinators")) {
            input type="hidden" name="csrf" value=(csrf);
            div class="govuk-form-group" {
                label class="govuk-label" for="coordinator-email" { "Invite a coordinator: email address" }
                input class="govuk-input govuk-!-width-two-thirds" id="coordinator-email" name="email" type="email" spellcheck="false";
            }
            button type="submit" class="govuk-button govuk-button--secondary" { "Invite coordinator" }
        }
    };
    Ok(page(StatusCode::OK, &view.name, Some(&s), body))
}

#[derive(Deserialize)]
pub(super) struct SchemeSite {
    scheme: String,
    site: String,
}

pub(super) async fn create_site(
    State(st): State<AppState>,
    Path(scheme): Path<String>,
    SignedForm(s, f): SignedForm<NameForm>,
) -> WebResult {
    managed(&s, &scheme)?;
    let sc = scheme.clone();
    db(&st.store, move |c| {
        let id = schemes::create_site(c, &sc, &f.name).map_err(|e| Refusal(e.to_string()))?;
        audit::audit(c, &s.user.actor(), "site created", Some(&sc), &format!("{id} {}", f.name.trim()))
    })
    .await?;
    Ok(see_other(&format!("/manage/schemes/{scheme}")))
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
            return Err(Refusal("There is no such site in this scheme.".into()).into());
        };
        Ok((tablets::create_enrol_code(c, &site, &actor)?, site_name))
    })
    .await?;
    let until = chrono::Utc::now() + chrono::Duration::milliseconds(tablets::ENROL_CODE_MS);
    let body = html! {
        div class="govuk-panel govuk-panel--confirmation" {
            h1 class="govuk-panel__title" { "Enrolment code" }
            div class="govuk-panel__body" { strong id="enrolment-code" { (code) } }
        }
        p class="govuk-body" { "On the tablet for " strong { (site_name) } ", open Signpost and enter this code." }
        p class="govuk-body" { "It works once, until " (until.format("%H:%M UTC")) ". Do not write it down or share it." }
        p class="govuk-body" { a class="govuk-link" href=(format!("/manage/schemes/{}", p.scheme)) { "Back to the scheme" } }
    };
    Ok(page(StatusCode::OK, "Enrolment code", Some(&s), body))
}

#[derive(Deserialize)]
pub(super) struct SchemeDevice {
    scheme: String,
    device: String,
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
        return Err(WebError::NotFound("This scheme has no such tablet, or it is already revoked.".into()));
    }
    st.hub.revoke(p.device.clone()).await;
    Ok(see_other(&format!("/manage/schemes/{}", p.scheme)))
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
    let (role, actor, email) = (Role::Coordinator { scheme: scheme.clone() }, s.user.actor(), f.email);
    let (user, code) = db(&st.store, move |c| accounts::create_user(c, &email, &role, &actor)).await?;
    Ok(link_page(&st, &s, &headers, "Coordinator invited", &user.email, &code, &format!("/manage/schemes/{scheme}")))
}
