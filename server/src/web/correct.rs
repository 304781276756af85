//! Correcting the record: a coordinator finds a referral by day, site and category, opens it
//! (audited: it shows the notes), and erases it or redacts its notes after a confirmation step.
//! The work is [`signpost_domain::erasure`]; the relay drops the old day within a tick and the
//! site's tablets follow to the rewritten one.

use super::error::{WebError, WebResult};
use super::lang::l;
use super::lang::tf;
use super::layout::{self, manage, page, see_other, segment};
use super::session::{db, managed, Nothing, SignedForm};
use super::words::say;
use crate::auth::Session;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use maud::{html, Markup};
use serde::Deserialize;
use signpost_domain::audit::audit;
use signpost_domain::erasure::{self, Erasure, Found, Opened};
use signpost_domain::schemes;
use signpost_shared::schema::AgencyRef;
use signpost_shared::vocab::{Category, Helped};

#[derive(Deserialize, Default)]
pub(super) struct FindQuery {
    #[serde(default)]
    site: String,
    #[serde(default)]
    day: String,
    #[serde(default)]
    category: String,
    /// What was just done, for the banner: `erased` or `redacted`.
    #[serde(default)]
    done: String,
}

#[derive(Deserialize)]
pub(super) struct Entry {
    scheme: String,
    entry: String,
}

#[derive(Deserialize)]
pub(super) struct EntryAction {
    scheme: String,
    entry: String,
    action: String,
}

fn action(name: &str) -> Result<Erasure, WebError> {
    match name {
        "erase" => Ok(Erasure::Erase),
        "redact-notes" => Ok(Erasure::RedactNotes),
        _ => Err(WebError::NotFound(l("There is no such page.", "Nid oes tudalen o'r fath.").into())),
    }
}

fn clock(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%H:%M UTC").to_string()).unwrap_or_default()
}

fn helped(code: &str) -> String {
    Helped::from_code(code).map_or_else(|| code.to_owned(), |h| say(h.label()).to_owned())
}

fn category(code: &str) -> String {
    Category::from_code(code).map_or_else(|| code.to_owned(), |c| say(c.label()).to_owned())
}

