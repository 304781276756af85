//! The coordinator, national and administrator web pages: server-rendered HTML in the GOV.UK
//! Design System patterns (the tablet's stylesheet), working without JavaScript.
//!
//! Trust: a session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind TLS) names the
//! person; every state-changing form carries the session's CSRF token, checked before anything
//! else, and a cross-site `Origin` is refused outright. Sign-in gets a fresh session (an earlier
//! cookie is never promoted) and is throttled per email and per address. What each role may do
//! is decided here, per request, with [`Role::manages`]; the data functions in
//! [`crate::accounts`] keep scheme scoping in their SQL as well.

use crate::accounts::{self, AuditEntry, Device, Refusal, Role, User};
use crate::http::AppState;
use crate::store::{self, Store};
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use maud::{html, Markup, DOCTYPE};
use rusqlite::Connection;
use serde::Deserialize;
use signpost_shared::schema::{self, Volunteer};
use signpost_shared::relay::Edit;
use std::net::SocketAddr;

pub const SESSION_COOKIE: &str = "signpost_session";
/// Double-submit token for the sign-in and set-password forms (there is no session yet).
pub const FORM_COOKIE: &str = "signpost_form";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-out", post(sign_out))
        .route("/set-password", get(set_password_page).post(set_password))
        .route("/manage", get(home))
        .route("/equality", get(equality_page))
        .route("/manage/audit", get(audit_page))
        .route("/manage/national", get(crate::national::page))
        .route("/manage/national.csv", get(crate::national::csv))
        .route("/manage/schemes", post(create_scheme))
        .route("/manage/users", post(invite_user))
        .route("/manage/users/{user}/reset-password", post(reset_password))
        .route("/manage/schemes/{scheme}", get(scheme_page))
        .route("/manage/schemes/{scheme}/dashboard", get(crate::dashboard::page))
        .route("/manage/schemes/{scheme}/dashboard.csv", get(crate::dashboard::csv))
        .route("/manage/schemes/{scheme}/referrals.csv", get(crate::dashboard::referrals_csv))
        .route("/manage/schemes/{scheme}/sites", post(create_site))
        .route("/manage/schemes/{scheme}/sites/{site}/enrolment-code", post(enrolment_code))
        .route("/manage/schemes/{scheme}/tablets/{device}/revoke", post(revoke_tablet))
        .route("/manage/schemes/{scheme}/volunteers", post(add_volunteer))
        .route("/manage/schemes/{scheme}/volunteers/{volunteer}/active", post(set_volunteer_active))
        .route("/manage/schemes/{scheme}/volunteers/{volunteer}/pin", post(set_volunteer_pin))
        .route("/manage/schemes/{scheme}/volunteers/{volunteer}/equality/withdraw", post(withdraw_equality))
        .route("/manage/schemes/{scheme}/pin-setting", post(set_pin_required))
        .route("/manage/schemes/{scheme}/coordinators", post(invite_coordinator))
}

// ---------------------------------------------------------------------------------------------
// Errors and the page frame.

#[derive(Debug)]
pub enum WebError {
    /// Not signed in: go to the sign-in page.
    SignIn,
    BadRequest(String),
    Forbidden(String),
    NotFound(String),
    TooMany(String),
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for WebError {
    fn from(e: anyhow::Error) -> WebError {
        match e.downcast::<Refusal>() {
            Ok(r) => WebError::BadRequest(r.0),
            Err(e) => WebError::Internal(e),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            WebError::SignIn => return Redirect::to("/sign-in").into_response(),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "There is a problem", m),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "You cannot do this", m),
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, "Page not found", m),
            WebError::TooMany(m) => (StatusCode::TOO_MANY_REQUESTS, "Too many attempts", m),
            WebError::Internal(e) => {
                tracing::error!(error = %e, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sorry, there is a problem with the service",
                    "Try again later. If it keeps happening, tell your administrator.".to_owned(),
                )
            }
        };
        let body = html! {
            h1 class="govuk-heading-l" { (title) }
            p class="govuk-body" id="error-message" { (message) }
            p class="govuk-body" { a class="govuk-link" href="/manage" { "Go to the start page" } }
        };
        page(status, title, None, body)
    }
}

pub type WebResult = Result<Response, WebError>;

/// A full HTML page with security headers.
pub fn page(status: StatusCode, title: &str, who: Option<&Session>, main: Markup) -> Response {
    page_with(status, title, who, main, None)
}

