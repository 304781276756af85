//! The coordinator's impact dashboard: one scheme over a period, optionally one site, against the
//! period just before; charts as SVG with the same figures in a table beside each, and every view
//! as CSV. Only aggregates: the figures come from [`signpost_domain::stats`]. The one
//! individual-level download, every referral of a period, streams from
//! [`signpost_domain::export`] and is audited.

use super::charts::{bar_chart, change, column_chart, hours, over_time, per_hour};
use super::csv::{csv_download, csv_line, export_place};
use super::error::{WebError, WebResult};
use super::form::{self, Problem};
use super::lang::l;
use super::lang::tf;
use super::layout::{self, manage, segment};
use super::session::{self as web, Session};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Duration, NaiveDate};
use maud::html;
use serde::Deserialize;
use signpost_domain::stats::{self, Count, Summary};
use signpost_domain::{audit, export, schemes, Refusal};
use std::collections::HashMap;

/// What the dashboard is asked for: the period as ISO dates (`from`, `to`: links and
/// downloads) or as typed in the page's GOV.UK date fields (`from-day` …), a site, a view.
#[derive(Deserialize, Default)]
pub struct Filter {
    from: Option<String>,
    to: Option<String>,
    #[serde(rename = "from-day", default)]
    from_day: String,
    #[serde(rename = "from-month", default)]
    from_month: String,
    #[serde(rename = "from-year", default)]
    from_year: String,
    #[serde(rename = "to-day", default)]
    to_day: String,
    #[serde(rename = "to-month", default)]
    to_month: String,
    #[serde(rename = "to-year", default)]
    to_year: String,
    site: Option<String>,
    view: Option<String>,
}

impl Filter {
    /// The dates as typed, for a refused period to keep them.
    fn keep(&self, p: Problem) -> Problem {
        p.keep("from-day", &self.from_day)
            .keep("from-month", &self.from_month)
            .keep("from-year", &self.from_year)
            .keep("to-day", &self.to_day)
            .keep("to-month", &self.to_month)
            .keep("to-year", &self.to_year)
    }
}

/// The period asked for (the last 30 days by default) and the one of equal length before it.
pub(super) struct Period {
    from: NaiveDate,
    to: NaiveDate,
    before_from: NaiveDate,
    before_to: NaiveDate,
}

fn period(f: &Filter, today: NaiveDate) -> Result<Period, Problem> {
    let date = |typed: Option<Result<NaiveDate, String>>,
                iso: &Option<String>,
                field: &str,
                what: &str,
                default: NaiveDate| {
        let wrong = |m: String| f.keep(Problem::new(field, m));
        match (typed, iso.as_deref().map(str::trim)) {
            (Some(Ok(d)), _) => Ok(d),
            (Some(Err(m)), _) => Err(wrong(m)),
            (None, None | Some("")) => Ok(default),
            (None, Some(s)) => NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| {
                wrong(tf!(
                    "The {what} date must be a real date, like 27 3 2026",
                    "Rhaid i'r dyddiad {what} fod yn ddyddiad go iawn, fel 27 3 2026"
                ))
            }),
        }
    };
    let to_typed = form::typed_date(&f.to_day, &f.to_month, &f.to_year, l("the end date", "y dyddiad gorffen"));
    let to = date(to_typed, &f.to, "to", "end", today)?;
    let from_typed =
        form::typed_date(&f.from_day, &f.from_month, &f.from_year, l("the start date", "y dyddiad dechrau"));
    let from = date(from_typed, &f.from, "from", "start", to - Duration::days(29))?;
    if from > to {
        return Err(f.keep(Problem::new(
            "from",
            l(
                "The start date must be the same as or before the end date",
                "Rhaid i'r dyddiad dechrau fod yr un fath â'r dyddiad gorffen neu cyn hynny",
            ),
        )));
    }
    if (to - from).num_days() > stats::MAX_RANGE_DAYS {
        return Err(f.keep(Problem::new(
            "from",
            l("The period can be at most 10 years", "Ni chaiff y cyfnod fod yn hwy na 10 mlynedd"),
        )));
    }
    let days = (to - from).num_days() + 1;
    Ok(Period { from, to, before_from: from - Duration::days(days), before_to: from - Duration::days(1) })
}

