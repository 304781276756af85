//! A scheme's agency directory on its pages: the list, an agency added or changed (name, phone,
//! website, the issues it helps with, which sites offer it), retired after a confirmation step
//! or offered again. Each is an edit of the scheme's directory document through the relay, with
//! its audit row in the same transaction, so that the scheme's tablets receive it when they
//! sync. A retired agency stays in the directory: old referrals and their figures still name it.

use super::error::{WebError, WebResult};
use super::form::Done;
use super::form::{self, Confirm, Problem, Text};
use super::lang::l;
use super::lang::tf;
use super::layout::table_head;
use super::layout::{breadcrumbs, manage, page, see_other, segment, success};
use super::session::{db, managed, Session, SignedForm};
use super::words::say;
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use maud::{html, Markup};
use serde::Deserialize;
use signpost_domain::agencies::{self, AgencyInput};
use signpost_domain::util::random_id;
use signpost_domain::{audit, schemes};
use signpost_shared::relay::Edit;
use signpost_shared::schema::{self, Agency};
use signpost_shared::vocab::Category;

#[derive(Deserialize)]
pub(super) struct SchemeAgency {
    scheme: String,
    agency: String,
}

/// What a page about the directory needs: the scheme's name and sites, and its agencies by name.
struct Directory {
    scheme_name: String,
    sites: Vec<schemes::Site>,
    agencies: Vec<Agency>,
}

async fn directory(st: &AppState, scheme: &str) -> Result<Directory, WebError> {
    let sc = scheme.to_owned();
    db(&st.store, move |c| {
        let Some(scheme_name) = schemes::name_of(c, &sc)? else { return Ok(None) };
        let mut agencies = schema::read_agencies(&schemes::directory(c, &sc)?);
        agencies
            .sort_by(|a, b| a.retired.cmp(&b.retired).then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase())));
        Ok(Some(Directory { scheme_name, sites: schemes::sites(c, &sc)?, agencies }))
    })
    .await?
    .ok_or_else(|| WebError::NotFound(l("There is no such scheme.", "Nid oes cynllun o'r fath.").into()))
}

/// The breadcrumbs of the directory's pages: the scheme, then (below the list) the list.
fn trail(scheme: &str, below_list: bool) -> Vec<(&'static str, String)> {
    let mut t = vec![(l("Your scheme", "Eich cynllun"), manage(&["schemes", scheme]))];
    if below_list {
        t.push((l("Agency directory", "Cyfeiriadur asiantaethau"), manage(&["schemes", scheme, "agencies"])));
    }
    t
}

