//! The page frame (GOV.UK template, security headers) and the pieces pages share: error
//! summaries, tables of figures, dates.

use super::lang::{cy, l, switch_to, Lang};
use super::words::say;
use crate::auth::Session;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup, DOCTYPE};
use signpost_domain::accounts::Role;

/// A full HTML page with security headers.
/// In the request's language ([`super::lang`]): `<html lang>`, the frame, and the language
/// switch.
pub fn page(status: StatusCode, title: &str, who: Option<&Session>, main: Markup) -> Response {
    page_with(status, title, who, main, None)
}

/// [`page`] with one script of the app's own (the only page that has one is the tablet's
/// equality-monitoring form).
pub fn page_with(
    status: StatusCode,
    title: &str,
    who: Option<&Session>,
    main: Markup,
    script: Option<&str>,
) -> Response {
    let doc = html! {
        (DOCTYPE)
        html lang=(l("en-GB", "cy")) class="govuk-template" {
            head {
                meta charset="utf-8";
                title { (title) " – Signpost" }
                meta name="viewport" content="width=device-width, initial-scale=1";
                link rel="stylesheet" href="/app.css";
                link rel="stylesheet" href="/manage.css";
                @if let Some(src) = script { script type="module" src=(src) {} }
            }
            body class="govuk-template__body" {
                a href="#main-content" class="govuk-skip-link" { (l("Skip to main content", "Neidio i'r prif gynnwys")) }
                header class="govuk-header" {
                    div class="govuk-header__container govuk-width-container" {
                        div class="govuk-header__logo" {
                            a href="/manage" class="govuk-header__homepage-link" {
                                span class="govuk-header__product-name" { "Signpost" }
                            }
                        }
                    }
                }
                @if let Some(s) = who { (navigation(s)) }
                div class="govuk-width-container" {
                    @if script.is_none() { (language_switch()) }
                    main class="govuk-main-wrapper" id="main-content" { (main) }
                }
                footer class="govuk-footer" {
                    div class="govuk-width-container" {
                        div class="govuk-footer__meta" {
                            div class="govuk-footer__meta-item govuk-footer__meta-item--grow" {
                                h2 class="govuk-visually-hidden" { (l("Support links", "Dolenni cymorth")) }
                                ul class="govuk-footer__inline-list" {
                                    li class="govuk-footer__inline-list-item" { a class="govuk-footer__link" href="/accessibility" { (l("Accessibility statement", "Datganiad hygyrchedd")) } }
                                    li class="govuk-footer__inline-list-item" { a class="govuk-footer__link" href="/privacy" { (l("Privacy notice", "Hysbysiad preifatrwydd")) } }
                                }
                                p class="govuk-body-s govuk-!-margin-bottom-0" { (l("Signpost records referrals without names.", "Mae Signpost yn cofnodi atgyfeiriadau heb enwau.")) }
                            }
                        }
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

/// The service navigation under the header for someone signed in: the places their role has,
/// who they are, and signing out. Inside a landmark, as everything on a page should be.
fn navigation(s: &Session) -> Markup {
    let places: Vec<(String, &str)> = match &s.user.role {
        Role::Coordinator { scheme } => vec![
            (manage(&["schemes", scheme]), l("Your scheme", "Eich cynllun")),
            (manage(&["schemes", scheme, "dashboard"]), l("Impact", "Effaith")),
        ],
        Role::National => vec![("/manage/national".into(), l("National statistics", "Ystadegau cenedlaethol"))],
        Role::Admin => vec![
            ("/manage".into(), l("Schemes and accounts", "Cynlluniau a chyfrifon")),
            ("/manage/national".into(), l("National statistics", "Ystadegau cenedlaethol")),
            ("/manage/audit".into(), l("Audit log", "Log archwilio")),
        ],
    };
    html! {
        section class="govuk-service-navigation" aria-label=(l("Service information", "Gwybodaeth am y gwasanaeth")) {
            div class="govuk-width-container" {
                div class="govuk-service-navigation__container" {
                    nav aria-label=(l("Menu", "Dewislen")) class="govuk-service-navigation__wrapper" {
                        ul class="govuk-service-navigation__list" id="navigation" {
                            @for (href, label) in &places {
                                li class="govuk-service-navigation__item" {
                                    a class="govuk-service-navigation__link" href=(href) { (label) }
                                }
                            }
                        }
                    }
                }
                form method="post" action="/sign-out" class="signpost-account" {
                    input type="hidden" name="csrf" value=(s.csrf);
                    p class="govuk-body-s govuk-!-margin-bottom-0" {
                        (l("Signed in as ", "Wedi mewngofnodi fel ")) strong { (s.user.email) } " (" (role_label(&s.user.role)) ") "
                        button type="submit" class="govuk-button govuk-button--secondary govuk-!-margin-bottom-0" { (l("Sign out", "Allgofnodi")) }
                    }
                }
            }
        }
    }
}

/// Breadcrumbs above a page's heading: each (label, link), the page itself not among them.
pub fn breadcrumbs(trail: &[(&str, String)]) -> Markup {
    html! {
        nav class="govuk-breadcrumbs" aria-label=(l("Breadcrumb", "Briwsion bara")) {
            ol class="govuk-breadcrumbs__list" {
                @for (label, href) in trail {
                    li class="govuk-breadcrumbs__list-item" { a class="govuk-breadcrumbs__link" href=(href) { (label) } }
                }
            }
        }
    }
}

/// The green banner that says an action worked, at the top of the page it led back to.
pub fn success(message: Option<&str>) -> Markup {
    html! {
        @if let Some(m) = message {
            div class="govuk-notification-banner govuk-notification-banner--success" role="alert"
                aria-labelledby="success-title" data-module="govuk-notification-banner" {
                div class="govuk-notification-banner__header" {
                    h2 class="govuk-notification-banner__title" id="success-title" { (l("Success", "Llwyddiant")) }
                }
                div class="govuk-notification-banner__content" {
                    p class="govuk-notification-banner__heading" id="success-message" { (m) }
                }
            }
        }
    }
}

pub fn role_label(role: &Role) -> &'static str {
    match role {
        Role::Coordinator { .. } => l("coordinator", "cydlynydd"),
        Role::National => l("national reviewer", "adolygydd cenedlaethol"),
        Role::Admin => l("administrator", "gweinyddwr"),
    }
}

pub fn error_summary(errors: &[(&str, String)]) -> Markup {
    html! {
        @if !errors.is_empty() {
            div class="govuk-error-summary" data-module="govuk-error-summary" {
                div role="alert" {
                    h2 class="govuk-error-summary__title" { (l("There is a problem", "Mae problem wedi codi")) }
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

/// A table's head row: one plain column header each.
pub fn table_head(columns: &[&str]) -> Markup {
    html! {
        thead class="govuk-table__head" { tr class="govuk-table__row" {
            @for c in columns { th scope="col" class="govuk-table__header" { (c) } }
        } }
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
                caption class=(format!("govuk-table__caption govuk-table__caption--{size}")) { (say(text)) }
            }
            thead class="govuk-table__head" { tr class="govuk-table__row" {
                @for (i, c) in columns.iter().enumerate() {
                    @if i == 0 { th scope="col" class="govuk-table__header" { (say(c)) } }
                    @else { th scope="col" class="govuk-table__header govuk-table__header--numeric" { (say(c)) } }
                }
            } }
            tbody class="govuk-table__body" {
                @if rows.is_empty() {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell" colspan=(columns.len()) { (l("Nothing to show for this period.", "Dim byd i'w ddangos ar gyfer y cyfnod hwn.")) }
                    }
                }
                @for (i, (name, values)) in rows.iter().enumerate() {
                    tr class="govuk-table__row" {
                        th scope="row" class="govuk-table__header" { (say(name)) }
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

/// A moment as people read it: "02 Dec 2026 14:05 UTC" (Welsh month names in Welsh).
pub fn when(ms: i64) -> String {
    use chrono::Datelike;
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else { return String::new() };
    if cy() {
        format!("{:02} {} {} {} UTC", t.day(), MISOEDD_BYR[t.month0() as usize], t.year(), t.format("%H:%M"))
    } else {
        t.format("%d %b %Y %H:%M UTC").to_string()
    }
}

/// The Welsh months, short (as on GOV.UK Welsh pages) and in full.
pub const MISOEDD_BYR: [&str; 12] =
    ["Ion", "Chwef", "Maw", "Ebr", "Mai", "Meh", "Gorff", "Awst", "Medi", "Hyd", "Tach", "Rhag"];
pub const MISOEDD: [&str; 12] = [
    "Ionawr",
    "Chwefror",
    "Mawrth",
    "Ebrill",
    "Mai",
    "Mehefin",
    "Gorffennaf",
    "Awst",
    "Medi",
    "Hydref",
    "Tachwedd",
    "Rhagfyr",
];

/// A day as people read it: "2 December 2026" or "2 Rhagfyr 2026".
pub fn day(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    if cy() {
        format!("{} {} {}", d.day(), MISOEDD[d.month0() as usize], d.year())
    } else {
        d.format("%-d %B %Y").to_string()
    }
}

/// A day on a chart's axis: "02 Dec" ("02 Rhag"), with the year when `year`.
pub fn short_day(d: chrono::NaiveDate, year: bool) -> String {
    use chrono::Datelike;
    let month = if cy() { MISOEDD_BYR[d.month0() as usize].to_owned() } else { d.format("%b").to_string() };
    match year {
        true => format!("{:02} {month} {}", d.day(), d.year()),
        false => format!("{:02} {month}", d.day()),
    }
}

/// A month on a chart's axis: "Dec 2026" ("Rhag 2026").
pub fn short_month(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    let month = if cy() { MISOEDD_BYR[d.month0() as usize].to_owned() } else { d.format("%b").to_string() };
    format!("{month} {}", d.year())
}

/// The GOV.UK language switch: English and Cymraeg, the one not in use a link to this page in it.
fn language_switch() -> Markup {
    let welsh = cy();
    html! {
        nav class="govuk-language-navigation signpost-language" aria-label=(l("Language", "Iaith")) {
            ul class="govuk-language-navigation__list" {
                li class="govuk-language-navigation__list-item" {
                    @if welsh {
                        a class="govuk-language-navigation__link" href=(switch_to(Lang::En)) lang="en" hreflang="en" rel="alternate" { "English" }
                    } @else {
                        span class="govuk-language-navigation__text" lang="en" aria-current="true" { "English" }
                    }
                }
                li class="govuk-language-navigation__list-item" {
                    @if welsh {
                        span class="govuk-language-navigation__text" lang="cy" aria-current="true" { "Cymraeg" }
                    } @else {
                        a class="govuk-language-navigation__link" href=(switch_to(Lang::Cy)) lang="cy" hreflang="cy" rel="alternate" { "Cymraeg" }
                    }
                }
            }
        }
    }
}

/// One id as one segment of a path, or one value of a query: every byte but the unreserved
/// characters (`A–Z a–z 0–9 - . _ ~`) percent-encoded. Ids come from tablets and third-party
/// writers (`../../../../manage/users`, `a?b#c`, `100%`, `Llŷr`); unescaped in a link they name
/// another page. Every id that goes into an address on these pages goes through here (or
/// [`manage`]). The ids `.` and `..` are never stored as entries (`schema::addressable_id`):
/// browsers read them as "here" and "up" however they are escaped.
pub fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The address of a page under `/manage`, from its segments, each through [`segment`]:
/// `manage(&["schemes", scheme, "referrals", entry])`.
pub fn manage(parts: &[&str]) -> String {
    let mut out = String::from("/manage");
    for p in parts {
        out.push('/');
        out.push_str(&segment(p));
    }
    out
}

pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

#[cfg(test)]
mod tests {
    use super::{manage, segment};

    #[test]
    fn an_id_is_one_segment_whatever_it_holds() {
        assert_eq!(segment("r-0001_a.b~c"), "r-0001_a.b~c");
        assert_eq!(segment("../../../../manage/users"), "..%2F..%2F..%2F..%2Fmanage%2Fusers");
        assert_eq!(segment("a?b#c%d e&f=g+h"), "a%3Fb%23c%25d%20e%26f%3Dg%2Bh");
        assert_eq!(segment("Llŷr"), "Ll%C5%B7r");
        assert_eq!(segment("%2e%2e"), "%252e%252e");
        assert_eq!(manage(&[]), "/manage");
        assert_eq!(manage(&["schemes", "sch-1", "referrals", "a/b"]), "/manage/schemes/sch-1/referrals/a%2Fb");
    }
}
