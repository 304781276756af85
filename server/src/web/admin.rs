//! The administrator's pages: the start page of each role, schemes, accounts (invitations and
//! password resets) and the audit log.

use super::error::{WebError, WebResult};
use super::layout::{page, role_label, see_other, when};
use super::session::{db, secure, Admin, AdminForm, Nothing, Session};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use signpost_domain::accounts::{self, Role};
use signpost_domain::audit::AuditEntry;
use signpost_domain::{audit, schemes, Refusal};

pub(super) async fn home(State(st): State<AppState>, s: Session) -> WebResult {
    match s.user.role.clone() {
        Role::Coordinator { scheme } => Ok(see_other(&format!("/manage/schemes/{scheme}"))),
        Role::Admin => admin_home(&st, &s).await,
        Role::National => Ok(see_other("/manage/national")),
    }
}

async fn admin_home(st: &AppState, s: &Session) -> WebResult {
    let (schemes, users) = db(&st.store, |c| Ok((schemes::all(c)?, accounts::users(c, None)?))).await?;
    let names: std::collections::HashMap<String, String> =
        schemes.iter().map(|r| (r.id.clone(), r.name.clone())).collect();
    let body = html! {
        h1 class="govuk-heading-l" { "Signpost administration" }
        h2 class="govuk-heading-m" { "Schemes" }
        table class="govuk-table" {
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                th scope="col" class="govuk-table__header" { "Scheme" }
                th scope="col" class="govuk-table__header" { "Sites" }
            } }
            tbody class="govuk-table__body" {
                @for r in &schemes {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" { a class="govuk-link" href=(format!("/manage/schemes/{}", r.id)) { (r.name) } }
                        td class="govuk-table__cell" { (r.sites) }
                    }
                }
            }
        }
        form method="post" action="/manage/schemes" {
            input type="hidden" name="csrf" value=(s.csrf);
            div class="govuk-form-group" {
                label class="govuk-label" for="scheme-name" { "New scheme's name" }
                input class="govuk-input govuk-!-width-two-thirds" id="scheme-name" name="name" type="text";
            }
            div class="govuk-form-group" {
                label class="govuk-label" for="scheme-region" { "Region" }
                select class="govuk-select" id="scheme-region" name="region" {
                    @for r in signpost_shared::vocab::Region::ALL { option value=(r.code()) { (r.label()) } }
                }
            }
            div class="govuk-form-group" {
                label class="govuk-label" for="scheme-type" { "Kind of scheme" }
                select class="govuk-select" id="scheme-type" name="scheme_type" {
                    @for t in signpost_shared::vocab::SchemeType::ALL { option value=(t.code()) { (t.label()) } }
                }
            }
            button type="submit" class="govuk-button govuk-button--secondary" { "Create scheme" }
        }
        h2 class="govuk-heading-m" { "Accounts" }
        table class="govuk-table" {
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                th scope="col" class="govuk-table__header" { "Email" }
                th scope="col" class="govuk-table__header" { "Role" }
                th scope="col" class="govuk-table__header" { "Password" }
                th scope="col" class="govuk-table__header" { span class="govuk-visually-hidden" { "Action" } }
            } }
            tbody class="govuk-table__body" {
                @for u in &users {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" { (u.email) }
                        td class="govuk-table__cell" {
                            (role_label(&u.role))
                            @if let Role::Coordinator { scheme } = &u.role { ", " (names.get(scheme).cloned().unwrap_or_default()) }
                        }
                        td class="govuk-table__cell" { @if u.has_password { "set" } @else { "not set yet" } }
                        td class="govuk-table__cell" {
                            form method="post" action=(format!("/manage/users/{}/reset-password", u.id)) {
                                input type="hidden" name="csrf" value=(s.csrf);
                                button type="submit" class="govuk-button govuk-button--warning govuk-!-margin-bottom-0" {
                                    "Reset password" span class="govuk-visually-hidden" { " for " (u.email) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 class="govuk-heading-s" { "Invite someone" }
        form method="post" action="/manage/users" {
            input type="hidden" name="csrf" value=(s.csrf);
            div class="govuk-form-group" {
                label class="govuk-label" for="invite-email" { "Email address" }
                input class="govuk-input govuk-!-width-two-thirds" id="invite-email" name="email" type="email" spellcheck="false";
            }
            div class="govuk-form-group" {
                label class="govuk-label" for="invite-role" { "Role" }
                select class="govuk-select" id="invite-role" name="role" {
                    option value="coordinator" { "Coordinator (one scheme)" }
                    option value="national" { "National reviewer (statistics only)" }
                    option value="admin" { "Administrator" }
                }
            }
            div class="govuk-form-group" {
                label class="govuk-label" for="invite-scheme" { "Scheme (coordinators only)" }
                select class="govuk-select" id="invite-scheme" name="scheme" {
                    option value="" { "None" }
                    @for r in &schemes { option value=(r.id) { (r.name) } }
                }
            }
            button type="submit" class="govuk-button govuk-button--secondary" { "Invite" }
        }
        p class="govuk-body" {
            a class="govuk-link" href="/manage/audit" { "Audit log" } " · "
            a class="govuk-link" href="/manage/national" { "National statistics" }
        }
    };
    Ok(page(StatusCode::OK, "Administration", Some(s), body))
}

#[derive(Deserialize)]
pub(super) struct SchemeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    scheme_type: String,
}

pub(super) async fn create_scheme(State(st): State<AppState>, AdminForm(s, f): AdminForm<SchemeForm>) -> WebResult {
    use signpost_shared::vocab::{Region, SchemeType};
    let region =
        Region::from_code(&f.region).ok_or_else(|| WebError::BadRequest("Select the scheme's region".into()))?;
    let kind = SchemeType::from_code(&f.scheme_type)
        .ok_or_else(|| WebError::BadRequest("Select the kind of scheme".into()))?;
    let name = f.name;
    let id = db(&st.store, move |c| {
        signpost_domain::db::immediate(c, |c| {
            let id = schemes::create_scheme(c, &name, Some(region), Some(kind)).map_err(|e| Refusal(e.to_string()))?;
            audit::audit(c, &s.user.actor(), "scheme created", Some(&id), &name)?;
            Ok(id)
        })
    })
    .await?;
    Ok(see_other(&format!("/manage/schemes/{id}")))
}

#[derive(Deserialize)]
pub(super) struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    scheme: String,
}

pub(super) fn link_page(
    st: &AppState,
    s: &Session,
    headers: &HeaderMap,
    title: &str,
    who: &str,
    code: &str,
    back: &str,
) -> Response {
    // The configured address people reach Signpost at; without one, the address the
    // administrator's own browser used.
    let base = match &st.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("{}://{host}", if secure(st, headers) { "https" } else { "http" })
        }
    };
    let link = format!("{base}/set-password?code={code}");
    let body = html! {
        div class="govuk-panel govuk-panel--confirmation" {
            h1 class="govuk-panel__title" { (title) }
            div class="govuk-panel__body" { "for " (who) }
        }
        p class="govuk-body" { "Send this link to " (who) " yourself. It works once, within 3 days:" }
        p class="govuk-body" { code id="set-password-link" { (link) } }
        p class="govuk-body" { "Signpost does not send email." }
        p class="govuk-body" { a class="govuk-link" href=(back) { "Back" } }
    };
    page(StatusCode::OK, title, Some(s), body)
}