pub(super) async fn list(
    State(st): State<AppState>,
    s: Session,
    Path(scheme): Path<String>,
    Query(d): Query<Done>,
) -> WebResult {
    managed(&s, &scheme)?;
    let dir = directory(&st, &scheme).await?;
    let name_of = |id: &str| dir.agencies.iter().find(|a| a.id == id).map(|a| a.name.clone()).unwrap_or_default();
    let done = match d.done.as_str() {
        "added" => Some(tf!("{} is in the directory. Tablets get it when they next sync.", "Mae {} yn y cyfeiriadur. Mae tabledi'n ei chael y tro nesaf y byddant yn cysoni.", name_of(&d.item))),
        "saved" => Some(tf!("{} is saved. Tablets get the change when they next sync.", "Mae {} wedi'i chadw. Mae tabledi'n cael y newid y tro nesaf y byddant yn cysoni.", name_of(&d.item))),
        "retired" => {
            Some(tf!("{} is retired: tablets no longer offer it. Past referrals still name it.", "Mae {} wedi'i thynnu'n ôl: nid yw tabledi'n ei chynnig mwyach. Mae atgyfeiriadau blaenorol yn dal i'w henwi.", name_of(&d.item)))
        }
        "restored" => Some(tf!("{} is offered again", "Mae {} yn cael ei chynnig eto", name_of(&d.item))),
        _ => None,
    };
    let site_names = |a: &Agency| -> String {
        if a.sites.is_empty() {
            return l("Every site", "Pob safle").into();
        }
        dir.sites.iter().filter(|s| a.sites.contains(&s.id)).map(|s| s.name.clone()).collect::<Vec<_>>().join(", ")
    };
    let body = html! {
        (breadcrumbs(&trail(&scheme, false)))
        (success(done.as_deref()))
        span class="govuk-caption-l" { (dir.scheme_name) }
        h1 class="govuk-heading-l" { (l("Agency directory", "Cyfeiriadur asiantaethau")) }
        p class="govuk-body" {
            (l("Volunteers choose from these agencies when they log a referral. The tablet lists the ones that help with the issues ticked first, and the desk's most used at the top.", "Mae gwirfoddolwyr yn dewis o'r asiantaethau hyn pan fyddant yn cofnodi atgyfeiriad. Mae'r dabled yn rhestru'r rhai sy'n helpu gyda'r materion a diciwyd yn gyntaf, a'r rhai a ddefnyddir fwyaf gan y ddesg ar y brig."))
        }
        a class="govuk-button" role="button" draggable="false" href=(manage(&["schemes", &scheme, "agencies", "new"])) { (l("Add an agency", "Ychwanegu asiantaeth")) }
        table class="govuk-table" id="agencies" {
            caption class="govuk-table__caption govuk-visually-hidden" { (l("Agencies", "Asiantaethau")) }
            (table_head(&[l("Agency", "Asiantaeth"), l("Helps with", "Yn helpu gyda"), l("Sites", "Safleoedd")]))
            tbody class="govuk-table__body" {
                @if dir.agencies.is_empty() {
                    tr class="govuk-table__row" { td class="govuk-table__cell" colspan="3" { (l("The directory is empty. Add the agencies your volunteers signpost to.", "Mae'r cyfeiriadur yn wag. Ychwanegwch yr asiantaethau y mae eich gwirfoddolwyr yn cyfeirio pobl atynt.")) } }
                }
                @for a in &dir.agencies {
                    tr class="govuk-table__row" {
                        td class="govuk-table__cell signpost-wrap" {
                            a class="govuk-link" href=(manage(&["schemes", &scheme, "agencies", &a.id])) { (a.name) }
                            @if a.retired { " " strong class="govuk-tag govuk-tag--grey" { (l("Retired", "Wedi'i thynnu'n ôl")) } }
                            @if let Some(p) = &a.phone { br; span class="govuk-body-s" { (p) } }
                        }
                        td class="govuk-table__cell" { (a.categories.iter().map(|c| say(c.label())).collect::<Vec<_>>().join(", ")) }
                        td class="govuk-table__cell" { (site_names(a)) }
                    }
                }
            }
        }
    };
    Ok(page(StatusCode::OK, l("Agency directory", "Cyfeiriadur asiantaethau"), Some(&s), body))
}