/// [`page`] with one script of the app's own (the only page that has one is the tablet's
/// equality-monitoring form).
fn page_with(status: StatusCode, title: &str, who: Option<&Session>, main: Markup, script: Option<&str>) -> Response {
    let doc = html! {
        (DOCTYPE)
        html lang="en-GB" class="govuk-template" {
            head {
                meta charset="utf-8";
                title { (title) " – Signpost" }
                meta name="viewport" content="width=device-width, initial-scale=1";
                link rel="stylesheet" href="/app.css";
                link rel="stylesheet" href="/manage.css";
                @if let Some(src) = script { script type="module" src=(src) {} }
            }
            body class="govuk-template__body" {
                a href="#main-content" class="govuk-skip-link" { "Skip to main content" }
                header class="govuk-header" {
                    div class="govuk-header__container govuk-width-container" {
                        div class="govuk-header__logo" {
                            span class="govuk-header__link govuk-header__link--homepage" {
                                span class="govuk-header__logotype-text" { "Signpost" }
                            }
                        }
                    }
                }
                div class="govuk-width-container" {
                    @if let Some(s) = who {
                        form method="post" action="/sign-out" class="govuk-!-margin-top-2" {
                            input type="hidden" name="csrf" value=(s.csrf);
                            p class="govuk-body-s govuk-!-margin-bottom-0" {
                                "Signed in as " strong { (s.user.email) } " (" (role_label(&s.user.role)) ") "
                                button type="submit" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" { "Sign out" }
                            }
                        }
                    }
                    main class="govuk-main-wrapper" id="main-content" { (main) }
                }
                footer class="govuk-footer" {
                    div class="govuk-width-container" {
                        p class="govuk-body-s" { "Signpost records referrals without names." }
                    }
                }
            }
        }
    };
    let mut res = (status, doc).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, "no-store".parse().expect("header"));
    // Nothing to other sites (the set-password link carries its code); same-origin forms keep
    // their `Origin`, which [`same_origin`] checks.
    h.insert(header::REFERRER_POLICY, "same-origin".parse().expect("header"));
    h.insert(header::X_FRAME_OPTIONS, "DENY".parse().expect("header"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, "nosniff".parse().expect("header"));
    let scripts = if script.is_some() { "'self'" } else { "'none'" };
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        format!("default-src 'self'; script-src {scripts}; frame-ancestors 'none'; form-action 'self'")
            .parse()
            .expect("header"),
    );
    res
}

fn role_label(role: &Role) -> &'static str {
    match role {
        Role::Coordinator { .. } => "coordinator",
        Role::National => "national reviewer",
        Role::Admin => "administrator",
    }
}