pub(super) async fn invite_user(
    State(st): State<AppState>,
    headers: HeaderMap,
    AdminForm(s, f): AdminForm<InviteForm>,
) -> WebResult {
    let role = Role::parse(&f.role, Some(f.scheme.clone()).filter(|x| !x.is_empty()))
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let (email, actor) = (f.email, s.user.actor());
    let (user, code) = db(&st.store, move |c| accounts::create_user(c, &email, &role, &actor)).await?;
    Ok(link_page(&st, &s, &headers, "Account created", &user.email, &code, "/manage"))
}

#[derive(Deserialize)]
pub(super) struct UserPath {
    user: String,
}

pub(super) async fn reset_password(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<UserPath>,
    AdminForm(s, _): AdminForm<Nothing>,
) -> WebResult {
    let actor = s.user.actor();
    let (user, code) = db(&st.store, move |c| accounts::reset_password(c, &p.user, &actor)).await?;
    Ok(link_page(&st, &s, &headers, "Password reset", &user.email, &code, "/manage"))
}

#[derive(Deserialize)]
pub(super) struct Before {
    before: Option<i64>,
}

pub(super) async fn audit_page(State(st): State<AppState>, Admin(s): Admin, Query(q): Query<Before>) -> WebResult {
    let entries: Vec<AuditEntry> = db(&st.store, move |c| audit::audit_entries(c, 200, q.before)).await?;
    let body = html! {
        h1 class="govuk-heading-l" { "Audit log" }
        p class="govuk-body" { "Every administrator action, enrolment, revocation and coordinator view of individual-level data, newest first. Entries cannot be changed or removed." }
        table class="govuk-table" id="audit" {
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                th scope="col" class="govuk-table__header" { "When" }
                th scope="col" class="govuk-table__header" { "Who" }
                th scope="col" class="govuk-table__header" { "What" }
                th scope="col" class="govuk-table__header" { "Details" }
            } }
            tbody class="govuk-table__body" {
                @for e in &entries {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" { (when(e.at)) }
                        td class="govuk-table__cell" { (e.actor) }
                        td class="govuk-table__cell" { (e.action) }
                        td class="govuk-table__cell" { (e.scheme.clone().unwrap_or_default()) " " (e.detail) }
                    }
                }
            }
        }
        @if let Some(last) = entries.last().filter(|_| entries.len() == 200) {
            p class="govuk-body" { a class="govuk-link" href=(format!("/manage/audit?before={}", last.seq)) { "Older entries" } }
        }
    };
    Ok(page(StatusCode::OK, "Audit log", Some(&s), body))
}