/// The form for an agency, new (`agency` None) or as it is.
fn agency_form(s: &Session, scheme: &str, dir: &Directory, agency: Option<&Agency>, p: Option<&Problem>) -> Markup {
    let kept_set = |field: &str, current: Vec<String>| -> Vec<String> {
        match p.and_then(|p| p.kept(field)) {
            Some(k) => k.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect(),
            None => current,
        }
    };
    let cats = kept_set(
        "agency-categories",
        agency.map(|a| a.categories.iter().map(|c| c.code().to_owned()).collect()).unwrap_or_default(),
    );
    let sites = kept_set("agency-sites", agency.map(|a| a.sites.iter().cloned().collect()).unwrap_or_default());
    let action = match agency {
        Some(a) => manage(&["schemes", scheme, "agencies", &a.id]),
        None => manage(&["schemes", scheme, "agencies", "new"]),
    };
    let group_error = |field: &str| p.and_then(|p| p.on(field));
    html! {
        form method="post" action=(action) novalidate {
            input type="hidden" name="csrf" value=(s.csrf);
            (Text { value: agency.map(|a| a.name.as_str()), ..Text::new("agency-name", "name", l("Agency's name", "Enw'r asiantaeth")) }.render(p))
            (Text { value: agency.and_then(|a| a.phone.as_deref()), width: "govuk-input--width-20", hint: Some(l("Optional. The number volunteers give people, for example 0800 144 8848", "Dewisol. Y rhif y mae gwirfoddolwyr yn ei roi i bobl, er enghraifft 0800 144 8848")), ..Text::new("agency-phone", "phone", l("Phone number", "Rhif ffôn")) }.render(p))
            (Text { value: agency.and_then(|a| a.website.as_deref()), hint: Some(l("Optional. The full address, for example https://www.citizensadvice.org.uk", "Dewisol. Y cyfeiriad llawn, er enghraifft https://www.citizensadvice.org.uk")), ..Text::new("agency-website", "website", l("Website", "Gwefan")) }.render(p))
            @let cat_error = group_error("agency-categories");
            div class=(if cat_error.is_some() { "govuk-form-group govuk-form-group--error" } else { "govuk-form-group" }) {
                fieldset class="govuk-fieldset" aria-describedby=(if cat_error.is_some() { "agency-categories-hint agency-categories-error" } else { "agency-categories-hint" }) {
                    legend class="govuk-fieldset__legend govuk-fieldset__legend--s" { (l("What does it help with?", "Gyda beth mae'n helpu?")) }
                    div class="govuk-hint" id="agency-categories-hint" { (l("Select all that apply. Tablets list it when a volunteer ticks one of these.", "Dewiswch bob un sy'n berthnasol. Mae tabledi'n ei rhestru pan fydd gwirfoddolwr yn ticio un o'r rhain.")) }
                    @if let Some(m) = cat_error { (form::inline("agency-categories-error", m)) }
                    div class="govuk-checkboxes govuk-checkboxes--small" {
                        @for (i, c) in Category::ALL.iter().enumerate() {
                            @let id = if i == 0 { "agency-categories".to_owned() } else { format!("agency-category-{}", c.code()) };
                            div class="govuk-checkboxes__item" {
                                input class="govuk-checkboxes__input" id=(id) name="category" type="checkbox" value=(c.code())
                                    checked[cats.iter().any(|x| x == c.code())];
                                label class="govuk-label govuk-checkboxes__label" for=(id) { (say(c.label())) }
                            }
                        }
                    }
                }
            }
            @if dir.sites.len() > 1 {
                @let site_error = group_error("agency-sites");
                div class=(if site_error.is_some() { "govuk-form-group govuk-form-group--error" } else { "govuk-form-group" }) {
                    fieldset class="govuk-fieldset" aria-describedby="agency-sites-hint" {
                        legend class="govuk-fieldset__legend govuk-fieldset__legend--s" { (l("Which sites offer it?", "Pa safleoedd sy'n ei chynnig?")) }
                        div class="govuk-hint" id="agency-sites-hint" { (l("Leave them all unticked to offer it at every site.", "Gadewch bob un heb ei dicio i'w chynnig ym mhob safle.")) }
                        @if let Some(m) = site_error { (form::inline("agency-sites-error", m)) }
                        div class="govuk-checkboxes govuk-checkboxes--small" {
                            @for (i, site) in dir.sites.iter().enumerate() {
                                @let id = if i == 0 { "agency-sites".to_owned() } else { format!("agency-site-{}", site.id) };
                                div class="govuk-checkboxes__item" {
                                    input class="govuk-checkboxes__input" id=(id) name="site" type="checkbox" value=(site.id)
                                        checked[sites.contains(&site.id)];
                                    label class="govuk-label govuk-checkboxes__label" for=(id) { (site.name) }
                                }
                            }
                        }
                    }
                }
            }
            button type="submit" class="govuk-button" { @if agency.is_some() { (l("Save changes", "Cadw'r newidiadau")) } @else { (l("Add agency", "Ychwanegu asiantaeth")) } }
        }
    }
}

pub(super) async fn new_page(State(st): State<AppState>, s: Session, Path(scheme): Path<String>) -> WebResult {
    new_form(&st, &s, &scheme, None).await
}

