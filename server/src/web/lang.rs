//! English or Welsh for the web pages. `?lang=cy` (or `?lang=en`) on any page chooses, and a
//! cookie remembers the choice; without either a page is in English.
//!
//! The choice is request-scoped state that every string on a page depends on, from the frame to
//! a domain refusal rendered by the error page after the handler returned. Threading a parameter
//! through every renderer would put it in hundreds of signatures for no gain in clarity, so
//! [`choose`] (a layer over the web router) runs each request inside a task-local scope and the
//! renderers ask [`l`] or [`cy`]. Outside a request (tests, the CLI) pages are English.

use axum::extract::Request;
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;

/// The cookie that remembers the language chosen.
pub const LANG_COOKIE: &str = "signpost_lang";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Cy,
}

impl Lang {
    fn from_code(code: &str) -> Option<Lang> {
        match code {
            "en" => Some(Lang::En),
            "cy" => Some(Lang::Cy),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Cy => "cy",
        }
    }
}

/// The request's language and the page's address without `lang` (for the language switch).
#[derive(Clone, Debug)]
struct Here {
    lang: Lang,
    path: String,
    query: Vec<(String, String)>,
}

tokio::task_local! {
    static HERE: Here;
}

/// The language of the page being rendered.
pub fn lang() -> Lang {
    HERE.try_with(|h| h.lang).unwrap_or(Lang::En)
}

/// Whether the page being rendered is in Welsh.
pub fn cy() -> bool {
    lang() == Lang::Cy
}

/// The English or the Welsh of a piece of text, as the page's language asks.
pub fn l(en: &'static str, cy: &'static str) -> &'static str {
    match lang() {
        Lang::En => en,
        Lang::Cy => cy,
    }
}

/// [`l`] for text made at run time.
pub fn lf(en: String, cy: String) -> String {
    match lang() {
        Lang::En => en,
        Lang::Cy => cy,
    }
}

/// A domain refusal's reason in the page's language.
pub fn refusal(r: signpost_domain::Refusal) -> String {
    lf(r.en, r.cy)
}

/// Renders `f` in `lang` whatever the request chose (the equality form has one address per
/// language, because the tablet keeps both for offline use).
pub fn rendered_in<T>(lang: Lang, f: impl FnOnce() -> T) -> T {
    let here = HERE.try_with(|h| h.clone()).unwrap_or(Here { lang, path: "/".into(), query: Vec::new() });
    HERE.sync_scope(Here { lang, ..here }, f)
}

/// The address of this page in `to`: the same page and query, `lang` replaced.
pub fn switch_to(to: Lang) -> String {
    let (path, query) =
        HERE.try_with(|h| (h.path.clone(), h.query.clone())).unwrap_or_else(|_| ("/manage".into(), Vec::new()));
    let mut query = query;
    query.push(("lang".into(), to.code().into()));
    format!("{path}?{}", serde_urlencoded::to_string(&query).unwrap_or_default())
}

/// The layer that chooses each request's language: `?lang=` first (and then remembered in a
/// cookie), else the cookie, else English.
pub async fn choose(req: Request, next: Next) -> Response {
    let query: Vec<(String, String)> =
        req.uri().query().and_then(|q| serde_urlencoded::from_str(q).ok()).unwrap_or_default();
    let asked = query.iter().find(|(k, _)| k == "lang").and_then(|(_, v)| Lang::from_code(v));
    let remembered = CookieJar::from_headers(req.headers()).get(LANG_COOKIE).and_then(|c| Lang::from_code(c.value()));
    let lang = asked.or(remembered).unwrap_or(Lang::En);
    // A form's answer has no address of its own to show again: the switch goes back to the page
    // the form was on (forms are same-origin, and pages send a same-origin Referer).
    let path = if req.method() == Method::GET {
        req.uri().path().to_owned()
    } else {
        req.headers()
            .get(header::REFERER)
            .and_then(|r| r.to_str().ok())
            .and_then(|r| r.parse::<axum::http::Uri>().ok())
            .map(|u| u.path().to_owned())
            .unwrap_or_else(|| "/manage".into())
    };
    let query =
        if req.method() == Method::GET { query.into_iter().filter(|(k, _)| k != "lang").collect() } else { Vec::new() };
    let mut res = HERE.scope(Here { lang, path, query }, next.run(req)).await;
    if let Some(lang) = asked {
        let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code());
        res.headers_mut().append(header::SET_COOKIE, cookie.parse().expect("a cookie header"));
    }
    res
}

/// `format!` in the page's language: `tf!("{} is saved", "Mae {} wedi'i gadw", name)`. The
/// arguments are evaluated once, for the language chosen.
macro_rules! tf {
    ($en:literal, $cy:literal $(, $arg:expr)* $(,)?) => {
        if $crate::web::lang::cy() { format!($cy $(, $arg)*) } else { format!($en $(, $arg)*) }
    };
}
pub(crate) use tf;