/// A time to close as people say it: hours under two days, else days.
fn duration(hours: f64) -> String {
    match hours {
        h if h < 1.5 => l("an hour", "awr").to_owned(),
        h if h < 48.0 => tf!("{:.0} hours", "{:.0} awr", h.round()),
        h => tf!("{:.0} days", "{:.0} diwrnod", (h / 24.0).round()),
    }
}

/// The first letter in lower case: a title inside a sentence ("Download referrals by NOMS
/// pathway"), leaving the rest as written.
fn lower_first(title: &str) -> String {
    let mut c = title.chars();
    c.next().map(|f| f.to_lowercase().chain(c).collect()).unwrap_or_default()
}

/// The breakdowns a dashboard shows, each one view (and one CSV).
/// Each breakdown: its key, its title, and the name of its column of groups (in the page's
/// language).
fn views() -> [(&'static str, &'static str, &'static str); 6] {
    [
        ("by_site", l("Referrals by site", "Atgyfeiriadau fesul safle"), l("Site", "Safle")),
        (
            "by_issue_category",
            l("Referrals by issue category", "Atgyfeiriadau fesul categori mater"),
            l("Issue category", "Categori mater"),
        ),
        (
            "by_pathway",
            l("Referrals by NOMS pathway", "Atgyfeiriadau fesul llwybr NOMS"),
            l("NOMS pathway", "Llwybr NOMS"),
        ),
        (
            "by_agency",
            l("Referrals by agency signposted to", "Atgyfeiriadau fesul asiantaeth y cyfeiriwyd ati"),
            l("Agency", "Asiantaeth"),
        ),
        (
            "by_kind_of_help",
            l("Referrals by kind of help", "Atgyfeiriadau fesul math o help"),
            l("Kind of help", "Math o help"),
        ),
        (
            "by_who_helped",
            l("Referrals by who was helped", "Atgyfeiriadau yn ôl pwy a gafodd help"),
            l("Who was helped", "Pwy a gafodd help"),
        ),
    ]
}

fn breakdown<'a>(s: &'a Summary, view: &str) -> &'a [Count] {
    match view {
        "by_site" => &s.by_site,
        "by_issue_category" => &s.by_issue_category,
        "by_pathway" => &s.by_pathway,
        "by_agency" => &s.by_agency,
        "by_kind_of_help" => &s.by_kind_of_help,
        _ => &s.by_who_helped,
    }
}

/// Rows of a breakdown: (key, label, this period, previous period), this period's order first.
fn rows(now: &[Count], before: &[Count]) -> Vec<(String, String, i64, i64)> {
    let prev: HashMap<&str, i64> = before.iter().map(|c| (c.key.as_str(), c.count)).collect();
    let mut out: Vec<(String, String, i64, i64)> = now
        .iter()
        .map(|c| (c.key.clone(), c.label.clone(), c.count, prev.get(c.key.as_str()).copied().unwrap_or(0)))
        .collect();
    for c in before {
        if !now.iter().any(|n| n.key == c.key) {
            out.push((c.key.clone(), c.label.clone(), 0, c.count));
        }
    }
    out
}

pub(super) struct Loaded {
    name: String,
    sites: Vec<(String, String)>,
    now: Summary,
    before: Summary,
}