async fn new_form(st: &AppState, s: &Session, scheme: &str, problem: Option<Problem>) -> WebResult {
    managed(s, scheme)?;
    let dir = directory(st, scheme).await?;
    let p = problem.as_ref();
    let body = html! {
        (breadcrumbs(&trail(scheme, true)))
        (form::summary(p))
        span class="govuk-caption-l" { (dir.scheme_name) }
        h1 class="govuk-heading-l" { (l("Add an agency", "Ychwanegu asiantaeth")) }
        (agency_form(s, scheme, &dir, None, p))
    };
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(page(status, &form::title(l("Add an agency", "Ychwanegu asiantaeth"), p), Some(s), body))
}

/// The agency's fields from a form whose categories and sites are repeated keys.
fn input(fields: &[(String, String)]) -> AgencyInput {
    let one = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let all = |k: &str| fields.iter().filter(|(f, _)| f == k).map(|(_, v)| v.clone()).collect::<Vec<_>>();
    AgencyInput {
        name: one("name"),
        phone: one("phone"),
        website: one("website"),
        categories: all("category"),
        sites: all("site"),
    }
}

/// A refused agency as a [`Problem`] on the form's field, with everything typed kept.
fn problem(i: &AgencyInput, field: &str, message: String) -> Problem {
    let id = match field {
        "name" => "agency-name",
        "phone" => "agency-phone",
        "website" => "agency-website",
        "sites" => "agency-sites",
        _ => "agency-categories",
    };
    Problem::new(id, message)
        .keep("agency-name", &i.name)
        .keep("agency-phone", &i.phone)
        .keep("agency-website", &i.website)
        .keep("agency-categories", &i.categories.join(","))
        .keep("agency-sites", &i.sites.join(","))
}

/// What the directory edit answers, before the name, for a name another agency took meanwhile.
/// The edit's answer when the agency is not in the directory.
const NO_SUCH_AGENCY: &str = "no such agency";
const DUPLICATE: &str = "duplicate agency:";

/// Writes an agency into the scheme's directory through the relay, audited; `Err` with a
/// problem when another agency took its name meanwhile.
async fn write(
    st: &AppState,
    s: &Session,
    scheme: &str,
    agency: Agency,
    action: &str,
) -> Result<Result<(), String>, WebError> {
    // The name is checked against the directory as it is inside the edit, so that two requests
    // at once cannot both take it.
    let detail = format!("{} {}", agency.id, agency.name);
    let change = move |all: &[Agency]| match all
        .iter()
        .any(|a| a.id != agency.id && a.name.to_lowercase() == agency.name.to_lowercase())
    {
        true => Err(format!("{DUPLICATE}{}", agency.name)),
        false => Ok(agency),
    };
    edit(st, s, scheme, action, detail, change).await
}

/// Edits one agency inside the relay's edit of the directory: `change` gets the directory's
/// agencies as they are then, and gives the agency to write (or why not). The audit row
/// (`action`, `detail`) is written with the edit.
async fn edit(
    st: &AppState,
    s: &Session,
    scheme: &str,
    action: &str,
    detail: String,
    change: impl FnOnce(&[Agency]) -> Result<Agency, String> + Send + 'static,
) -> Result<Result<(), String>, WebError> {
    let (sc, actor, action) = (scheme.to_owned(), s.user.actor(), action.to_owned());
    let record: crate::relay::Record = Box::new(move |c| audit::audit(c, &actor, &action, Some(&sc), &detail));
    let write: Edit = Box::new(move |tx| {
        let agency = change(&schema::read_agencies(&*tx))?;
        schema::write_agency(tx, &agency).map_err(|e| e.to_string())
    });
    match st.hub.edit_recorded(schema::directory_id(scheme), write, Some(record)).await {
        Ok(()) => Ok(Ok(())),
        Err(e) if e == NO_SUCH_AGENCY => Err(WebError::NotFound(
            l("The directory has no such agency.", "Nid oes gan y cyfeiriadur asiantaeth o'r fath.").into(),
        )),
        Err(e) => match e.strip_prefix(DUPLICATE) {
            Some(name) => Ok(Err(tf!(
                "The directory already has an agency called {name}",
                "Mae gan y cyfeiriadur asiantaeth o'r enw {name} eisoes"
            ))),
            None => Err(WebError::Internal(anyhow::anyhow!(e))),
        },
    }
}

