//! The administrator's pages: the start page of each role, schemes, accounts (invitations and
//! password resets) and the audit log.

use super::error::{WebError, WebResult};
use super::form::{self, Confirm, Problem, Text};
use super::form::{ActiveForm, Done};
use super::lang::l;
use super::lang::tf;
use super::layout::table_head;
use super::layout::{manage, page, role_label, see_other, segment, success, when};
use super::scheme_page::{checked_details, details_fields, DetailsForm};
use super::session::{db, secure, Admin, AdminForm, Nothing, Session};
use super::words::say;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use signpost_domain::accounts::{self, Role};
use signpost_domain::{audit, schemes, Refusal};

pub(super) async fn home(State(st): State<AppState>, s: Session, Query(d): Query<Done>) -> WebResult {
    match s.user.role.clone() {
        Role::Coordinator { scheme } => Ok(see_other(&manage(&["schemes", &scheme]))),
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
        "deactivated" => Some(tf!(
            "{} is deactivated. They cannot sign in until you reactivate the account.",
            "Mae {} wedi'i ddadactifadu. Ni allant fewngofnodi nes i chi ail-actifadu'r cyfrif.",
            email(&d.item)
        )),
        "reactivated" => Some(tf!(
            "{} is reactivated. Their password works again.",
            "Mae {} wedi'i ail-actifadu. Mae eu cyfrinair yn gweithio eto.",
            email(&d.item)
        )),
        _ => None,
    };
    let roles = [
        ("coordinator", l("Coordinator (one scheme)", "Cydlynydd (un cynllun)")),
        ("national", l("National reviewer (statistics only)", "Adolygydd cenedlaethol (ystadegau yn unig)")),
        ("admin", l("Administrator", "Gweinyddwr")),
    ];
    let scheme_options: Vec<(&str, &str)> = schemes.iter().map(|r| (r.id.as_str(), r.name.as_str())).collect();
    let body = html! {
        (success(done.as_deref()))
        (form::summary(p))
        h1 class="govuk-heading-l" { (l("Signpost administration", "Gweinyddu Signpost")) }
        h2 class="govuk-heading-m" { (l("Schemes", "Cynlluniau")) }
        table class="govuk-table" {
            (table_head(&[l("Scheme", "Cynllun"), l("Sites", "Safleoedd")]))
            tbody class="govuk-table__body" {
                @for r in &schemes {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" { a class="govuk-link" href=(manage(&["schemes", &r.id])) { (r.name) } }
                        td class="govuk-table__cell" { (r.sites) }
                    }
                }
            }
        }
        h3 class="govuk-heading-s" { (l("Add a scheme", "Ychwanegu cynllun")) }
        form method="post" action="/manage/schemes" novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (details_fields(p, None, None))
            button type="submit" class="govuk-button govuk-button--secondary" { (l("Create scheme", "Creu cynllun")) }
        }
        h2 class="govuk-heading-m" { (l("Accounts", "Cyfrifon")) }
        table class="govuk-table" id="accounts" {
            (table_head(&[l("Email", "E-bost"), l("Role", "Rôl"), l("Status", "Statws"), l("Actions", "Camau")]))
            tbody class="govuk-table__body" {
                @for u in &users {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell signpost-wrap" { (u.email) }
                        td class="govuk-table__cell" {
                            (role_label(&u.role))
                            @if let Role::Coordinator { scheme } = &u.role { ", " (names.get(scheme).cloned().unwrap_or_default()) }
                        }
                        td class="govuk-table__cell" {
                            @if !u.active { strong class="govuk-tag govuk-tag--grey" { (l("Deactivated", "Wedi'i ddadactifadu")) } }
                            @else if u.has_password { strong class="govuk-tag govuk-tag--green" { (l("Active", "Gweithredol")) } }
                            @else { strong class="govuk-tag govuk-tag--yellow" { (l("Invited", "Wedi'i wahodd")) } }
                        }
                        td class="govuk-table__cell" {
                            ul class="govuk-list govuk-!-margin-bottom-0" {
                                @if u.active {
                                    li { a class="govuk-link" href=(manage(&["users", &u.id, "reset-password"])) {
                                        (l("Reset password", "Ailosod y cyfrinair")) span class="govuk-visually-hidden" { (l(" for ", " ar gyfer ")) (u.email) }
                                    } }
                                    @if u.id != s.user.id {
                                        li { a class="govuk-link" href=(manage(&["users", &u.id, "active"])) {
                                            (l("Deactivate", "Dadactifadu")) span class="govuk-visually-hidden" { " " (u.email) }
                                        } }
                                    }
                                } @else {
                                    li {
                                        form method="post" action=(manage(&["users", &u.id, "active"])) {
                                            input type="hidden" name="csrf" value=(s.csrf);
                                            input type="hidden" name="active" value="true";
                                            button type="submit" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" {
                                                (l("Reactivate", "Ail-actifadu")) span class="govuk-visually-hidden" { " " (u.email) }
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
        h3 class="govuk-heading-s" { (l("Invite someone", "Gwahodd rhywun")) }
        form method="post" action="/manage/users" novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (Text { kind: "email", ..Text::new("invite-email", "email", l("Email address", "Cyfeiriad e-bost")) }.render(p))
            (form::select(p, "invite-role", "role", l("Role", "Rôl"), &roles, None))
            (form::select(p, "invite-scheme", "scheme", l("Scheme (coordinators only)", "Cynllun (cydlynwyr yn unig)"), &scheme_options, None))
            button type="submit" class="govuk-button govuk-button--secondary" { (l("Invite", "Gwahodd")) }
        }
        p class="govuk-body" {
            a class="govuk-link" href="/manage/audit" { (l("Audit log", "Log archwilio")) } " · "
            a class="govuk-link" href="/manage/national" { (l("National statistics", "Ystadegau cenedlaethol")) }
        }
    };
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(page(status, &form::title(l("Administration", "Gweinyddu"), p), Some(s), body))
}

pub(super) async fn create_scheme(State(st): State<AppState>, AdminForm(s, f): AdminForm<DetailsForm>) -> WebResult {
    let d = match checked_details(&f) {
        Ok(d) => d,
        Err(p) => return admin_home(&st, &s, Some(p), &Done::default()).await,
    };
    let actor = s.user.actor();
    let id = db(&st.store, move |c| {
        signpost_domain::db::immediate(c, |c| {
            let id = schemes::create_scheme(c, &d.name, d.region, d.kind)?;
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
            div class="govuk-panel__body" { (l("for ", "ar gyfer ")) (who) }
        }
        p class="govuk-body" { (l("Send this link to ", "Anfonwch y ddolen hon at ")) (who) (l(" yourself. It works once, within 3 days:", " eich hun. Mae'n gweithio unwaith, o fewn 3 diwrnod:")) }
        p class="govuk-body" { code id="set-password-link" { (link) } }
        p class="govuk-body" { (l("Signpost does not send email.", "Nid yw Signpost yn anfon e-bost.")) }
        p class="govuk-body" { a class="govuk-link" href=(back) { (l("Back", "Yn ôl")) } }
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
            let p = Problem::new(
                "invite-scheme",
                l("Select the scheme this coordinator manages", "Dewiswch y cynllun y mae'r cydlynydd hwn yn ei reoli"),
            );
            return admin_home(&st, &s, Some(keep(p)), &Done::default()).await;
        }
        ("national" | "admin", Some(_)) => {
            let p = Problem::new(
                "invite-scheme",
                l(
                    "Only coordinators belong to a scheme: select no scheme for this role",
                    "Dim ond cydlynwyr sy'n perthyn i gynllun: peidiwch â dewis cynllun ar gyfer y rôl hon",
                ),
            );
            return admin_home(&st, &s, Some(keep(p)), &Done::default()).await;
        }
        ("national", None) => Role::National,
        ("admin", None) => Role::Admin,
        _ => {
            let p = Problem::new(
                "invite-role",
                l("Select the role of the person you are inviting", "Dewiswch rôl y person rydych yn ei wahodd"),
            );
            return admin_home(&st, &s, Some(keep(p)), &Done::default()).await;
        }
    };
    let (email, actor) = (f.email.clone(), s.user.actor());
    let created = db(&st.store, move |c| Ok(accounts::create_user(c, &email, &role, &actor))).await?;
    match created {
        Ok((user, code)) => {
            Ok(link_page(&st, &s, &headers, l("Account created", "Cyfrif wedi'i greu"), &user.email, &code, "/manage"))
        }
        Err(e) => match e.downcast::<Refusal>() {
            Ok(r) => {
                admin_home(&st, &s, Some(keep(Problem::new("invite-email", super::lang::refusal(r)))), &Done::default())
                    .await
            }
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
        .ok_or_else(|| WebError::NotFound(l("There is no such account.", "Nid oes cyfrif o'r fath.").into()))
}

/// The step before a password is reset.
pub(super) async fn reset_password_page(
    State(st): State<AppState>,
    Admin(s): Admin,
    Path(p): Path<UserPath>,
) -> WebResult {
    let u = account(&st, &p.user).await?;
    let heading = tf!("Reset the password for {}?", "Ailosod y cyfrinair ar gyfer {}?", u.email);
    let body = Confirm {
        back: "/manage",
        caption: None,
        heading: &heading,
        what: l("Their password and every session stop working at once. You get a link to send them, to set a new password.", "Mae eu cyfrinair a phob sesiwn yn peidio â gweithio ar unwaith. Byddwch yn cael dolen i'w hanfon atynt, i osod cyfrinair newydd."),
        warning: None,
        action: &manage(&["users", &u.id, "reset-password"]),
        button: l("Reset password", "Ailosod y cyfrinair"),
        field: None,
    }
    .render(&s.csrf);
    Ok(page(StatusCode::OK, &heading, Some(&s), body))
}

/// The step before an account is deactivated.
pub(super) async fn deactivate_page(State(st): State<AppState>, Admin(s): Admin, Path(p): Path<UserPath>) -> WebResult {
    let u = account(&st, &p.user).await?;
    let heading = tf!("Deactivate {}?", "Dadactifadu {}?", u.email);
    let body = Confirm {
        back: "/manage",
        caption: None,
        heading: &heading,
        what: l("They are signed out at once and cannot sign in or use a set-password link until you reactivate the account. What they did stays in the audit log.", "Maen nhw'n cael eu hallgofnodi ar unwaith ac ni allant fewngofnodi na defnyddio dolen gosod cyfrinair nes i chi ail-actifadu'r cyfrif. Mae'r hyn a wnaethant yn aros yn y log archwilio."),
        warning: None,
        action: &manage(&["users", &u.id, "active"]),
        button: l("Deactivate account", "Dadactifadu'r cyfrif"),
        field: Some(("active", "false")),
    }
    .render(&s.csrf);
    Ok(page(StatusCode::OK, &heading, Some(&s), body))
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
    Ok(see_other(&format!("{}?done={}&item={}", manage(&[]), what, segment(&p.user))))
}

pub(super) async fn reset_password(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<UserPath>,
    AdminForm(s, _): AdminForm<Nothing>,
) -> WebResult {
    let actor = s.user.actor();
    let (user, code) = db(&st.store, move |c| accounts::reset_password(c, &p.user, &actor)).await?;
    Ok(link_page(&st, &s, &headers, l("Password reset", "Cyfrinair wedi'i ailosod"), &user.email, &code, "/manage"))
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
        h1 class="govuk-heading-l" { (l("Audit log", "Log archwilio")) }
        p class="govuk-body" { (l("Every administrator action, enrolment, revocation and coordinator view of individual-level data, newest first. Entries cannot be changed or removed.", "Pob cam gan weinyddwr, pob cofrestru a dirymu, a phob tro y gwelodd cydlynydd ddata unigol, y diweddaraf yn gyntaf. Ni ellir newid na dileu cofnodion.")) }
        table class="govuk-table" id="audit" {
            (table_head(&[l("When", "Pryd"), l("Who", "Pwy"), l("What", "Beth"), l("Scheme and details", "Cynllun a manylion")]))
            tbody class="govuk-table__body" {
                @for e in &entries {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" { (when(e.at)) }
                        // Who and the details are recorded as they happened, in English: marked so
                        // (WCAG 3.1.2, language of parts) on a Welsh page.
                        td class="govuk-table__cell signpost-wrap" lang="en" { (audit::named(&e.actor, &names)) }
                        td class="govuk-table__cell" { (say(&e.action)) }
                        td class="govuk-table__cell signpost-wrap" {
                            @if let Some(name) = scheme(&e.scheme) { strong { (name) } br; }
                            span lang="en" { (audit::named(&e.detail, &names)) }
                        }
                    }
                }
            }
        }
        @if let Some(last) = entries.last().filter(|_| entries.len() == 200) {
            p class="govuk-body" { a class="govuk-link" href=(format!("{}?before={}", manage(&["audit"]), last.seq)) { (l("Older entries", "Cofnodion hŷn")) } }
        }
    };
    Ok(page(StatusCode::OK, l("Audit log", "Log archwilio"), Some(&s), body))
}