/// The figures of a period; a period that cannot be read is a problem for the page to show.
async fn load(
    st: &AppState,
    s: &Session,
    scheme: &str,
    f: &Filter,
) -> Result<(Loaded, Period, Option<Problem>), WebError> {
    web::managed(s, scheme)?;
    let today = chrono::Utc::now().date_naive();
    let (p, problem) = match period(f, today) {
        Ok(p) => (p, None),
        Err(problem) => {
            (period(&Filter::default(), today).expect(l("the default period", "y cyfnod diofyn")), Some(problem))
        }
    };
    let site = f.site.clone().filter(|x| !x.is_empty());
    let (sc, from, to, bf, bt) = (scheme.to_owned(), p.from, p.to, p.before_from, p.before_to);
    let loaded = web::db(&st.store, move |c| {
        let Some(name) = schemes::name_of(c, &sc)? else { return Ok(None) };
        let sites = schemes::sites_of(c, &sc)?;
        if site.as_ref().is_some_and(|s| !sites.iter().any(|(id, _)| id == s)) {
            return Err(Refusal::new(
                "There is no such site in this scheme.",
                "Nid oes safle o'r fath yn y cynllun hwn.",
            )
            .into());
        }
        let mut now = stats::summary_of(c, &sc, site.as_deref(), from, to)?;
        let mut before = stats::summary_of(c, &sc, site.as_deref(), bf, bt)?;
        // Agencies by name, from the scheme's directory.
        let agencies: HashMap<String, String> = signpost_shared::schema::read_agencies(&schemes::directory(c, &sc)?)
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect();
        for s in [&mut now, &mut before] {
            for c in s.by_agency.iter_mut() {
                if let Some(n) = agencies.get(&c.key) {
                    c.label = n.clone();
                }
            }
        }
        Ok(Some(Loaded { name, sites, now, before }))
    })
    .await?
    .ok_or_else(|| WebError::NotFound(l("There is no such scheme.", "Nid oes cynllun o'r fath.").into()))?;
    Ok((loaded, p, problem))
}

fn query_string(p: &Period, site: Option<&str>, view: Option<&str>) -> String {
    let mut q = format!("from={}&to={}", p.from.format("%Y-%m-%d"), p.to.format("%Y-%m-%d"));
    if let Some(s) = site.filter(|s| !s.is_empty()) {
        q.push_str(&format!("&site={}", segment(s)));
    }
    if let Some(v) = view {
        q.push_str(&format!("&view={v}"));
    }
    q
}