fn error_summary(errors: &[(&str, String)]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div class="govuk-error-summary" data-module="govuk-error-summary" {
                div role="alert" {
                    h2 class="govuk-error-summary__title" { "There is a problem" }
                    div class="govuk-error-summary__body" {
                        ul class="govuk-list govuk-error-summary__list" {
                            @for (field, msg) in errors {
                                li { a href=(format!("#{field}")) { (msg) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A table of figures in the GOV.UK pattern: a column of row names, then numeric columns; the
/// last row in bold when `total_last`. `columns` names every column, the names' column first.
pub fn figures_table(
    id: &str,
    caption: Option<(&str, &str)>,
    columns: &[&str],
    rows: &[(String, Vec<String>)],
    total_last: bool,
) -> Markup {
    let last = rows.len().saturating_sub(1);
    html! {
        table class="govuk-table" id=(id) {
            @if let Some((text, size)) = caption {
                caption class=(format!("govuk-table__caption govuk-table__caption--{size}")) { (text) }
            }
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                @for (i, c) in columns.iter().enumerate() {
                    @if i == 0 { th scope="col" class="govuk-table__header" { (c) } }
                    @else { th scope="col" class="govuk-table__header govuk-table__header--numeric" { (c) } }
                }
            } }
            tbody class="govuk-table__body" {
                @for (i, (name, values)) in rows.iter().enumerate() {
                    tr class="govuk-table__row" {
                        th scope="row" class="govuk-table__header" { (name) }
                        @for v in values {
                            td class="govuk-table__cell govuk-table__cell--numeric" {
                                @if total_last && i == last { strong { (v) } } @else { (v) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%d %b %Y %H:%M UTC").to_string()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Sessions, CSRF, database access.

pub struct Session {
    pub user: User,
    pub csrf: String,
}

fn secure(st: &AppState, headers: &HeaderMap) -> bool {
    st.behind_tls || headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https")
}

fn cookie(st: &AppState, headers: &HeaderMap, name: &'static str, value: String) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(st, headers))
        .path("/")
        .build()
}

/// Runs database work off the async threads, on a pooled connection.
pub async fn db<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&mut Connection) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, WebError> {
    store::blocking(store, f).await.map_err(WebError::from)
}

async fn current(st: &AppState, jar: &CookieJar) -> Result<Option<Session>, WebError> {
    let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else { return Ok(None) };
    let found = db(&st.store, move |c| accounts::session(c, &token)).await?;
    Ok(found.map(|(user, csrf)| Session { user, csrf }))
}

pub async fn signed_in(st: &AppState, jar: &CookieJar) -> Result<Session, WebError> {
    current(st, jar).await?.ok_or(WebError::SignIn)
}

/// Constant-time comparison of secrets.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A form from another site is refused before anything else (SameSite=Strict already keeps the
/// session cookie off it; this also covers the forms that need no session).
fn same_origin(headers: &HeaderMap) -> Result<(), WebError> {
    let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST)) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default();
    let host = host.to_str().unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    if origin_host != host {
        return Err(WebError::Forbidden("This form was sent from another website, so it was not accepted.".into()));
    }
    Ok(())
}

/// A form from a signed-in person whose CSRF token matched: every handler that changes anything
/// takes its form through this, so none can forget the checks. In order: the form's origin, the
/// session (else to the sign-in page), the token, then the fields.
pub struct SignedForm<T>(pub Session, pub T);

/// A form with no fields but its CSRF token.
#[derive(Deserialize)]
struct Nothing {}

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<AppState> for SignedForm<T> {
    type Rejection = WebError;

    async fn from_request(req: axum::extract::Request, st: &AppState) -> Result<Self, WebError> {
        let (parts, body) = req.into_parts();
        same_origin(&parts.headers)?;
        let s = signed_in(st, &CookieJar::from_headers(&parts.headers)).await?;
        let bytes = axum::body::to_bytes(body, 64 << 10)
            .await
            .map_err(|_| WebError::BadRequest("The form is too large.".into()))?;
        let token: CsrfOnly = serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfOnly { csrf: String::new() });
        if !same(&s.csrf, &token.csrf) {
            return Err(WebError::Forbidden(
                "This form has expired or did not come from Signpost. Go back, reload the page and try again.".into(),
            ));
        }
        let fields = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| WebError::BadRequest(format!("The form could not be read: {e}")))?;
        Ok(SignedForm(s, fields))
    }
}

pub fn managed(s: &Session, scheme: &str) -> Result<(), WebError> {
    if s.user.role.manages(scheme) {
        Ok(())
    } else {
        Err(WebError::Forbidden("You can only manage your own scheme.".into()))
    }
}

fn admin_only(s: &Session) -> Result<(), WebError> {
    if s.user.role == Role::Admin {
        Ok(())
    } else {
        Err(WebError::Forbidden("Only administrators can do this.".into()))
    }
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

// ---------------------------------------------------------------------------------------------
// Signing in and out, setting a password.

#[derive(Deserialize, Default)]
struct Notice {
    #[serde(default)]
    done: Option<String>,
}

fn sign_in_form(csrf: &str, email: &str, error: Option<String>, notice: Option<&str>) -> Markup {
    let errors: Vec<(&str, String)> = error.into_iter().map(|e| ("email", e)).collect();
    html! {
        div class="govuk-grid-row" { div class="govuk-grid-column-two-thirds" {
            @if let Some(n) = notice {
                div class="govuk-notification-banner govuk-notification-banner--success" role="alert" aria-labelledby="notice-title" {
                    div class="govuk-notification-banner__header" {
                        h2 class="govuk-notification-banner__title" id="notice-title" { "Success" }
                    }
                    div class="govuk-notification-banner__content" { p class="govuk-notification-banner__heading" { (n) } }
                }
            }
            (error_summary(&errors))
            h1 class="govuk-heading-l" { "Sign in to Signpost" }
            form method="post" action="/sign-in" novalidate {
                input type="hidden" name="csrf" value=(csrf);
                div class=(if errors.is_empty() { "govuk-form-group" } else { "govuk-form-group govuk-form-group--error" }) {
                    label class="govuk-label" for="email" { "Email address" }
                    @if let Some((_, e)) = errors.first() {
                        p class="govuk-error-message" id="email-error" { span class="govuk-visually-hidden" { "Error: " } (e) }
                    }
                    input class="govuk-input" id="email" name="email" type="email" autocomplete="email" spellcheck="false" value=(email);
                }
                div class="govuk-form-group" {
                    label class="govuk-label" for="password" { "Password" }
                    input class="govuk-input" id="password" name="password" type="password" autocomplete="current-password";
                }
                button type="submit" class="govuk-button" { "Sign in" }
            }
            p class="govuk-body" { "Forgotten your password? Ask your Signpost administrator to reset it." }
        } }
    }
}

/// A fresh double-submit token for a form shown before sign-in.
fn form_token(st: &AppState, headers: &HeaderMap, jar: CookieJar) -> (CookieJar, String) {
    let token = store::random_token("", 24);
    (jar.add(cookie(st, headers, FORM_COOKIE, token.clone())), token)
}

fn form_token_ok(jar: &CookieJar, sent: &str) -> Result<(), WebError> {
    match jar.get(FORM_COOKIE) {
        Some(c) if same(c.value(), sent) => Ok(()),
        _ => Err(WebError::Forbidden(
            "This form has expired or did not come from Signpost. Go back, reload the page and try again.".into(),
        )),
    }
}

async fn sign_in_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(n): Query<Notice>,
) -> WebResult {
    if current(&st, &jar).await?.is_some() {
        return Ok(see_other("/manage"));
    }
    let notice = n.done.as_deref().map(|_| "Your password is set. Sign in with it.");
    let (jar, csrf) = form_token(&st, &headers, jar);
    Ok((jar, page(StatusCode::OK, "Sign in", None, sign_in_form(&csrf, "", None, notice))).into_response())
}

#[derive(Deserialize)]
struct SignIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn sign_in(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<SignIn>, axum::extract::rejection::FormRejection>,
) -> WebResult {
    same_origin(&headers)?;
    let Form(f) = form.map_err(|e| WebError::BadRequest(format!("The form could not be read: {}", e.body_text())))?;
    form_token_ok(&jar, &f.csrf)?;
    let email = f.email.trim().to_lowercase();
    let (by_email, by_ip) = (format!("email:{email}"), format!("ip:{}", peer.ip()));
    if st.guards.sign_in_email.blocked(&by_email) || st.guards.sign_in_ip.blocked(&by_ip) {
        return Err(WebError::TooMany(
            "There have been too many attempts to sign in. Wait 15 minutes, then try again.".into(),
        ));
    }
    let (e2, p2) = (email.clone(), f.password.clone());
    let user = if email.is_empty() || f.password.is_empty() {
        None
    } else {
        db(&st.store, move |c| accounts::check_login(c, &e2, &p2)).await?
    };
    let Some(user) = user else {
        st.guards.sign_in_email.fail(&by_email);
        st.guards.sign_in_ip.fail(&by_ip);
        let (jar, csrf) = form_token(&st, &headers, jar);
        let body = sign_in_form(&csrf, &f.email, Some("Enter a correct email address and password".into()), None);
        return Ok((jar, page(StatusCode::UNAUTHORIZED, "Sign in", None, body)).into_response());
    };
    st.guards.sign_in_email.clear(&by_email);
    // Never carry a session over a sign-in: whatever cookie came with the form is ended.
    let old = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned());
    let u2 = user.clone();
    let (token, _) = db(&st.store, move |c| {
        store::immediate(c, |c| {
            if let Some(old) = old {
                accounts::end_session(c, &old)?;
            }
            accounts::audit(c, &u2.actor(), "signed in", None, "")?;
            accounts::create_session(c, &u2)
        })
    })
    .await?;
    let jar = jar.remove(Cookie::build(FORM_COOKIE).path("/")).add(cookie(&st, &headers, SESSION_COOKIE, token));
    Ok((jar, see_other("/manage")).into_response())
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn sign_out(State(st): State<AppState>, jar: CookieJar, SignedForm(s, _): SignedForm<Nothing>) -> WebResult {
    let token = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    db(&st.store, move |c| {
        accounts::end_session(c, &token)?;
        accounts::audit(c, &s.user.actor(), "signed out", None, "")
    })
    .await?;
    Ok((jar.remove(Cookie::build(SESSION_COOKIE).path("/")), see_other("/sign-in")).into_response())
}

#[derive(Deserialize)]
struct CodeQuery {
    #[serde(default)]
    code: String,
}

fn set_password_form(csrf: &str, code: &str, email: &str, error: Option<String>) -> Markup {
    let errors: Vec<(&str, String)> = error.into_iter().map(|e| ("password", e)).collect();
    html! {
        div class="govuk-grid-row" { div class="govuk-grid-column-two-thirds" {
            (error_summary(&errors))
            h1 class="govuk-heading-l" { "Create your password" }
            p class="govuk-body" { "For " strong { (email) } "." }
            form method="post" action="/set-password" novalidate {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="code" value=(code);
                div class=(if errors.is_empty() { "govuk-form-group" } else { "govuk-form-group govuk-form-group--error" }) {
                    label class="govuk-label" for="password" { "Password" }
                    div class="govuk-hint" id="password-hint" { "12 characters or more. Three random words make a strong password that is easy to remember." }
                    @if let Some((_, e)) = errors.first() {
                        p class="govuk-error-message" id="password-error" { span class="govuk-visually-hidden" { "Error: " } (e) }
                    }
                    input class="govuk-input" id="password" name="password" type="password" autocomplete="new-password" aria-describedby="password-hint";
                }
                div class="govuk-form-group" {
                    label class="govuk-label" for="confirm" { "Confirm password" }
                    input class="govuk-input" id="confirm" name="confirm" type="password" autocomplete="new-password";
                }
                button type="submit" class="govuk-button" { "Save password" }
            }
        } }
    }
}

fn expired_link() -> WebError {
    WebError::BadRequest("This link has expired or has already been used. Ask your administrator for a new one.".into())
}

async fn set_password_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<CodeQuery>,
) -> WebResult {
    let code = q.code.clone();
    let user = db(&st.store, move |c| accounts::password_code_user(c, &code)).await?.ok_or_else(expired_link)?;
    let (jar, csrf) = form_token(&st, &headers, jar);
    let body = set_password_form(&csrf, &q.code, &user.email, None);
    Ok((jar, page(StatusCode::OK, "Create your password", None, body)).into_response())
}

#[derive(Deserialize)]
struct SetPassword {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

async fn set_password(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Form(f): Form<SetPassword>,
) -> WebResult {
    same_origin(&headers)?;
    form_token_ok(&jar, &f.csrf)?;
    let code = f.code.clone();
    let user = db(&st.store, move |c| accounts::password_code_user(c, &code)).await?.ok_or_else(expired_link)?;
    let problem = if f.password != f.confirm {
        Some("The passwords do not match".to_owned())
    } else {
        accounts::check_password(&f.password, &user.email).err().map(|e| e.to_string())
    };
    if let Some(p) = problem {
        let body = set_password_form(&f.csrf, &f.code, &user.email, Some(p));
        return Ok(page(StatusCode::BAD_REQUEST, "Create your password", None, body));
    }
    let (code, password) = (f.code, f.password);
    db(&st.store, move |c| accounts::set_password(c, &code, &password)).await?;
    Ok(see_other("/sign-in?done=password"))
}

// ---------------------------------------------------------------------------------------------
// The start page of each role.

async fn home(State(st): State<AppState>, jar: CookieJar) -> WebResult {
    let s = signed_in(&st, &jar).await?;
    match s.user.role.clone() {
        Role::Coordinator { scheme } => Ok(see_other(&format!("/manage/schemes/{scheme}"))),
        Role::Admin => admin_home(&st, &s).await,
        Role::National => Ok(see_other("/manage/national")),
    }
}

struct SchemeRow {
    id: String,
    name: String,
    sites: i64,
}

fn schemes(conn: &Connection) -> anyhow::Result<Vec<SchemeRow>> {
    let mut stmt = conn.prepare(
        "SELECT c.id, c.name, (SELECT COUNT(*) FROM sites s WHERE s.scheme_id = c.id) FROM schemes c ORDER BY c.name",
    )?;
    let rows = stmt.query_map([], |r| Ok(SchemeRow { id: r.get(0)?, name: r.get(1)?, sites: r.get(2)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

async fn admin_home(st: &AppState, s: &Session) -> WebResult {
    let (schemes, users) = db(&st.store, |c| Ok((schemes(c)?, accounts::users(c, None)?))).await?;
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
struct NameForm {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct SchemeForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    scheme_type: String,
}

async fn create_scheme(State(st): State<AppState>, SignedForm(s, f): SignedForm<SchemeForm>) -> WebResult {
    admin_only(&s)?;
    use signpost_shared::vocab::{Region, SchemeType};
    let region =
        Region::from_code(&f.region).ok_or_else(|| WebError::BadRequest("Select the scheme's region".into()))?;
    let kind = SchemeType::from_code(&f.scheme_type)
        .ok_or_else(|| WebError::BadRequest("Select the kind of scheme".into()))?;
    let name = f.name;
    let id = db(&st.store, move |c| {
        store::immediate(c, |c| {
            let id = crate::seed::create_scheme(c, &name, Some(region), Some(kind))
                .map_err(|e| Refusal(e.to_string()))?;
            accounts::audit(c, &s.user.actor(), "scheme created", Some(&id), &name)?;
            Ok(id)
        })
    })
    .await?;
    Ok(see_other(&format!("/manage/schemes/{id}")))
}

#[derive(Deserialize)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    scheme: String,
}

fn link_page(
    st: &AppState,
    s: &Session,
    headers: &HeaderMap,
    title: &str,
    who: &str,
    code: &str,
    back: &str,
) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let scheme = if secure(st, headers) { "https" } else { "http" };
    let link = format!("{scheme}://{host}/set-password?code={code}");
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

async fn invite_user(
    State(st): State<AppState>,
    headers: HeaderMap,
    SignedForm(s, f): SignedForm<InviteForm>,
) -> WebResult {
    admin_only(&s)?;
    let role = Role::parse(&f.role, Some(f.scheme.clone()).filter(|x| !x.is_empty()))
        .map_err(|e| WebError::BadRequest(e.to_string()))?;
    let (email, actor) = (f.email, s.user.actor());
    let (user, code) = db(&st.store, move |c| accounts::create_user(c, &email, &role, &actor)).await?;
    Ok(link_page(&st, &s, &headers, "Account created", &user.email, &code, "/manage"))
}

#[derive(Deserialize)]
struct UserPath {
    user: String,
}

async fn reset_password(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(p): Path<UserPath>,
    SignedForm(s, _): SignedForm<Nothing>,
) -> WebResult {
    admin_only(&s)?;
    let actor = s.user.actor();
    let (user, code) = db(&st.store, move |c| accounts::reset_password(c, &p.user, &actor)).await?;
    Ok(link_page(&st, &s, &headers, "Password reset", &user.email, &code, "/manage"))
}

#[derive(Deserialize)]
struct Before {
    before: Option<i64>,
}

async fn audit_page(State(st): State<AppState>, jar: CookieJar, Query(q): Query<Before>) -> WebResult {
    let s = signed_in(&st, &jar).await?;
    admin_only(&s)?;
    let entries: Vec<AuditEntry> = db(&st.store, move |c| accounts::audit_entries(c, 200, q.before)).await?;
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

// ---------------------------------------------------------------------------------------------
// A scheme: sites and tablets, roster, coordinators.

struct SchemeView {
    name: String,
    /// Volunteers who gave equality-monitoring answers, and when.
    equality: std::collections::HashMap<String, i64>,
    pin_required: bool,
    sites: Vec<(String, String)>,
    devices: Vec<Device>,
    volunteers: Vec<Volunteer>,
    coordinators: Vec<User>,
}

fn load_scheme(conn: &Connection, scheme: &str) -> anyhow::Result<Option<SchemeView>> {
    use rusqlite::OptionalExtension;
    let name: Option<String> =
        conn.query_row("SELECT name FROM schemes WHERE id = ?1", [scheme], |r| r.get(0)).optional()?;
    let Some(name) = name else { return Ok(None) };
    let sites = store::sites_of(conn, scheme)?;
    Ok(Some(SchemeView {
        name,
        equality: accounts::equality_given(conn, scheme)?,
        pin_required: schema::read_pin_required(&directory(conn, scheme)?),
        sites,
        devices: accounts::devices(conn, scheme)?,
        volunteers: roster(conn, scheme)?,
        coordinators: accounts::users(conn, Some(scheme))?,
    }))
}

/// The scheme's directory document as stored.
pub fn directory(conn: &Connection, scheme: &str) -> anyhow::Result<automerge::Automerge> {
    Ok(store::load_automerge(conn, &schema::directory_id(scheme))?.map(|(_, doc)| doc).unwrap_or_default())
}

/// The scheme's roster as stored.
pub fn roster(conn: &Connection, scheme: &str) -> anyhow::Result<Vec<Volunteer>> {
    Ok(schema::read_volunteers(&directory(conn, scheme)?))
}

async fn scheme_page(State(st): State<AppState>, jar: CookieJar, Path(scheme): Path<String>) -> WebResult {
    let s = signed_in(&st, &jar).await?;
    managed(&s, &scheme)?;
    let (sc, actor) = (scheme.clone(), s.user.actor());
    let view = db(&st.store, move |c| {
        let v = load_scheme(c, &sc)?;
        if v.is_some() {
            // Volunteers' names are individual-level data.
            accounts::audit(c, &actor, "viewed the volunteer roster and tablets", Some(&sc), "")?;
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
                                @if let Some((at, why)) = d.recent_refusal(store::now_ms()) {
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
struct SchemeSite {
    scheme: String,
    site: String,
}

async fn create_site(
    State(st): State<AppState>,
    Path(scheme): Path<String>,
    SignedForm(s, f): SignedForm<NameForm>,
) -> WebResult {
    managed(&s, &scheme)?;
    let sc = scheme.clone();
    db(&st.store, move |c| {
        let id = store::create_site(c, &sc, &f.name).map_err(|e| Refusal(e.to_string()))?;
        accounts::audit(c, &s.user.actor(), "site created", Some(&sc), &format!("{id} {}", f.name.trim()))
    })
    .await?;
    Ok(see_other(&format!("/manage/schemes/{scheme}")))
}

async fn enrolment_code(
    State(st): State<AppState>,
    Path(p): Path<SchemeSite>,
    SignedForm(s, _): SignedForm<Nothing>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let (scheme, site, actor) = (p.scheme.clone(), p.site.clone(), s.user.actor());
    let (code, site_name) = db(&st.store, move |c| {
        let names = store::site_and_scheme_names(c, &site)?;
        let in_scheme: bool =
            c.prepare("SELECT 1 FROM sites WHERE id = ?1 AND scheme_id = ?2")?.exists([&site, &scheme])?;
        let (Some((site_name, _)), true) = (names, in_scheme) else {
            return Err(Refusal("There is no such site in this scheme.".into()).into());
        };
        Ok((accounts::create_enrol_code(c, &site, &actor)?, site_name))
    })
    .await?;
    let until = chrono::Utc::now() + chrono::Duration::milliseconds(accounts::ENROL_CODE_MS);
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
struct SchemeDevice {
    scheme: String,
    device: String,
}

async fn revoke_tablet(
    State(st): State<AppState>,
    Path(p): Path<SchemeDevice>,
    SignedForm(s, _): SignedForm<Nothing>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let (scheme, device, actor) = (p.scheme.clone(), p.device.clone(), s.user.actor());
    let revoked = db(&st.store, move |c| accounts::revoke_device(c, &scheme, &device, &actor)).await?;
    if !revoked {
        return Err(WebError::NotFound("This scheme has no such tablet, or it is already revoked.".into()));
    }
    st.hub.revoke(p.device.clone()).await;
    Ok(see_other(&format!("/manage/schemes/{}", p.scheme)))
}

async fn add_volunteer(
    State(st): State<AppState>,
    Path(scheme): Path<String>,
    SignedForm(s, f): SignedForm<NameForm>,
) -> WebResult {
    managed(&s, &scheme)?;
    let v = Volunteer { id: store::random_id("vol"), name: checked_volunteer_name(&f.name)?, active: true, pin: None };
    write_volunteer(&st, &s, &scheme, v, "volunteer added").await?;
    Ok(see_other(&format!("/manage/schemes/{scheme}")))
}

fn checked_volunteer_name(name: &str) -> Result<String, WebError> {
    schema::volunteer_name(name)
        .ok_or_else(|| WebError::BadRequest("Enter the volunteer's name: 1 to 80 characters".into()))
}

async fn write_volunteer(st: &AppState, s: &Session, scheme: &str, v: Volunteer, action: &str) -> Result<(), WebError> {
    let detail = v.id.clone();
    let write: Edit = Box::new(move |tx| schema::write_volunteer(tx, &v).map_err(|e| e.to_string()));
    edit_roster(st, s, scheme, action, detail, write).await
}

/// What a roster edit answers when the volunteer is not on the roster it finds.
const NO_SUCH_VOLUNTEER: &str = "no such volunteer";

/// Changes a scheme's roster through the relay, with its audit row in the same transaction:
/// the row is written only if the edit is stored, and the edit reads the roster it changes
/// inside the relay, so two coordinators editing at once do not undo each other.
async fn edit_roster(
    st: &AppState,
    s: &Session,
    scheme: &str,
    action: &str,
    detail: String,
    write: Edit,
) -> Result<(), WebError> {
    let sc = scheme.to_owned();
    if !db(&st.store, move |c| store::scheme_exists(c, &sc)).await? {
        return Err(WebError::NotFound("There is no such scheme.".into()));
    }
    let (sc, actor, action) = (scheme.to_owned(), s.user.actor(), action.to_owned());
    let record: crate::hub::Record = Box::new(move |c| accounts::audit(c, &actor, &action, Some(&sc), &detail));
    st.hub.edit_recorded(schema::directory_id(scheme), write, Some(record)).await.map_err(|e| {
        if e == NO_SUCH_VOLUNTEER {
            WebError::NotFound("This scheme has no such volunteer.".into())
        } else {
            WebError::Internal(anyhow::anyhow!(e))
        }
    })
}

#[derive(Deserialize)]
struct SchemeVolunteer {
    scheme: String,
    volunteer: String,
}

#[derive(Deserialize)]
struct ActiveForm {
    #[serde(default)]
    active: String,
}

async fn set_volunteer_active(
    State(st): State<AppState>,
    Path(p): Path<SchemeVolunteer>,
    SignedForm(s, f): SignedForm<ActiveForm>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let active = f.active == "true";
    let action = if active { "volunteer put back on the roster" } else { "volunteer taken off the roster" };
    update_volunteer(&st, &s, &p, action, move |v| v.active = active).await
}

/// Changes one volunteer of a scheme's roster as the relay holds it, then back to the
/// scheme's page.
async fn update_volunteer(
    st: &AppState,
    s: &Session,
    p: &SchemeVolunteer,
    action: &str,
    change: impl FnOnce(&mut Volunteer) + Send + 'static,
) -> WebResult {
    let id = p.volunteer.clone();
    let write: Edit = Box::new(move |tx| {
        let found = schema::read_volunteers(&*tx).into_iter().find(|v| v.id == id);
        let mut v = found.ok_or_else(|| NO_SUCH_VOLUNTEER.to_owned())?;
        change(&mut v);
        schema::write_volunteer(tx, &v).map_err(|e| e.to_string())
    });
    edit_roster(st, s, &p.scheme, action, p.volunteer.clone(), write).await?;
    Ok(see_other(&format!("/manage/schemes/{}", p.scheme)))
}

#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
}

async fn invite_coordinator(
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

#[derive(Deserialize)]
struct PinForm {
    #[serde(default)]
    pin: String,
}

async fn set_volunteer_pin(
    State(st): State<AppState>,
    Path(p): Path<SchemeVolunteer>,
    SignedForm(s, f): SignedForm<PinForm>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let pin = f.pin.trim().to_owned();
    if !schema::valid_pin(&pin) {
        return Err(WebError::BadRequest("Enter a PIN of 4 digits, like 0472".into()));
    }
    update_volunteer(&st, &s, &p, "volunteer PIN set", move |v| {
        v.pin = Some(schema::pin_check(&v.id, &pin, &store::random_id("salt")))
    })
    .await
}

#[derive(Deserialize)]
struct RequiredForm {
    #[serde(default)]
    required: String,
}

async fn set_pin_required(
    State(st): State<AppState>,
    Path(scheme): Path<String>,
    SignedForm(s, f): SignedForm<RequiredForm>,
) -> WebResult {
    managed(&s, &scheme)?;
    let required = match f.required.as_str() {
        "yes" => true,
        "no" => false,
        _ => return Err(WebError::BadRequest("Select whether volunteers enter a PIN".into())),
    };
    let detail = if required { "PIN required to start a shift" } else { "no PIN to start a shift" };
    let write: Edit = Box::new(move |tx| schema::write_pin_required(tx, required).map_err(|e| e.to_string()));
    edit_roster(&st, &s, &scheme, "roster setting changed", detail.into(), write).await?;
    Ok(see_other(&format!("/manage/schemes/{scheme}")))
}

/// Deletes a volunteer's equality-monitoring answers at their request: gone from the store and
/// from every figure from then on.
async fn withdraw_equality(
    State(st): State<AppState>,
    Path(p): Path<SchemeVolunteer>,
    SignedForm(s, _): SignedForm<Nothing>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let (sc, vol, actor) = (p.scheme.clone(), p.volunteer.clone(), s.user.actor());
    if !db(&st.store, move |c| accounts::withdraw_equality(c, &sc, &vol, &actor)).await? {
        return Err(WebError::NotFound("This volunteer has no equality-monitoring answers to withdraw.".into()));
    }
    Ok(see_other(&format!("/manage/schemes/{}", p.scheme)))
}

/// The equality-monitoring form a volunteer fills in on the desk's tablet, under their own roster
/// entry (the volunteer arrives in the query). The same page for everyone, so the tablet caches it
/// for offline use; `equality.js` keeps the answers in the tablet's outbox and sends them.
async fn equality_page() -> Response {
    use signpost_shared::equality::QUESTIONS;
    let body = html! {
        div class="govuk-grid-row" { div class="govuk-grid-column-two-thirds" {
            div class="govuk-error-summary" id="error-summary" tabindex="-1" hidden {
                div role="alert" {
                    h2 class="govuk-error-summary__title" { "There is a problem" }
                    div class="govuk-error-summary__body" { ul class="govuk-list govuk-error-summary__list" {
                        li { a href="#consent" { "Tick the box to agree, or go back to the desk" } }
                    } }
                }
            }
            div class="govuk-panel govuk-panel--confirmation" id="sent" data-state tabindex="-1" hidden {
                h1 class="govuk-panel__title" { "Thank you" }
                div class="govuk-panel__body" { "Your answers are sent and no longer on this tablet." }
            }
            div class="govuk-notification-banner" id="kept" data-state role="region" aria-labelledby="kept-title" tabindex="-1" hidden {
                div class="govuk-notification-banner__header" { h2 class="govuk-notification-banner__title" id="kept-title" { "Saved on this tablet" } }
                div class="govuk-notification-banner__content" {
                    p class="govuk-notification-banner__heading" { "Thank you. Your answers will be sent when the tablet is online, then removed from it." }
                }
            }
            div class="govuk-error-summary" id="not-kept" data-state tabindex="-1" hidden {
                div role="alert" {
                    h2 class="govuk-error-summary__title" { "Your answers could not be kept" }
                    div class="govuk-error-summary__body" { p class="govuk-body" { "This tablet refused to store them. Try again, or ask your coordinator." } }
                }
            }
            // Until equality.js has taken over the form, nothing can be sent (and answers never
            // travel in a URL).
            form id="equality-form" data-state method="post" action="/equality" novalidate {
                span class="govuk-caption-l" id="volunteer-name" {}
                h1 class="govuk-heading-l" { "Equality monitoring" }
                p class="govuk-body" { "This form is voluntary. Your answers show whether volunteering is open to everyone. They go to Signpost's server only, are never shown to anyone on their own, and are published only as totals too large to identify anyone. Your coordinator can delete them whenever you ask." }
                p class="govuk-body" { "Every question has \"Prefer not to say\", and you can leave any question out." }
                @for q in QUESTIONS {
                    div class="govuk-form-group" {
                        fieldset class="govuk-fieldset" aria-describedby=[(!q.hint.is_empty()).then(|| format!("{}-hint", q.key))] {
                            legend class="govuk-fieldset__legend govuk-fieldset__legend--s" {
                                (q.text) @if q.optional { " (optional)" }
                            }
                            @if !q.hint.is_empty() { div class="govuk-hint" id=(format!("{}-hint", q.key)) { (q.hint) } }
                            div class="govuk-radios" data-module="govuk-radios" {
                                @for (i, (code, label, _)) in q.answers.iter().enumerate() {
                                    @let id = if i == 0 { q.key.to_owned() } else { format!("{}-{code}", q.key) };
                                    div class="govuk-radios__item" {
                                        input class="govuk-radios__input" id=(id) name=(q.key) type="radio" value=(code);
                                        label class="govuk-label govuk-radios__label" for=(id) { (label) }
                                    }
                                }
                            }
                        }
                    }
                }
                div class="govuk-form-group" {
                    p class="govuk-error-message" id="consent-error" hidden { span class="govuk-visually-hidden" { "Error: " } "Tick the box to agree" }
                    div class="govuk-checkboxes" data-module="govuk-checkboxes" {
                        div class="govuk-checkboxes__item" {
                            input class="govuk-checkboxes__input" id="consent" name="consent" type="checkbox" value="yes";
                            label class="govuk-label govuk-checkboxes__label" for="consent" { "I agree to my answers being used in this way" }
                        }
                    }
                }
                button type="submit" class="govuk-button" disabled { "Send my answers" }
            }
            p class="govuk-body" { a class="govuk-link" href="/" { "Back to the desk" } }
        } }
    };
    let mut res = page_with(StatusCode::OK, "Equality monitoring", None, body, Some("/equality.js"));
    // Cached by the tablet's service worker for offline use; never by a shared cache.
    res.headers_mut().insert(header::CACHE_CONTROL, "private, no-cache".parse().expect("header"));
    res
}
