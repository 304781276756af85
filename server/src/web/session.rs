//! Sessions, CSRF and the forms they guard. Trust: a session cookie (`HttpOnly`,
//! `SameSite=Strict`, `Secure` behind TLS) names the person; every state-changing form carries
//! the session's CSRF token, checked before anything else, and a cross-site `Origin` is refused
//! outright. A handler that takes a [`Session`] runs only for someone signed in; one that takes a
//! [`SignedForm`] only for a form they sent from a Signpost page. What each role may do is checked
//! per request by the extractor a handler takes ([`Admin`], [`AdminForm`], [`Reviewer`]) and, for
//! a scheme in the path, [`managed`]; the domain keeps scheme scoping in its SQL
//! as well.

use super::error::WebError;
use super::lang::l;
use super::lang::tf;
use crate::auth::{self};
use crate::state::AppState;
use axum::http::{header, HeaderMap};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use serde::Deserialize;
use signpost_domain::accounts::Role;
use signpost_domain::db::Store;
use signpost_domain::sql::Connection;

pub use crate::auth::Session;

pub fn secure(st: &AppState, headers: &HeaderMap) -> bool {
    st.behind_tls || headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) == Some("https")
}

pub fn cookie(st: &AppState, headers: &HeaderMap, name: &'static str, value: String) -> Cookie<'static> {
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
    // The closure runs on a blocking thread, outside the request's task: it renders messages in
    // the request's language all the same.
    let lang = super::lang::lang();
    signpost_domain::db::blocking(store, move |c| super::lang::rendered_in(lang, || f(c))).await.map_err(WebError::from)
}

/// The signed-in person, if any.
pub async fn current(st: &AppState, jar: &CookieJar) -> Result<Option<Session>, WebError> {
    Ok(auth::session(&st.store, jar).await?)
}

/// A handler that takes a `Session` runs only for someone signed in; anyone else is sent to
/// the sign-in page.
impl axum::extract::FromRequestParts<AppState> for Session {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, st: &AppState) -> Result<Session, WebError> {
        signed_in(st, &CookieJar::from_headers(&parts.headers)).await
    }
}

pub async fn signed_in(st: &AppState, jar: &CookieJar) -> Result<Session, WebError> {
    current(st, jar).await?.ok_or(WebError::SignIn)
}

/// Constant-time comparison of secrets.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A form from another site is refused before anything else (SameSite=Strict already keeps the
/// session cookie off it; this also covers the forms that need no session).
pub fn same_origin(headers: &HeaderMap) -> Result<(), WebError> {
    let (Some(origin), Some(host)) = (headers.get(header::ORIGIN), headers.get(header::HOST)) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default();
    let host = host.to_str().unwrap_or_default();
    let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or(origin);
    if origin_host != host {
        return Err(WebError::Forbidden(
            l(
                "This form was sent from another website, so it was not accepted.",
                "Anfonwyd y ffurflen hon o wefan arall, felly ni chafodd ei derbyn.",
            )
            .into(),
        ));
    }
    Ok(())
}

/// A form from a signed-in person whose CSRF token matched: every handler that changes anything
/// takes its form through this, so none can forget the checks. In order: the form's origin, the
/// session (else to the sign-in page), the token, then the fields.
pub struct SignedForm<T>(pub Session, pub T);

/// A form with no fields but its CSRF token.
#[derive(Deserialize)]
pub struct Nothing {}

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<AppState> for SignedForm<T> {
    type Rejection = WebError;

    async fn from_request(req: axum::extract::Request, st: &AppState) -> Result<Self, WebError> {
        let (parts, body) = req.into_parts();
        same_origin(&parts.headers)?;
        let s = signed_in(st, &CookieJar::from_headers(&parts.headers)).await?;
        let bytes = axum::body::to_bytes(body, 64 << 10).await.map_err(|e| {
            if crate::listen::body_timed_out(&e) {
                WebError::Timeout
            } else {
                WebError::TooLarge
            }
        })?;
        let token: CsrfOnly = serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfOnly { csrf: String::new() });
        if !same(&s.csrf, &token.csrf) {
            return Err(WebError::Forbidden(
                l("This form has expired or did not come from Signpost. Go back, reload the page and try again.", "Mae'r ffurflen hon wedi dod i ben neu nid oedd yn dod o Signpost. Ewch yn ôl, ail-lwythwch y dudalen a rhowch gynnig arall arni.").into(),
            ));
        }
        let fields = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            WebError::BadRequest(tf!("The form could not be read: {e}", "Nid oedd modd darllen y ffurflen: {e}"))
        })?;
        Ok(SignedForm(s, fields))
    }
}

pub fn managed(s: &Session, scheme: &str) -> Result<(), WebError> {
    if s.user.role.manages(scheme) {
        Ok(())
    } else {
        Err(WebError::Forbidden(
            l("You can only manage your own scheme.", "Dim ond eich cynllun eich hun y gallwch ei reoli.").into(),
        ))
    }
}

fn admin_only(s: &Session) -> Result<(), WebError> {
    if s.user.role == Role::Admin {
        Ok(())
    } else {
        Err(WebError::Forbidden(l("Only administrators can do this.", "Dim ond gweinyddwyr all wneud hyn.").into()))
    }
}

/// An administrator, signed in: a handler that takes one runs for nobody else.
pub struct Admin(pub Session);

impl axum::extract::FromRequestParts<AppState> for Admin {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, st: &AppState) -> Result<Admin, WebError> {
        let s = Session::from_request_parts(parts, st).await?;
        admin_only(&s)?;
        Ok(Admin(s))
    }
}

/// A [`SignedForm`] from an administrator (checked after the form's origin, session and token).
pub struct AdminForm<T>(pub Session, pub T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<AppState> for AdminForm<T> {
    type Rejection = WebError;

    async fn from_request(req: axum::extract::Request, st: &AppState) -> Result<Self, WebError> {
        let SignedForm(s, fields) = SignedForm::from_request(req, st).await?;
        admin_only(&s)?;
        Ok(AdminForm(s, fields))
    }
}

/// A national reviewer or an administrator, signed in: who may read national figures.
pub struct Reviewer(pub Session);

impl axum::extract::FromRequestParts<AppState> for Reviewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, st: &AppState) -> Result<Reviewer, WebError> {
        let s = Session::from_request_parts(parts, st).await?;
        match s.user.role {
            Role::National | Role::Admin => Ok(Reviewer(s)),
            Role::Coordinator { .. } => Err(WebError::Forbidden(
                l(
                    "National figures are for national reviewers.",
                    "Mae ffigurau cenedlaethol ar gyfer adolygwyr cenedlaethol.",
                )
                .into(),
            )),
        }
    }
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    pub name: String,
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}