pub async fn page(
    State(st): State<AppState>,
    s: Session,
    Path(scheme): Path<String>,
    Query(f): Query<Filter>,
) -> WebResult {
    let (d, p, problem) = load(&st, &s, &scheme, &f).await?;
    let pr = problem.as_ref();
    let site = f.site.clone().filter(|x| !x.is_empty());
    let (now, before) = (&d.now, &d.before);
    let rate = |s: &Summary| per_hour(s.referrals, s.volunteer_minutes);
    let per_hour = |s: &Summary| rate(s).map(|r| format!("{r:.2}")).unwrap_or_else(|| "–".into());
    let headline: Vec<(&str, String, String, String)> = vec![
        (
            l("Referrals", "Atgyfeiriadau"),
            now.referrals.to_string(),
            before.referrals.to_string(),
            change(now.referrals as f64, before.referrals as f64),
        ),
        (
            l("Volunteer hours", "Oriau gwirfoddoli"),
            hours(now.volunteer_minutes),
            hours(before.volunteer_minutes),
            change(now.volunteer_minutes as f64, before.volunteer_minutes as f64),
        ),
        (
            l("Active volunteers", "Gwirfoddolwyr gweithredol"),
            now.active_volunteers.to_string(),
            before.active_volunteers.to_string(),
            change(now.active_volunteers as f64, before.active_volunteers as f64),
        ),
        (
            l("Referrals per volunteer hour", "Atgyfeiriadau fesul awr wirfoddoli"),
            per_hour(now),
            per_hour(before),
            match (rate(now), rate(before)) {
                (Some(a), Some(b)) => change(a, b),
                _ => "–".into(),
            },
        ),
    ];
    let series = over_time(now);
    let csv = |view: &str| {
        format!("{}?{}", manage(&["schemes", &scheme, "dashboard.csv"]), query_string(&p, site.as_deref(), Some(view)))
    };
    let site_name = site.as_ref().and_then(|id| d.sites.iter().find(|(i, _)| i == id)).map(|(_, n)| n.clone());
    let body = html! {
        (form::summary(pr))
        span class="govuk-caption-l" { (d.name) }
        h1 class="govuk-heading-l" { (l("Impact", "Effaith")) }
        p class="govuk-body" {
            (layout::day(p.from)) (l(" to ", " i ")) (layout::day(p.to))
            @if let Some(n) = &site_name { ", " (n) } @else { (l(", all sites", ", pob safle")) }
            (l(", compared with ", ", o'i gymharu â ")) (layout::day(p.before_from)) (l(" to ", " i ")) (layout::day(p.before_to)) "."
        }
        form method="get" action=(manage(&["schemes", &scheme, "dashboard"])) class="govuk-!-margin-bottom-6" {
            (form::date_input(pr, "from", "from", l("From", "O"), l("For example, 1 11 2026", "Er enghraifft, 1 11 2026"), (pr.is_none()).then_some(p.from)))
            (form::date_input(pr, "to", "to", l("To", "I"), l("For example, 30 11 2026", "Er enghraifft, 30 11 2026"), (pr.is_none()).then_some(p.to)))
            div class="govuk-form-group" {
                label class="govuk-label" for="site" { (l("Site", "Safle")) }
                select class="govuk-select" id="site" name="site" {
                    option value="" selected[site.is_none()] { (l("All sites", "Pob safle")) }
                    @for (id, name) in &d.sites { option value=(id) selected[site.as_deref() == Some(id.as_str())] { (name) } }
                }
            }
            button type="submit" class="govuk-button govuk-button--secondary" { (l("Show", "Dangos")) }
        }
        (layout::figures_table(
            "headline",
            Some((l("In this period", "Yn y cyfnod hwn"), "m")),
            &[l("Measure", "Mesur"), l("This period", "Y cyfnod hwn"), l("Previous period", "Y cyfnod blaenorol"), l("Change", "Newid")],
            &headline.iter().map(|(w, a, b, c)| (w.to_string(), vec![a.clone(), b.clone(), c.clone()])).collect::<Vec<_>>(),
            false,
        ))
        @if rate(now).is_none() && now.volunteer_minutes > 0 {
            p class="govuk-body-s" id="rate-note" { (l("Referrals per volunteer hour are shown once volunteers have logged at least an hour in the period.", "Dangosir atgyfeiriadau fesul awr wirfoddoli unwaith y bydd gwirfoddolwyr wedi cofnodi o leiaf awr yn y cyfnod.")) }
        }
        @if now.entries_off_roster > 0 { (off_roster(&scheme, now.entries_off_roster)) }
        p class="govuk-body" { a class="govuk-link" href=(csv("headline")) download { (l("Download these figures (CSV)", "Lawrlwytho'r ffigurau hyn (CSV)")) } }
        h2 class="govuk-heading-m" { (l("Referrals over time", "Atgyfeiriadau dros amser")) }
        (column_chart("over-time", l("Referrals over time", "Atgyfeiriadau dros amser"), &series))
        details class="govuk-details" {
            summary class="govuk-details__summary" { span class="govuk-details__summary-text" { (l("Referrals over time as a table", "Atgyfeiriadau dros amser fel tabl")) } }
            div class="govuk-details__text" {
                (layout::figures_table(
                    "over-time-table",
                    None,
                    &[l("Period", "Cyfnod"), l("Referrals", "Atgyfeiriadau")],
                    &series.iter().map(|(label, _, n)| (label.clone(), vec![n.to_string()])).collect::<Vec<_>>(),
                    false,
                ))
            }
        }
        p class="govuk-body" { a class="govuk-link" href=(csv("over_time")) download { (l("Download referrals over time (CSV)", "Lawrlwytho atgyfeiriadau dros amser (CSV)")) } }
        @for (view, title, by) in views() {
            @let r = rows(breakdown(now, view), breakdown(before, view));
            h2 class="govuk-heading-m" id=(view.replace('_', "-")) { (title) }
            (bar_chart(&format!("chart-{view}"), title, &r))
            (layout::figures_table(
                &format!("table-{}", view.replace('_', "-")),
                Some((&tf!("{title}, as a table", "{title}, fel tabl"), "s")),
                &[by, l("This period", "Y cyfnod hwn"), l("Previous period", "Y cyfnod blaenorol")],
                &r.iter().map(|(_, label, a, b)| (label.clone(), vec![a.to_string(), b.to_string()])).collect::<Vec<_>>(),
                false,
            ))
            p class="govuk-body" { a class="govuk-link" href=(csv(view)) download { (l("Download ", "Lawrlwytho ")) (lower_first(title)) (l(" (CSV)", " (CSV)")) } }
        }
        h2 class="govuk-heading-m" id="follow-ups" { (l("Follow-ups", "Camau dilynol")) }
        @let f = &now.follow_ups;
        p class="govuk-body" {
            (l("Of the referrals in this period, ", "O'r atgyfeiriadau yn y cyfnod hwn, ")) (f.needed) (l(" needed a follow-up: ", " angen camau dilynol: "))
            strong { (f.open) (l(" open", " ar agor")) } ", " (f.closed) (l(" closed.", " wedi'u cau."))
            @if let Some(h) = f.median_hours_to_close {
                (l(" Half were closed within ", " Caewyd hanner o fewn ")) (duration(h)) (l(" of the referral.", " i'r atgyfeiriad."))
            }
        }
        (layout::figures_table(
            "table-follow-ups",
            Some((l("Closed follow-ups by outcome", "Camau dilynol a gaewyd fesul canlyniad"), "s")),
            &[l("Outcome", "Canlyniad"), l("Follow-ups", "Camau dilynol")],
            &f.by_outcome.iter().map(|c| (c.label.clone(), vec![c.count.to_string()])).collect::<Vec<_>>(),
            false,
        ))
        p class="govuk-body-s" {
            (l("A referral with several issue categories counts once under each; one that maps to several pathways, once under each. Voided referrals are not counted.", "Mae atgyfeiriad â sawl categori mater yn cyfrif unwaith o dan bob un; un sy'n perthyn i sawl llwybr, unwaith o dan bob un. Nid yw atgyfeiriadau di-rym yn cael eu cyfrif."))
        }
        h2 class="govuk-heading-m" { (l("Every referral in this period", "Pob atgyfeiriad yn y cyfnod hwn")) }
        p class="govuk-body" {
            (l("One line per referral, without notes. Downloads are recorded in the audit log. ", "Un llinell fesul atgyfeiriad, heb nodiadau. Mae lawrlwythiadau'n cael eu cofnodi yn y log archwilio. "))
            a class="govuk-link" href=(format!("{}?{}", manage(&["schemes", &scheme, "referrals.csv"]), query_string(&p, site.as_deref(), None))) download {
                (l("Download the referrals (CSV, ", "Lawrlwytho'r atgyfeiriadau (CSV, ")) (now.referrals) (if now.referrals == 1 { l(" line)", " llinell)") } else { l(" lines)", " llinell)") })
            }
        }
    };
    let status = if problem.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    Ok(layout::page(status, &form::title(&tf!("Impact – {}", "Effaith – {}", d.name), pr), Some(&s), body))
}