pub(super) async fn add(
    State(st): State<AppState>,
    Path(scheme): Path<String>,
    SignedForm(s, fields): SignedForm<Vec<(String, String)>>,
) -> WebResult {
    managed(&s, &scheme)?;
    let dir = directory(&st, &scheme).await?;
    let i = input(&fields);
    let ids: Vec<String> = dir.sites.iter().map(|x| x.id.clone()).collect();
    let agency = match agencies::checked(&random_id("agency"), &i, &ids, &dir.agencies, false) {
        Ok(a) => a,
        Err(e) => return new_form(&st, &s, &scheme, Some(problem(&i, e.field, super::lang::refusal(e.reason)))).await,
    };
    let id = agency.id.clone();
    match write(&st, &s, &scheme, agency, "agency added").await? {
        Ok(()) => {
            Ok(see_other(&format!("{}?done=added&item={}", manage(&["schemes", &scheme, "agencies"]), segment(&id))))
        }
        Err(m) => new_form(&st, &s, &scheme, Some(problem(&i, "name", m))).await,
    }
}

pub(super) async fn edit_page(State(st): State<AppState>, s: Session, Path(p): Path<SchemeAgency>) -> WebResult {
    edit_form(&st, &s, &p, None).await
}

async fn edit_form(st: &AppState, s: &Session, at: &SchemeAgency, problem: Option<Problem>) -> WebResult {
    managed(s, &at.scheme)?;
    let dir = directory(st, &at.scheme).await?;
    let agency = dir.agencies.iter().find(|a| a.id == at.agency).ok_or_else(|| {
        WebError::NotFound(
            l("The directory has no such agency.", "Nid oes gan y cyfeiriadur asiantaeth o'r fath.").into(),
        )
    })?;
    let p = problem.as_ref();
    let scheme = &at.scheme;
    let body = html! {
        (breadcrumbs(&trail(scheme, true)))
        (form::summary(p))
        span class="govuk-caption-l" { (dir.scheme_name) }
        h1 class="govuk-heading-l" { (agency.name) }
        @if agency.retired {
            div class="govuk-inset-text" { (l("This agency is retired: tablets do not offer it. Past referrals still name it.", "Mae'r asiantaeth hon wedi'i thynnu'n ôl: nid yw tabledi'n ei chynnig. Mae atgyfeiriadau blaenorol yn dal i'w henwi.")) }
        }
        (agency_form(s, scheme, &dir, Some(agency), p))
        h2 class="govuk-heading-m" { @if agency.retired { (l("Offer it again", "Ei chynnig eto")) } @else { (l("Retire this agency", "Tynnu'r asiantaeth hon yn ôl")) } }
        @if agency.retired {
            form method="post" action=(manage(&["schemes", scheme, "agencies", &agency.id, "retire"])) {
                input type="hidden" name="csrf" value=(s.csrf);
                input type="hidden" name="retired" value="false";
                button type="submit" class="govuk-button govuk-button--secondary" { (l("Offer ", "Cynnig ")) (agency.name) (l(" again", " eto")) }
            }
        } @else {
            p class="govuk-body" { (l("Retire an agency that has closed or that volunteers should no longer signpost to.", "Tynnwch yn ôl asiantaeth sydd wedi cau neu na ddylai gwirfoddolwyr gyfeirio pobl ati mwyach.")) }
            a class="govuk-button govuk-button--warning" role="button" draggable="false"
                href=(manage(&["schemes", scheme, "agencies", &agency.id, "retire"])) { (l("Retire ", "Tynnu'n ôl: ")) (agency.name) }
        }
    };
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(page(status, &form::title(&agency.name, p), Some(s), body))
}