/// `GET /manage/schemes/{scheme}/referrals`: the search form, and the day's referrals once a site
/// and day are chosen (each search audited: the list is of individual records).
pub(super) async fn find_page(
    State(st): State<AppState>,
    s: Session,
    Path(scheme): Path<String>,
    Query(q): Query<FindQuery>,
) -> WebResult {
    managed(&s, &scheme)?;
    let sc = scheme.clone();
    let sites = db(&st.store, move |c| schemes::sites_of(c, &sc)).await?;
    let mut errors: Vec<(&str, String)> = Vec::new();
    let searched = !q.site.is_empty() || !q.day.is_empty();
    let site = sites.iter().find(|(id, _)| *id == q.site);
    let day = chrono::NaiveDate::parse_from_str(q.day.trim(), "%Y-%m-%d").ok();
    let cat = Category::from_code(&q.category);
    if searched {
        if site.is_none() {
            errors.push(("site", l("Select the site", "Dewiswch y safle").into()));
        }
        if day.is_none() {
            errors.push((
                "day",
                l(
                    "Enter the day the referral was logged, like 2026-11-30",
                    "Rhowch y diwrnod y cofnodwyd yr atgyfeiriad, fel 2026-11-30",
                )
                .into(),
            ));
        }
        if !q.category.is_empty() && cat.is_none() {
            errors.push(("category", l("Select a category from the list", "Dewiswch gategori o'r rhestr").into()));
        }
    }
    let results = match (site, day, errors.is_empty()) {
        (Some((site_id, site_name)), Some(day), true) => {
            let (sc, site_id, site_name) = (scheme.clone(), site_id.clone(), site_name.clone());
            let (day, actor) = (day.format("%Y-%m-%d").to_string(), s.user.actor());
            let c = cat.map(|c| c.code().to_owned());
            Some(
                db(&st.store, move |conn| {
                    let found = erasure::find(conn, &sc, &site_id, &day, c.as_deref())?;
                    let what = c.as_deref().map(|c| format!(", category {c}")).unwrap_or_default();
                    let detail = format!("{} found at {site_name} on {day}{what}", found.len());
                    audit(conn, &actor, "searched referrals to correct the record", Some(&sc), &detail)?;
                    Ok(found)
                })
                .await?,
            )
        }
        _ => None,
    };
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
    let title = if errors.is_empty() {
        (l("Find a referral", "Dod o hyd i atgyfeiriad")).to_owned()
    } else {
        (l("Error: Find a referral", "Gwall: Dod o hyd i atgyfeiriad")).to_owned()
    };
    let main = html! {
        a class="govuk-back-link" href=(manage(&["schemes", &scheme])) { (l("Back to the scheme", "Yn ôl i'r cynllun")) }
        @if !errors.is_empty() { (layout::error_summary(&errors)) }
        @if let Some(done) = done_banner(&q.done) { (done) }
        h1 class="govuk-heading-l" { (l("Find a referral", "Dod o hyd i atgyfeiriad")) }
        p class="govuk-body" {
            (l("To erase a referral, or remove only its notes (for example a name typed into them), find it by the site and the day it was logged.", "I ddileu atgyfeiriad, neu dynnu ei nodiadau yn unig (er enghraifft enw a deipiwyd ynddynt), dewch o hyd iddo yn ôl y safle a'r diwrnod y cafodd ei gofnodi."))
        }
        form method="get" action=(manage(&["schemes", &scheme, "referrals"])) novalidate {
            (select_group("site", l("Site", "Safle"), errors.iter().find(|(f, _)| *f == "site").map(|(_, m)| m.as_str()), html! {
                option value="" selected[site.is_none()] { (l("Select a site", "Dewiswch safle")) }
                @for (id, name) in &sites { option value=(id) selected[q.site == *id] { (name) } }
            }))
            @let day_error = errors.iter().find(|(f, _)| *f == "day").map(|(_, m)| m.as_str());
            div class=(if day_error.is_some() { "govuk-form-group govuk-form-group--error" } else { "govuk-form-group" }) {
                label class="govuk-label" for="day" { (l("Day it was logged", "Y diwrnod y cafodd ei gofnodi")) }
                div class="govuk-hint" id="day-hint" { (l("For example, 2026-11-30", "Er enghraifft, 2026-11-30")) }
                @if let Some(m) = day_error { p class="govuk-error-message" id="day-error" { span class="govuk-visually-hidden" { (l("Error: ", "Gwall: ")) } (m) } }
                input class="govuk-input govuk-input--width-10" id="day" name="day" type="date" value=(q.day)
                    aria-describedby=(if day_error.is_some() { "day-hint day-error" } else { "day-hint" });
            }
            (select_group("category", l("What they needed help with (optional)", "Gyda beth roedd angen help arnynt (dewisol)"), errors.iter().find(|(f, _)| *f == "category").map(|(_, m)| m.as_str()), html! {
                option value="" selected[cat.is_none()] { (l("Any", "Unrhyw un")) }
                @for c in Category::ALL { option value=(c.code()) selected[cat == Some(*c)] { (say(c.label())) } }
            }))
            button type="submit" class="govuk-button" { (l("Find referrals", "Dod o hyd i atgyfeiriadau")) }
        }
        @if let Some(found) = &results { (results_table(&scheme, found)) }
    };
    Ok(page(status, &title, Some(&s), main))
}

fn select_group(id: &str, label: &str, error: Option<&str>, options: Markup) -> Markup {
    html! {
        div class=(if error.is_some() { "govuk-form-group govuk-form-group--error" } else { "govuk-form-group" }) {
            label class="govuk-label" for=(id) { (label) }
            @if let Some(m) = error { p class="govuk-error-message" id=(format!("{id}-error")) { span class="govuk-visually-hidden" { (l("Error: ", "Gwall: ")) } (m) } }
            select class="govuk-select" id=(id) name=(id) aria-describedby=[error.map(|_| format!("{id}-error"))] { (options) }
        }
    }
}

