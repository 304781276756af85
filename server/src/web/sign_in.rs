//! Signing in and out, and setting a password from an invitation or reset link. Sign-in gets a
//! fresh session (an earlier cookie is never promoted) and is throttled per email and per
//! address.

use super::error::{WebError, WebResult};
use super::lang::l;
use super::layout::{error_summary, page, see_other};
use super::session::{cookie, current, db, same, same_origin, Nothing, SignedForm};
use crate::auth::{FORM_COOKIE, SESSION_COOKIE};
use crate::state::AppState;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use maud::{html, Markup};
use serde::Deserialize;
use signpost_domain::accounts::{self};
use signpost_domain::audit;
use std::net::SocketAddr;

#[derive(Deserialize, Default)]
pub(super) struct Notice {
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
                        h2 class="govuk-notification-banner__title" id="notice-title" { (l("Success", "Llwyddiant")) }
                    }
                    div class="govuk-notification-banner__content" { p class="govuk-notification-banner__heading" { (n) } }
                }
            }
            (error_summary(&errors))
            h1 class="govuk-heading-l" { (l("Sign in to Signpost", "Mewngofnodi i Signpost")) }
            form method="post" action="/sign-in" novalidate {
                input type="hidden" name="csrf" value=(csrf);
                div class=(if errors.is_empty() { "govuk-form-group" } else { "govuk-form-group govuk-form-group--error" }) {
                    label class="govuk-label" for="email" { (l("Email address", "Cyfeiriad e-bost")) }
                    @if let Some((_, e)) = errors.first() {
                        p class="govuk-error-message" id="email-error" { span class="govuk-visually-hidden" { (l("Error: ", "Gwall: ")) } (e) }
                    }
                    input class="govuk-input" id="email" name="email" type="email" autocomplete="email" spellcheck="false" value=(email);
                }
                div class="govuk-form-group" {
                    label class="govuk-label" for="password" { (l("Password", "Cyfrinair")) }
                    input class="govuk-input" id="password" name="password" type="password" autocomplete="current-password";
                }
                button type="submit" class="govuk-button" { (l("Sign in", "Mewngofnodi")) }
            }
            p class="govuk-body" { (l("Forgotten your password? Ask your Signpost administrator to reset it.", "Wedi anghofio eich cyfrinair? Gofynnwch i weinyddwr Signpost ei ailosod.")) }
        } }
    }
}

/// A fresh double-submit token for a form shown before sign-in.
fn form_token(st: &AppState, headers: &HeaderMap, jar: CookieJar) -> (CookieJar, String) {
    let token = signpost_domain::util::random_token("", 24);
    (jar.add(cookie(st, headers, FORM_COOKIE, token.clone())), token)
}

fn form_token_ok(jar: &CookieJar, sent: &str) -> Result<(), WebError> {
    match jar.get(FORM_COOKIE) {
        Some(c) if same(c.value(), sent) => Ok(()),
        _ => Err(WebError::Forbidden(
            l("This form has expired or did not come from Signpost. Go back, reload the page and try again.", "Mae'r ffurflen hon wedi dod i ben neu nid oedd yn dod o Signpost. Ewch yn ôl, ail-lwythwch y dudalen a rhowch gynnig arall arni.").into(),
        )),
    }
}