/// Entries naming a volunteer the roster does not hold: counted, but as no one's, until the
/// coordinator puts the roster right (a volunteer missing from it, or a tablet writing ids of its
/// own).
fn off_roster(scheme: &str, n: i64) -> maud::Markup {
    let text = if n == 1 {
        l(
            "1 entry in this period names a volunteer who is not on the scheme's roster.",
            "Mae 1 cofnod yn y cyfnod hwn yn enwi gwirfoddolwr nad yw ar restr y cynllun.",
        )
        .to_owned()
    } else {
        tf!(
            "{n} entries in this period name volunteers who are not on the scheme's roster.",
            "Mae {n} cofnod yn y cyfnod hwn yn enwi gwirfoddolwyr nad ydynt ar restr y cynllun."
        )
    };
    html! {
        div class="govuk-inset-text" id="off-roster" {
            (text)
            (l(" They count in the referrals and hours, not as active volunteers. ", " Maent yn cyfrif yn yr atgyfeiriadau a'r oriau, nid fel gwirfoddolwyr gweithredol. "))
            a class="govuk-link" href=(format!("{}#roster-heading", manage(&["schemes", scheme]))) { (l("Check the roster", "Gwirio'r rhestr")) }
        }
    }
}

pub async fn csv(
    State(st): State<AppState>,
    s: Session,
    Path(scheme): Path<String>,
    Query(f): Query<Filter>,
) -> Result<Response, WebError> {
    web::managed(&s, &scheme)?;
    let _place = export_place(&st, &s.user)?;
    let (d, p, problem) = load(&st, &s, &scheme, &f).await?;
    if let Some(problem) = problem {
        return Err(WebError::BadRequest(problem.message));
    }
    let view = f.view.clone().unwrap_or_else(|| "headline".into());
    let (now, before) = (&d.now, &d.before);
    let mut out = String::new();
    let period = format!("{} to {}", p.from.format("%Y-%m-%d"), p.to.format("%Y-%m-%d"));
    let previous = format!("{} to {}", p.before_from.format("%Y-%m-%d"), p.before_to.format("%Y-%m-%d"));
    match view.as_str() {
        "headline" => {
            out.push_str(&csv_line(&["measure", &period, &previous]));
            for (m, a, b) in [
                ("referrals", now.referrals.to_string(), before.referrals.to_string()),
                ("volunteer hours", hours(now.volunteer_minutes), hours(before.volunteer_minutes)),
                ("active volunteers", now.active_volunteers.to_string(), before.active_volunteers.to_string()),
                (
                    "referrals per volunteer hour",
                    per_hour(now.referrals, now.volunteer_minutes).map(|r| format!("{r:.2}")).unwrap_or_default(),
                    per_hour(before.referrals, before.volunteer_minutes).map(|r| format!("{r:.2}")).unwrap_or_default(),
                ),
            ] {
                out.push_str(&csv_line(&[m, &a, &b]));
            }
        }
        "over_time" => {
            out.push_str(&csv_line(&["period starting", "referrals"]));
            for (_, start, n) in over_time(now) {
                out.push_str(&csv_line(&[&start.format("%Y-%m-%d").to_string(), &n.to_string()]));
            }
        }
        v if views().iter().any(|(k, _, _)| *k == v) => {
            out.push_str(&csv_line(&["code", "name", &period, &previous]));
            for (key, label, a, b) in rows(breakdown(now, v), breakdown(before, v)) {
                out.push_str(&csv_line(&[&key, &label, &a.to_string(), &b.to_string()]));
            }
        }
        other => {
            return Err(WebError::BadRequest(tf!(
                "There is no view called {other:?}",
                "Nid oes golwg o'r enw {other:?}"
            )))
        }
    }
    let name = format!("signpost-{scheme}-{view}-{}-{}.csv", p.from.format("%Y%m%d"), p.to.format("%Y%m%d"));
    Ok(csv_download(&name, out.into(), None))
}