fn done_banner(done: &str) -> Option<Markup> {
    let text = match done {
        "erased" => l(
            "The referral was erased. Tablets of the site remove it when they next sync.",
            "Cafodd yr atgyfeiriad ei ddileu. Mae tabledi'r safle yn ei dynnu y tro nesaf y byddant yn cysoni.",
        ),
        "redacted" => l(
            "The referral's notes were removed. Tablets of the site remove them when they next sync.",
            "Cafodd nodiadau'r atgyfeiriad eu tynnu. Mae tabledi'r safle yn eu tynnu y tro nesaf y byddant yn cysoni.",
        ),
        _ => return None,
    };
    Some(html! {
        div class="govuk-notification-banner govuk-notification-banner--success" role="alert" aria-labelledby="done-title" {
            div class="govuk-notification-banner__header" { h2 class="govuk-notification-banner__title" id="done-title" { (l("Success", "Llwyddiant")) } }
            div class="govuk-notification-banner__content" { p class="govuk-notification-banner__heading" { (text) } }
        }
    })
}

fn results_table(scheme: &str, found: &[Found]) -> Markup {
    html! {
        h2 class="govuk-heading-m" id="results" { (l("Referrals found", "Atgyfeiriadau a ganfuwyd")) }
        @if found.is_empty() {
            p class="govuk-body" { (l("No referral of that site and day matches. Check the day, or choose any category.", "Nid oes atgyfeiriad o'r safle a'r diwrnod hwnnw'n cyfateb. Gwiriwch y diwrnod, neu dewiswch unrhyw gategori.")) }
        } @else {
            @if found.len() >= erasure::FIND_LIMIT {
                p class="govuk-body" { (l("Showing the first ", "Yn dangos y ")) (erasure::FIND_LIMIT) (l(". Choose a category to narrow the list.", " cyntaf. Dewiswch gategori i gyfyngu'r rhestr.")) }
            }
            table class="govuk-table" {
                caption class="govuk-table__caption govuk-visually-hidden" { (l("Referrals found", "Atgyfeiriadau a ganfuwyd")) }
                thead class="govuk-table__head" {
                    tr class="govuk-table__row" {
                        th scope="col" class="govuk-table__header" { (l("Logged at", "Cofnodwyd am")) }
                        th scope="col" class="govuk-table__header" { (l("Who was helped", "Pwy a gafodd help")) }
                        th scope="col" class="govuk-table__header" { (l("Help needed", "Yr help oedd ei angen")) }
                        th scope="col" class="govuk-table__header" { span class="govuk-visually-hidden" { (l("Action", "Cam")) } }
                    }
                }
                tbody class="govuk-table__body" {
                    @for f in found {
                        tr class="govuk-table__row" {
                            td class="govuk-table__cell" { (clock(f.recorded_at_ms)) @if f.voided { (l(" (void)", " (di-rym)")) } }
                            td class="govuk-table__cell" { (helped(&f.helped)) }
                            td class="govuk-table__cell" { (f.categories.iter().map(|c| category(c)).collect::<Vec<_>>().join(", ")) }
                            td class="govuk-table__cell" {
                                a class="govuk-link" href=(manage(&["schemes", scheme, "referrals", &f.entry])) {
                                    (l("Open", "Agor")) span class="govuk-visually-hidden" { (l(" the referral logged at ", " yr atgyfeiriad a gofnodwyd am ")) (clock(f.recorded_at_ms)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The referral and its site's name.
async fn opened(st: &AppState, scheme: &str, entry: &str) -> Result<(Opened, String), WebError> {
    let (sc, e) = (scheme.to_owned(), entry.to_owned());
    let found = db(&st.store, move |c| {
        let Some(o) = erasure::open(c, &sc, &e)? else { return Ok(None) };
        let name = schemes::sites_of(c, &sc)?.into_iter().find(|(id, _)| *id == o.site).map(|(_, n)| n);
        Ok(Some((o, name.unwrap_or_default())))
    })
    .await?;
    found.ok_or_else(|| {
        WebError::NotFound(
            l(
                "This scheme has no such referral. It may have been erased already.",
                "Nid oes gan y cynllun hwn atgyfeiriad o'r fath. Efallai ei fod wedi'i ddileu eisoes.",
            )
            .into(),
        )
    })
}

/// `GET /manage/schemes/{scheme}/referrals/{entry}`: the referral with its notes (audited).
pub(super) async fn referral_page(State(st): State<AppState>, s: Session, Path(p): Path<Entry>) -> WebResult {
    managed(&s, &p.scheme)?;
    let (o, site_name) = opened(&st, &p.scheme, &p.entry).await?;
    let (sc, actor, detail) = (p.scheme.clone(), s.user.actor(), format!("{} of {site_name} on {}", p.entry, o.day));
    let r = &o.referral;
    let directory_id = match &r.agency {
        AgencyRef::Directory(id) => Some(id.clone()),
        AgencyRef::Other(_) => None,
    };
    // Audited, and a directory agency named as the scheme's directory names it.
    let agency_name = db(&st.store, move |c| {
        audit(c, &actor, "opened a referral to correct the record", Some(&sc), &detail)?;
        let Some(id) = directory_id else { return Ok(None) };
        let agencies = signpost_shared::schema::read_agencies(&schemes::directory(c, &sc)?);
        Ok(Some(agencies.into_iter().find(|a| a.id == id).map_or(id, |a| a.name)))
    })
    .await?;
    let agency = agency_name.unwrap_or_else(|| match &r.agency {
        AgencyRef::Other(name) | AgencyRef::Directory(name) => name.clone(),
    });
    let rows: Vec<(&str, String)> = vec![
        (l("Site", "Safle"), site_name.clone()),
        (l("Day", "Diwrnod"), o.day.clone()),
        (l("Logged at", "Cofnodwyd am"), clock(r.recorded_at_ms)),
        (l("Who was helped", "Pwy a gafodd help"), say(r.helped.label()).to_owned()),
        (l("Age band", "Band oedran"), r.age_band.map_or(l("Not asked", "Heb ofyn"), |a| say(a.label())).to_owned()),
        (
            l("Help needed", "Yr help oedd ei angen"),
            r.categories.iter().map(|c| say(c.label())).collect::<Vec<_>>().join(", "),
        ),
        (l("Agency", "Asiantaeth"), agency),
        (
            l("Follow-up needed", "Angen camau dilynol"),
            if r.follow_up { l("Yes", "Oes") } else { l("No", "Nac oes") }.to_owned(),
        ),
        (l("Notes", "Nodiadau"), r.notes.clone().unwrap_or_else(|| l("None", "Dim").into())),
    ];
    let base = manage(&["schemes", &p.scheme, "referrals", &p.entry]);
    let main = html! {
        a class="govuk-back-link" href=(format!("{}?site={}&day={}", manage(&["schemes", &p.scheme, "referrals"]), segment(&o.site), segment(&o.day))) { (l("Back to the referrals of that day", "Yn ôl i atgyfeiriadau'r diwrnod hwnnw")) }
        h1 class="govuk-heading-l" { (l("Referral logged at ", "Atgyfeiriad a gofnodwyd am ")) (clock(r.recorded_at_ms)) }
        @if r.void.is_some() { p class="govuk-body" { strong class="govuk-tag govuk-tag--grey" { (l("Void", "Di-rym")) } (l(" A volunteer marked this referral void.", " Nododd gwirfoddolwr fod yr atgyfeiriad hwn yn ddi-rym.")) } }
        dl class="govuk-summary-list" {
            @for (k, v) in &rows {
                div class="govuk-summary-list__row" {
                    dt class="govuk-summary-list__key" { (k) }
                    dd class="govuk-summary-list__value" { (v) }
                }
            }
        }
        div class="govuk-button-group" {
            a class="govuk-button govuk-button--warning" href=(format!("{base}/erase")) { (l("Erase this referral", "Dileu'r atgyfeiriad hwn")) }
            @if r.notes.is_some() {
                a class="govuk-button govuk-button--secondary" href=(format!("{base}/redact-notes")) { (l("Remove its notes only", "Tynnu ei nodiadau yn unig")) }
            }
        }
    };
    Ok(page(StatusCode::OK, l("Referral", "Atgyfeiriad"), Some(&s), main))
}

/// `GET …/referrals/{entry}/{erase|redact-notes}`: what will happen, and the button that does it.
pub(super) async fn confirm_page(State(st): State<AppState>, s: Session, Path(p): Path<EntryAction>) -> WebResult {
    managed(&s, &p.scheme)?;
    let how = action(&p.action)?;
    let (o, site_name) = opened(&st, &p.scheme, &p.entry).await?;
    let when = tf!("{} on {} at {site_name}", "{} ar {} yn {site_name}", clock(o.referral.recorded_at_ms), o.day);
    let (title, warning, button) = match how {
        Erasure::Erase => (
            l("Erase this referral?", "Dileu'r atgyfeiriad hwn?"),
            l("The referral is removed from the server and from every tablet of the site when it next syncs. It will no longer be counted in any figures. This cannot be undone.", "Mae'r atgyfeiriad yn cael ei dynnu o'r gweinydd ac o bob tabled y safle pan fydd yn cysoni nesaf. Ni fydd yn cael ei gyfrif mewn unrhyw ffigurau mwyach. Ni ellir dadwneud hyn."),
            l("Erase referral", "Dileu'r atgyfeiriad"),
        ),
        Erasure::RedactNotes => (
            l("Remove this referral's notes?", "Tynnu nodiadau'r atgyfeiriad hwn?"),
            l("The notes are removed from the server and from every tablet of the site when it next syncs. The referral stays, and is still counted. This cannot be undone.", "Mae'r nodiadau'n cael eu tynnu o'r gweinydd ac o bob tabled y safle pan fydd yn cysoni nesaf. Mae'r atgyfeiriad yn aros, ac yn dal i gael ei gyfrif. Ni ellir dadwneud hyn."),
            l("Remove notes", "Tynnu'r nodiadau"),
        ),
    };
    let main = html! {
        a class="govuk-back-link" href=(manage(&["schemes", &p.scheme, "referrals", &p.entry])) { (l("Back to the referral", "Yn ôl i'r atgyfeiriad")) }
        h1 class="govuk-heading-l" { (title) }
        p class="govuk-body" { (l("The referral logged at ", "Yr atgyfeiriad a gofnodwyd am ")) (when) "." }
        div class="govuk-warning-text" {
            span class="govuk-warning-text__icon" aria-hidden="true" { "!" }
            strong class="govuk-warning-text__text" { span class="govuk-visually-hidden" { (l("Warning", "Rhybudd")) } (warning) }
        }
        form method="post" action=(manage(&["schemes", &p.scheme, "referrals", &p.entry, &p.action])) novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            div class="govuk-button-group" {
                button type="submit" class="govuk-button govuk-button--warning" { (button) }
                a class="govuk-link" href=(manage(&["schemes", &p.scheme, "referrals", &p.entry])) { (l("Cancel", "Canslo")) }
            }
        }
    };
    Ok(page(StatusCode::OK, title, Some(&s), main))
}

/// `POST …/referrals/{entry}/{erase|redact-notes}`: does it (durable before the answer), then back
/// to the day's referrals with a banner.
pub(super) async fn act(
    State(st): State<AppState>,
    Path(p): Path<EntryAction>,
    SignedForm(s, _): SignedForm<Nothing>,
) -> WebResult {
    managed(&s, &p.scheme)?;
    let how = action(&p.action)?;
    let (o, _) = opened(&st, &p.scheme, &p.entry).await?;
    // Only this scheme's referral: another scheme may hold one with the same id.
    let (scheme, entry, actor) = (p.scheme.clone(), p.entry.clone(), s.user.actor());
    let done = db(&st.store, move |c| {
        erasure::erase(c, &scheme, &entry, how, &actor, || signpost_shared::ids::DocumentId::random(rand::random()))
    })
    .await?;
    if done.is_empty() {
        return Err(WebError::NotFound(
            l(
                "This scheme has no such referral. It may have been erased already.",
                "Nid oes gan y cynllun hwn atgyfeiriad o'r fath. Efallai ei fod wedi'i ddileu eisoes.",
            )
            .into(),
        ));
    }
    let done = if how == Erasure::Erase { "erased" } else { "redacted" };
    Ok(see_other(&format!(
        "{}?site={}&day={}&done={}#results",
        manage(&["schemes", &p.scheme, "referrals"]),
        segment(&o.site),
        segment(&o.day),
        done
    )))
}