pub(super) async fn sign_in_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(n): Query<Notice>,
) -> WebResult {
    if current(&st, &jar).await?.is_some() {
        return Ok(see_other("/manage"));
    }
    let notice = n
        .done
        .as_deref()
        .map(|_| l("Your password is set. Sign in with it.", "Mae eich cyfrinair wedi'i osod. Mewngofnodwch ag ef."));
    let (jar, csrf) = form_token(&st, &headers, jar);
    Ok((jar, page(StatusCode::OK, l("Sign in", "Mewngofnodi"), None, sign_in_form(&csrf, "", None, notice)))
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct SignIn {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn sign_in(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    form: Result<Form<SignIn>, axum::extract::rejection::FormRejection>,
) -> WebResult {
    same_origin(&headers)?;
    let Form(f) = form.map_err(super::error::form_rejected)?;
    form_token_ok(&jar, &f.csrf)?;
    let email = f.email.trim().to_lowercase();
    let ip = crate::auth::client_key(st.trust_forwarded_for, peer, &headers);
    // No account has an address this long: the keys stay small whatever is sent.
    let account: String = email.chars().take(254).collect();
    let (by_pair, by_ip) = (format!("{ip} {account}"), format!("ip:{ip}"));
    let too_many = || {
        WebError::TooMany(
            l(
                "There have been too many attempts to sign in. Wait 15 minutes, then try again.",
                "Bu gormod o ymdrechion i fewngofnodi. Arhoswch 15 munud, yna rhowch gynnig arall arni.",
            )
            .into(),
        )
    };
    // Counted before the password is checked; then the account's turn, slower after failures.
    let Some(from_ip) = st.guards.sign_in_ip.reserve(&by_ip).await else {
        crate::metrics::METRICS.throttled.with_label_values(&["sign_in"]).inc();
        return Err(too_many());
    };
    let Some(from_pair) = st.guards.sign_in_pair.reserve(&by_pair).await else {
        crate::metrics::METRICS.throttled.with_label_values(&["sign_in"]).inc();
        return Err(too_many());
    };
    let turn = st.guards.sign_in_account.turn(&account).await;
    let (e2, p2) = (email.clone(), f.password.clone());
    let user = if email.is_empty() || f.password.is_empty() {
        None
    } else {
        let Some(checked) = hashing(&st, move |c| accounts::check_login(c, &e2, &p2)).await else {
            // Not checked, so not counted: the person tries again in a moment.
            from_ip.release().await;
            from_pair.release().await;
            drop(turn);
            let (jar, csrf) = form_token(&st, &headers, jar);
            let body = sign_in_form(&csrf, &f.email, Some(busy().into()), None);
            let page = page(StatusCode::SERVICE_UNAVAILABLE, l("Sign in", "Mewngofnodi"), None, body);
            return Ok((jar, try_again_soon(page)).into_response());
        };
        checked?
    };
    let Some(user) = user else {
        turn.failed();
        drop((from_ip, from_pair)); // counted
        let (jar, csrf) = form_token(&st, &headers, jar);
        let body = sign_in_form(
            &csrf,
            &f.email,
            Some(l("Enter a correct email address and password", "Rhowch gyfeiriad e-bost a chyfrinair cywir").into()),
            None,
        );
        return Ok((jar, page(StatusCode::UNAUTHORIZED, l("Sign in", "Mewngofnodi"), None, body)).into_response());
    };
    from_ip.release().await;
    from_pair.release().await;
    st.guards.sign_in_pair.clear(&by_pair).await;
    drop(turn);
    // Never carry a session over a sign-in: whatever cookie came with the form is ended.
    let old = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned());
    let u2 = user.clone();
    let (token, _) = db(&st.store, move |c| {
        signpost_domain::db::immediate(c, |c| {
            if let Some(old) = old {
                accounts::end_session(c, &old)?;
            }
            audit::audit(c, &u2.actor(), "signed in", None, "")?;
            accounts::create_session(c, &u2)
        })
    })
    .await?;
    let jar = jar.remove(Cookie::build(FORM_COOKIE).path("/")).add(cookie(&st, &headers, SESSION_COOKIE, token));
    Ok((jar, see_other("/manage")).into_response())
}

pub(super) async fn sign_out(
    State(st): State<AppState>,
    jar: CookieJar,
    SignedForm(s, _): SignedForm<Nothing>,
) -> WebResult {
    let token = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    db(&st.store, move |c| {
        accounts::end_session(c, &token)?;
        audit::audit(c, &s.user.actor(), "signed out", None, "")
    })
    .await?;
    Ok((jar.remove(Cookie::build(SESSION_COOKIE).path("/")), see_other("/sign-in")).into_response())
}

#[derive(Deserialize)]
pub(super) struct CodeQuery {
    #[serde(default)]
    code: String,
}

fn set_password_form(csrf: &str, code: &str, email: &str, error: Option<String>) -> Markup {
    let errors: Vec<(&str, String)> = error.into_iter().map(|e| ("password", e)).collect();
    html! {
        div class="govuk-grid-row" { div class="govuk-grid-column-two-thirds" {
            (error_summary(&errors))
            h1 class="govuk-heading-l" { (l("Create your password", "Creu eich cyfrinair")) }
            p class="govuk-body" { (l("For ", "Ar gyfer ")) strong { (email) } "." }
            form method="post" action="/set-password" novalidate {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="code" value=(code);
                div class=(if errors.is_empty() { "govuk-form-group" } else { "govuk-form-group govuk-form-group--error" }) {
                    label class="govuk-label" for="password" { (l("Password", "Cyfrinair")) }
                    div class="govuk-hint" id="password-hint" { (l("12 characters or more. Three random words make a strong password that is easy to remember.", "12 nod neu fwy. Mae tri gair ar hap yn gwneud cyfrinair cryf sy'n hawdd ei gofio.")) }
                    @if let Some((_, e)) = errors.first() {
                        p class="govuk-error-message" id="password-error" { span class="govuk-visually-hidden" { (l("Error: ", "Gwall: ")) } (e) }
                    }
                    input class="govuk-input" id="password" name="password" type="password" autocomplete="new-password" aria-describedby="password-hint";
                }
                div class="govuk-form-group" {
                    label class="govuk-label" for="confirm" { (l("Confirm password", "Cadarnhau'r cyfrinair")) }
                    input class="govuk-input" id="confirm" name="confirm" type="password" autocomplete="new-password";
                }
                button type="submit" class="govuk-button" { (l("Save password", "Cadw'r cyfrinair")) }
            }
        } }
    }
}

fn expired_link() -> WebError {
    WebError::BadRequest(
        l(
            "This link has expired or has already been used. Ask your administrator for a new one.",
            "Mae'r ddolen hon wedi dod i ben neu wedi'i defnyddio eisoes. Gofynnwch i'ch gweinyddwr am un newydd.",
        )
        .into(),
    )
}

pub(super) async fn set_password_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<CodeQuery>,
) -> WebResult {
    let code = q.code.clone();
    let user = db(&st.store, move |c| accounts::password_code_user(c, &code)).await?.ok_or_else(expired_link)?;
    let (jar, csrf) = form_token(&st, &headers, jar);
    let body = set_password_form(&csrf, &q.code, &user.email, None);
    Ok((jar, page(StatusCode::OK, l("Create your password", "Creu eich cyfrinair"), None, body)).into_response())
}

#[derive(Deserialize)]
pub(super) struct SetPassword {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

pub(super) async fn set_password(
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
        Some(l("The passwords do not match", "Nid yw'r cyfrineiriau'n cyfateb").to_owned())
    } else {
        accounts::check_password(&f.password, &user.email).err().map(|e| e.to_string())
    };
    if let Some(p) = problem {
        let body = set_password_form(&f.csrf, &f.code, &user.email, Some(p));
        return Ok(page(StatusCode::BAD_REQUEST, l("Create your password", "Creu eich cyfrinair"), None, body));
    }
    let (code, password) = (f.code.clone(), f.password);
    let Some(set) = hashing(&st, move |c| accounts::set_password(c, &code, &password)).await else {
        let body = set_password_form(&f.csrf, &f.code, &user.email, Some(busy().into()));
        let title = l("Create your password", "Creu eich cyfrinair");
        return Ok(try_again_soon(page(StatusCode::SERVICE_UNAVAILABLE, title, None, body)));
    };
    set?;
    Ok(see_other("/sign-in?done=password"))
}

/// Runs password work (argon2) in one of the relay's few turns for it
/// ([`crate::state::Passwords`]), in the request's language; `None` when no turn came free in
/// time.
async fn hashing<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce(&mut signpost_domain::sql::Connection) -> anyhow::Result<T> + Send + 'static,
) -> Option<Result<T, WebError>> {
    let lang = super::lang::lang();
    let done = st.passwords.run(&st.store, move |c| super::lang::rendered_in(lang, || f(c))).await?;
    Some(done.map_err(WebError::from))
}

/// What a form says when no password could be checked in time ([`crate::state::Passwords`]).
fn busy() -> &'static str {
    l(
        "Too many people are signing in just now. Try again in a moment.",
        "Mae gormod o bobl yn mewngofnodi ar hyn o bryd. Rhowch gynnig arall arni mewn munud.",
    )
}

/// A page answered 503 tells the browser (and any client) to come back in a second or two.
fn try_again_soon(mut res: axum::response::Response) -> axum::response::Response {
    res.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("2"));
    res
}