/// Every referral of the period as CSV (individual-level: audited). Streamed from one read
/// snapshot in constant memory; the length is counted first (a pass that writes nothing) and sent
/// as `Content-Length`, so the browser shows the download's progress.
pub async fn referrals_csv(
    State(st): State<AppState>,
    s: Session,
    Path(scheme): Path<String>,
    Query(f): Query<Filter>,
) -> Result<Response, WebError> {
    web::managed(&s, &scheme)?;
    let p = period(&f, chrono::Utc::now().date_naive()).map_err(|p| WebError::BadRequest(p.message))?;
    // Held by the task that reads the export, until its last line is sent or its client is let
    // go (a client that takes nothing for the send timeout is disconnected).
    let place = export_place(&st, &s.user)?;
    let site = f.site.clone().filter(|x| !x.is_empty());
    let (length_tx, length_rx) = tokio::sync::oneshot::channel::<anyhow::Result<u64>>();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(8);
    let (store, sc, actor) = (st.store.clone(), scheme.clone(), s.user.actor());
    tokio::task::spawn_blocking(move || {
        let _place = place;
        let run = || -> anyhow::Result<()> {
            let conn = store.connect()?;
            if !schemes::scheme_exists(&conn, &sc)? {
                anyhow::bail!(Refusal::new(
                    l("There is no such scheme.", "Nid oes cynllun o'r fath."),
                    "Nid oes cynllun o'r fath."
                ));
            }
            let detail =
                format!("{} to {}{}", p.from, p.to, site.as_deref().map(|s| format!(", site {s}")).unwrap_or_default());
            audit::audit(&conn, &actor, "exported individual referrals (CSV)", Some(&sc), &detail)?;
            // One snapshot for both passes: what is counted is what is sent.
            let snapshot = conn.transaction()?;
            let n = export::names(&snapshot, &sc)?;
            let mut total = 0u64;
            export::referral_rows(&snapshot, &sc, site.as_deref(), p.from, p.to, &n, |row| {
                total += csv_line(row).len() as u64;
                Ok(())
            })?;
            let _ = length_tx.send(Ok(total));
            let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
            export::referral_rows(&snapshot, &sc, site.as_deref(), p.from, p.to, &n, |row| {
                buf.extend_from_slice(csv_line(row).as_bytes());
                if buf.len() >= 60 << 10 {
                    let chunk = axum::body::Bytes::from(std::mem::replace(&mut buf, Vec::with_capacity(64 << 10)));
                    tx.blocking_send(Ok(chunk)).map_err(|_| anyhow::anyhow!("the download was cancelled"))?;
                }
                Ok(())
            })?;
            if !buf.is_empty() {
                let _ = tx.blocking_send(Ok(axum::body::Bytes::from(buf)));
            }
            Ok(())
        };
        if let Err(e) = run() {
            tracing::warn!(error = %e, "referral export stopped");
        }
    });
    let total = match length_rx.await {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => return Err(WebError::from(e)),
        // The task ended before counting: it failed (logged) or the scheme does not exist.
        Err(_) => {
            return Err(WebError::NotFound(
                l(
                    "There is no such scheme, or the export failed; try again.",
                    "Nid oes cynllun o'r fath, neu methodd yr allforio; rhowch gynnig arall arni.",
                )
                .into(),
            ))
        }
    };
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let name = format!("signpost-{scheme}-referrals-{}-{}.csv", p.from.format("%Y%m%d"), p.to.format("%Y%m%d"));
    Ok(csv_download(&name, axum::body::Body::from_stream(stream), Some(total)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_default_to_30_days_and_compare_with_the_one_before() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let p = period(&Filter::default(), today).unwrap();
        assert_eq!((p.from.to_string(), p.to.to_string()), ("2026-10-27".into(), "2026-11-25".into()));
        assert_eq!((p.before_from.to_string(), p.before_to.to_string()), ("2026-09-27".into(), "2026-10-26".into()));
        let bad = Filter { from: Some("2026-12-01".into()), ..Filter::default() };
        assert!(period(&bad, today).is_err());
        let bad = Filter { from: Some("1 Nov".into()), ..Filter::default() };
        assert!(period(&bad, today).is_err());
    }
}
