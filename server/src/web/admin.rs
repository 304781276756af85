//! The administrator's pages: the start page of each role, schemes, accounts (invitations and
//! password resets) and the audit log.

use super::error::{WebError, WebResult};
use super::form::{self, Confirm, Problem, Text};
use super::layout::{page, role_label, see_other, success, when};
use super::scheme_page::{checked_details, details_fields, DetailsForm};
use super::session::{db, secure, Admin, AdminForm, Nothing, Session};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use signpost_domain::accounts::{self, Role};
use signpost_domain::{audit, schemes, Refusal};

#[derive(Deserialize, Default)]
pub(super) struct Done {
    #[serde(default)]
    done: String,
    #[serde(default)]
    item: String,
}

pub(super) async fn home(State(st): State<AppState>, s: Session, Query(d): Query<Done>) -> WebResult {
    match s.user.role.clone() {
        Role::Coordinator { scheme } => Ok(see_other(&format!("/manage/schemes/{scheme}"))),
        Role::Admin => admin_home(&st, &s, None, &d).await,
        Role::National => Ok(see_other("/manage/national")),
    }
}

async fn admin_home(st: &AppState, s: &Session, problem: Option<Problem>, d: &Done) -> WebResult {
    let (schemes, users) = db(&st.store, |c| Ok((schemes::all(c)?, accounts::users(c, None)?))).await?;
    let names: std::collections::HashMap<String, String> =
        schemes.iter().map(|r| (r.id.clone(), r.name.clone())).collect();
    let p = problem.as_ref();
    let email = |id: &str| users.iter().find(|u| u.id == id).map(|u| u.email.clone()).unwrap_or_default();
    let done = match d.done.as_str() {
        "deactivated" => {
            Some(format!("{} is deactivated. They cannot sign in until you reactivate the account.", email(&d.item)))
        }
        "reactivated" => Some(format!("{} is reactivated. Their password works again.", email(&d.item))),
        _ => None,
    };
    let roles = [
        ("coordinator", "Coordinator (one scheme)"),
        ("national", "National reviewer (statistics only)"),
        ("admin", "Administrator"),
    ];
    let scheme_options: Vec<(&str, &str)> = schemes.iter().map(|r| (r.id.as_str(), r.name.as_str())).collect();
    let body = html! {
        (success(done.as_deref()))
        (form::summary(p))
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
        h3 class="govuk-heading-s" { "Add a scheme" }
        form method="post" action="/manage/schemes" novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (details_fields(p, None, None))
            button type="submit" class="govuk-button govuk-button--secondary" { "Create scheme" }
        }
        h2 class="govuk-heading-m" { "Accounts" }
        table class="govuk-table" id="accounts" {
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                th scope="col" class="govuk-table__header" { "Email" }
                th scope="col" class="govuk-table__header" { "Role" }
                th scope="col" class="govuk-table__header" { "Status" }
                th scope="col" class="govuk-table__header" { "Actions" }
            } }
            tbody class="govuk-table__body" {
                @for u in &users {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell signpost-wrap" { (u.email) }
                        td class="govuk-table__cell" {
                            (role_label(&u.role))
                            @if let Role::Coordinator { scheme } = &u.role { ", " (names.get(scheme).cloned().unwrap_or_default()) }
                        }
                        td class="govuk-table__cell" {
                            @if !u.active { strong class="govuk-tag govuk-tag--grey" { "Deactivated" } }
                            @else if u.has_password { strong class="govuk-tag govuk-tag--green" { "Active" } }
                            @else { strong class="govuk-tag govuk-tag--yellow" { "Invited" } }
                        }
                        td class="govuk-table__cell" {
                            ul class="govuk-list govuk-!-margin-bottom-0" {
                                @if u.active {
                                    li { a class="govuk-link" href=(format!("/manage/users/{}/reset-password", u.id)) {
                                        "Reset password" span class="govuk-visually-hidden" { " for " (u.email) }
                                    } }
                                    @if u.id != s.user.id {
                                        li { a class="govuk-link" href=(format!("/manage/users/{}/active", u.id)) {
                                            "Deactivate" span class="govuk-visually-hidden" { " " (u.email) }
                                        } }
                                    }
                                } @else {
                                    li {
                                        form method="post" action=(format!("/manage/users/{}/active", u.id)) {
                                            input type="hidden" name="csrf" value=(s.csrf);
                                            input type="hidden" name="active" value="true";
                                            button type="submit" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" {
                                                "Reactivate" span class="govuk-visually-hidden" { " " (u.email) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h3 class="govuk-heading-s" { "Invite someone" }
        form method="post" action="/manage/users" novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (Text { kind: "email", ..Text::new("invite-email", "email", "Email address") }.render(p))
            (form::select(p, "invite-role", "role", "Role", &roles, None))
            (form::select(p, "invite-scheme", "scheme", "Scheme (coordinators only)", &scheme_options, None))
            button type="submit" class="govuk-button govuk-button--secondary" { "Invite" }
        }
        p class="govuk-body" {
            a class="govuk-link" href="/manage/audit" { "Audit log" } " · "
            a class="govuk-link" href="/manage/national" { "National statistics" }
        }
    };
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(page(status, &form::title("Administration", p), Some(s), body))
}

pub(super) async fn create_scheme(State(st): State<AppState>, AdminForm(s, f): AdminForm<DetailsForm>) -> WebResult {
    let d = match checked_details(&f) {
        Ok(d) => d,
        Err(p) => return admin_home(&st, &s, Some(p), &Done::default()).await,
    };
    let actor = s.user.actor();
    let id = db(&st.store, move |c| {
        signpost_domain::db::immediate(c, |c| {
            let id = schemes::create_scheme(c, &d.name, d.region, d.kind).map_err(|e| Refusal(e.to_string()))?;
            audit::audit(c, &actor, "scheme created", Some(&id), &d.name)?;
            Ok(id)
        })
    })
    .await?;
    Ok(super::scheme_page::done(&id, "created", ""))
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
    let keep =
        |p: Problem| p.keep("invite-email", &f.email).keep("invite-role", &f.role).keep("invite-scheme", &f.scheme);
    let scheme = Some(f.scheme.clone()).filter(|x| !x.is_empty());
    let role = match (f.role.as_str(), scheme) {
        ("coordinator", Some(scheme)) => Role::Coordinator { scheme },
        ("coordinator", None) => {
            let p = Problem::new("invite-scheme", "Select the scheme this coordinator manages");
            return admin_home(&st, &s, Some(keep(p)), &Done::default()).await;
        }
        ("national" | "admin", Some(_)) => {
            let p =
                Problem::new("invite-scheme", "Only coordinators belong to a scheme: select no scheme for this role");
            return admin_home(&st, &s, Some(keep(p)), &Done::default()).await;
        }
        ("national", None) => Role::National,
        ("admin", None) => Role::Admin,
        _ => {
            let p = Problem::new("invite-role", "Select the role of the person you are inviting");
            return admin_home(&st, &s, Some(keep(p)), &Done::default()).await;
        }
    };
    let (email, actor) = (f.email.clone(), s.user.actor());
    let created = db(&st.store, move |c| Ok(accounts::create_user(c, &email, &role, &actor))).await?;
    match created {
        Ok((user, code)) => Ok(link_page(&st, &s, &headers, "Account created", &user.email, &code, "/manage")),
        Err(e) => match e.downcast::<Refusal>() {
            Ok(r) => admin_home(&st, &s, Some(keep(Problem::new("invite-email", r.0))), &Done::default()).await,
            Err(e) => Err(e.into()),
        },
    }
}

#[derive(Deserialize)]
pub(super) struct UserPath {
    user: String,
}

/// An account of the service, or 404.
async fn account(st: &AppState, id: &str) -> Result<accounts::User, WebError> {
    let id = id.to_owned();
    db(&st.store, move |c| accounts::user_by_id(c, &id))
        .await?
        .ok_or_else(|| WebError::NotFound("There is no such account.".into()))
}

/// The step before a password is reset.
pub(super) async fn reset_password_page(
    State(st): State<AppState>,
    Admin(s): Admin,
    Path(p): Path<UserPath>,
) -> WebResult {
    let u = account(&st, &p.user).await?;
    let heading = format!("Reset the password for {}?", u.email);
    let body = Confirm {
        back: "/manage",
        caption: None,
        heading: &heading,
        what: "Their password and every session stop working at once. You get a link to send them, to set a new password.",
        warning: None,
        action: &format!("/manage/users/{}/reset-password", u.id),
        button: "Reset password",
        field: None,
    }
    .render(&s.csrf);
    Ok(page(StatusCode::OK, &heading, Some(&s), body))
}

/// The step before an account is deactivated.
pub(super) async fn deactivate_page(State(st): State<AppState>, Admin(s): Admin, Path(p): Path<UserPath>) -> WebResult {
    let u = account(&st, &p.user).await?;
    let heading = format!("Deactivate {}?", u.email);
    let body = Confirm {
        back: "/manage",
        caption: None,
        heading: &heading,
        what: "They are signed out at once and cannot sign in or use a set-password link until you reactivate the account. What they did stays in the audit log.",
        warning: None,
        action: &format!("/manage/users/{}/active", u.id),
        button: "Deactivate account",
        field: Some(("active", "false")),
    }
    .render(&s.csrf);
    Ok(page(StatusCode::OK, &heading, Some(&s), body))
}

#[derive(Deserialize)]
pub(super) struct ActiveForm {
    #[serde(default)]
    active: String,
}

pub(super) async fn set_active(
    State(st): State<AppState>,
    Path(p): Path<UserPath>,
    AdminForm(s, f): AdminForm<ActiveForm>,
) -> WebResult {
    let active = f.active == "true";
    let (id, by) = (p.user.clone(), s.user.clone());
    db(&st.store, move |c| accounts::set_active(c, &id, active, &by)).await?;
    let what = if active { "reactivated" } else { "deactivated" };
    Ok(see_other(&format!("/manage?done={what}&item={}", p.user)))
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
    let (entries, names) = db(&st.store, move |c| {
        let entries = audit::audit_entries(c, 200, q.before)?;
        let names = audit::names(c, &entries)?;
        Ok((entries, names))
    })
    .await?;
    let scheme = |id: &Option<String>| id.as_ref().map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()));
    let body = html! {
        h1 class="govuk-heading-l" { "Audit log" }
        p class="govuk-body" { "Every administrator action, enrolment, revocation and coordinator view of individual-level data, newest first. Entries cannot be changed or removed." }
        table class="govuk-table" id="audit" {
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                th scope="col" class="govuk-table__header" { "When" }
                th scope="col" class="govuk-table__header" { "Who" }
                th scope="col" class="govuk-table__header" { "What" }
                th scope="col" class="govuk-table__header" { "Scheme and details" }
            } }
            tbody class="govuk-table__body" {
                @for e in &entries {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" { (when(e.at)) }
                        td class="govuk-table__cell signpost-wrap" { (audit::named(&e.actor, &names)) }
                        td class="govuk-table__cell" { (e.action) }
                        td class="govuk-table__cell signpost-wrap" {
                            @if let Some(name) = scheme(&e.scheme) { strong { (name) } br; }
                            (audit::named(&e.detail, &names))
                        }
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
