//! The one error type of the web pages: a page in the service's frame that says what went
//! wrong and what to do, or (not signed in) the way to the sign-in page. A domain [`Refusal`]
//! is a 400 page with its reason; anything else a 500 page (and a log line).

use super::lang::{l, refusal};
use super::layout::page;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use signpost_domain::Refusal;

#[derive(Debug)]
pub enum WebError {
    /// Not signed in: go to the sign-in page.
    SignIn,
    BadRequest(String),
    Forbidden(String),
    NotFound(String),
    TooMany(String),
    /// A download past the limits on downloads at once (429): what to do instead.
    TooManyDownloads(String),
    /// A form over the 64 KiB every request is held to.
    TooLarge,
    /// A form that did not arrive whole before its deadline.
    Timeout,
    Internal(anyhow::Error),
}

impl From<Refusal> for WebError {
    fn from(r: Refusal) -> WebError {
        WebError::BadRequest(refusal(r))
    }
}

impl From<anyhow::Error> for WebError {
    fn from(e: anyhow::Error) -> WebError {
        match e.downcast::<Refusal>() {
            Ok(r) => WebError::BadRequest(refusal(r)),
            Err(e) => WebError::Internal(e),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            WebError::SignIn => return Redirect::to("/sign-in").into_response(),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, l("There is a problem", "Mae problem wedi codi"), m),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, l("You cannot do this", "Ni allwch wneud hyn"), m),
            WebError::NotFound(m) => (StatusCode::NOT_FOUND, l("Page not found", "Heb ddod o hyd i'r dudalen"), m),
            WebError::TooMany(m) => (StatusCode::TOO_MANY_REQUESTS, l("Too many attempts", "Gormod o ymdrechion"), m),
            WebError::TooManyDownloads(m) => (
                StatusCode::TOO_MANY_REQUESTS,
                l("Too many downloads at once", "Gormod o lawrlwythiadau ar unwaith"),
                m,
            ),
            WebError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                l("The form is too large", "Mae'r ffurflen yn rhy fawr"),
                l(
                    "What was sent is far larger than any of Signpost's forms takes. Go back and try again.",
                    "Mae'r hyn a anfonwyd yn llawer mwy nag y mae unrhyw un o ffurflenni Signpost yn ei gymryd. Ewch yn ôl a rhowch gynnig arall arni.",
                )
                .to_owned(),
            ),
            WebError::Timeout => (
                StatusCode::REQUEST_TIMEOUT,
                l("The form took too long to arrive", "Cymerodd y ffurflen ormod o amser i gyrraedd"),
                l(
                    "The connection may be slow. Go back and send the form again.",
                    "Efallai fod y cysylltiad yn araf. Ewch yn ôl ac anfonwch y ffurflen eto.",
                )
                .to_owned(),
            ),
            WebError::Internal(e) => {
                tracing::error!(error = %e, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    l("Sorry, there is a problem with the service", "Mae'n ddrwg gennym, mae problem gyda'r gwasanaeth"),
                    l(
                        "Try again later. If it keeps happening, tell your administrator.",
                        "Rhowch gynnig arall arni nes ymlaen. Os yw'n dal i ddigwydd, rhowch wybod i'ch gweinyddwr.",
                    )
                    .to_owned(),
                )
            }
        };
        let body = html! {
            h1 class="govuk-heading-l" { (title) }
            p class="govuk-body" id="error-message" { (message) }
            p class="govuk-body" { a class="govuk-link" href="/manage" { (l("Go to the start page", "Ewch i'r dudalen gychwyn")) } }
        };
        page(status, title, None, body)
    }
}

/// A form that could not be taken: too large (413), too slow to arrive (408), or not readable
/// (400).
pub fn form_rejected(e: axum::extract::rejection::FormRejection) -> WebError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        WebError::TooLarge
    } else if crate::listen::body_timed_out(&e) {
        WebError::Timeout
    } else {
        WebError::BadRequest(format!(
            "{}{}",
            l("The form could not be read: ", "Nid oedd modd darllen y ffurflen: "),
            e.body_text()
        ))
    }
}

pub type WebResult = Result<Response, WebError>;