pub(super) async fn save(
    State(st): State<AppState>,
    Path(at): Path<SchemeAgency>,
    SignedForm(s, fields): SignedForm<Vec<(String, String)>>,
) -> WebResult {
    managed(&s, &at.scheme)?;
    let dir = directory(&st, &at.scheme).await?;
    let Some(before) = dir.agencies.iter().find(|a| a.id == at.agency) else {
        return Err(WebError::NotFound(
            l("The directory has no such agency.", "Nid oes gan y cyfeiriadur asiantaeth o'r fath.").into(),
        ));
    };
    let i = input(&fields);
    let ids: Vec<String> = dir.sites.iter().map(|x| x.id.clone()).collect();
    let agency = match agencies::checked(&at.agency, &i, &ids, &dir.agencies, before.retired) {
        Ok(a) => a,
        Err(e) => return edit_form(&st, &s, &at, Some(problem(&i, e.field, super::lang::refusal(e.reason)))).await,
    };
    match write(&st, &s, &at.scheme, agency, "agency changed").await? {
        Ok(()) => Ok(see_other(&format!(
            "{}?done=saved&item={}",
            manage(&["schemes", &at.scheme, "agencies"]),
            segment(&at.agency)
        ))),
        Err(m) => edit_form(&st, &s, &at, Some(problem(&i, "name", m))).await,
    }
}

/// The step before an agency is retired.
pub(super) async fn retire_page(State(st): State<AppState>, s: Session, Path(at): Path<SchemeAgency>) -> WebResult {
    managed(&s, &at.scheme)?;
    let dir = directory(&st, &at.scheme).await?;
    let agency = dir.agencies.iter().find(|a| a.id == at.agency && !a.retired).ok_or_else(|| {
        WebError::NotFound(
            l(
                "The directory has no such agency, or it is already retired.",
                "Nid oes gan y cyfeiriadur asiantaeth o'r fath, neu mae wedi'i thynnu'n ôl eisoes.",
            )
            .into(),
        )
    })?;
    let heading = tf!("Retire {}?", "Tynnu {} yn ôl?", agency.name);
    let back = manage(&["schemes", &at.scheme, "agencies", &at.agency]);
    let body = Confirm {
        back: &back,
        caption: Some(&dir.scheme_name),
        heading: &heading,
        what: l("Tablets stop offering it once they sync. Referrals that already name it keep it, and so do the figures. You can offer it again later.", "Mae tabledi'n peidio â'i chynnig unwaith y byddant yn cysoni. Mae atgyfeiriadau sydd eisoes yn ei henwi yn ei chadw, a'r ffigurau hefyd. Gallwch ei chynnig eto yn nes ymlaen."),
        warning: None,
        action: &manage(&["schemes", &at.scheme, "agencies", &at.agency, "retire"]),
        button: &tf!("Retire {}", "Tynnu {} yn ôl", agency.name),
        field: Some(("retired", "true")),
    }
    .render(&s.csrf);
    Ok(page(StatusCode::OK, &heading, Some(&s), body))
}

#[derive(Deserialize)]
pub(super) struct RetireForm {
    #[serde(default)]
    retired: String,
}

pub(super) async fn retire(
    State(st): State<AppState>,
    Path(at): Path<SchemeAgency>,
    SignedForm(s, f): SignedForm<RetireForm>,
) -> WebResult {
    managed(&s, &at.scheme)?;
    let retired = f.retired == "true";
    let action = if retired { "agency retired" } else { "agency offered again" };
    let dir = directory(&st, &at.scheme).await?;
    let name = dir.agencies.iter().find(|a| a.id == at.agency).map(|a| a.name.clone()).unwrap_or_default();
    let detail = format!("{} {name}", at.agency);
    // Only `retired` changes, on the agency as it is inside the edit: an edit of its other
    // fields a moment before is kept.
    let id = at.agency.clone();
    let change = move |all: &[Agency]| match all.iter().find(|a| a.id == id) {
        Some(a) => Ok(Agency { retired, ..a.clone() }),
        None => Err(NO_SUCH_AGENCY.to_owned()),
    };
    edit(&st, &s, &at.scheme, action, detail, change).await?.map_err(WebError::BadRequest)?;
    let what = if retired { "retired" } else { "restored" };
    Ok(see_other(&format!(
        "{}?done={}&item={}",
        manage(&["schemes", &at.scheme, "agencies"]),
        what,
        segment(&at.agency)
    )))
}
