//! The coordinator's impact dashboard: one scheme over a period, optionally one site, against the
//! period just before; charts as SVG with the same figures in a table beside each, and every view
//! as CSV. Only aggregates: the figures come from [`crate::stats`].

use crate::http::AppState;
use crate::stats::{self, Count, Summary};
use crate::web::{self, Session, WebError, WebResult};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use chrono::{Datelike, Duration, NaiveDate};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize, Default)]
pub struct Filter {
    from: Option<String>,
    to: Option<String>,
    site: Option<String>,
    view: Option<String>,
}

/// The period asked for (the last 30 days by default) and the one of equal length before it.
struct Period {
    from: NaiveDate,
    to: NaiveDate,
    before_from: NaiveDate,
    before_to: NaiveDate,
}

fn period(f: &Filter, today: NaiveDate) -> Result<Period, WebError> {
    let parse = |v: &Option<String>, what: &str, default: NaiveDate| match v.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| WebError::BadRequest(format!("The {what} date must be a real date, like 2026-11-01"))),
    };
    let to = parse(&f.to, "end", today)?;
    let from = parse(&f.from, "start", to - Duration::days(29))?;
    if from > to {
        return Err(WebError::BadRequest("The start date must be the same as or before the end date".into()));
    }
    if (to - from).num_days() > stats::MAX_RANGE_DAYS {
        return Err(WebError::BadRequest("The period can be at most 10 years".into()));
    }
    let days = (to - from).num_days() + 1;
    Ok(Period { from, to, before_from: from - Duration::days(days), before_to: from - Duration::days(1) })
}

/// The breakdowns a dashboard shows, each one view (and one CSV).
const VIEWS: &[(&str, &str)] = &[
    ("by_site", "Referrals by site"),
    ("by_issue_category", "Referrals by issue category"),
    ("by_pathway", "Referrals by NOMS pathway"),
    ("by_agency", "Referrals by agency signposted to"),
    ("by_kind_of_help", "Referrals by kind of help"),
    ("by_who_helped", "Referrals by who was helped"),
];

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

struct Loaded {
    name: String,
    sites: Vec<(String, String)>,
    now: Summary,
    before: Summary,
}

async fn load(st: &AppState, s: &Session, scheme: &str, f: &Filter) -> Result<(Loaded, Period), WebError> {
    web::managed(s, scheme)?;
    let p = period(f, chrono::Utc::now().date_naive())?;
    let site = f.site.clone().filter(|x| !x.is_empty());
    let (sc, from, to, bf, bt) = (scheme.to_owned(), p.from, p.to, p.before_from, p.before_to);
    let loaded = web::db(&st.store, move |c| {
        use rusqlite::OptionalExtension;
        let name: Option<String> =
            c.query_row("SELECT name FROM schemes WHERE id = ?1", [&sc], |r| r.get(0)).optional()?;
        let Some(name) = name else { return Ok(None) };
        let sites = crate::store::sites_of(c, &sc)?;
        if site.as_ref().is_some_and(|s| !sites.iter().any(|(id, _)| id == s)) {
            return Err(crate::accounts::Refusal("There is no such site in this scheme.".into()).into());
        }
        let mut now = stats::summary_of(c, &sc, site.as_deref(), from, to)?;
        let mut before = stats::summary_of(c, &sc, site.as_deref(), bf, bt)?;
        // Agencies by name, from the scheme's directory.
        let agencies: HashMap<String, String> = signpost_shared::schema::read_agencies(&web::directory(c, &sc)?)
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
    .ok_or_else(|| WebError::NotFound("There is no such scheme.".into()))?;
    Ok((loaded, p))
}

fn change(now: f64, before: f64) -> String {
    if before == 0.0 {
        return if now == 0.0 { "no change".into() } else { "new this period".into() };
    }
    let pct = (now - before) / before * 100.0;
    if pct.abs() < 0.5 {
        "no change".into()
    } else {
        format!("{}{:.0}%", if pct > 0.0 { "+" } else { "−" }, pct.abs())
    }
}

fn hours(minutes: i64) -> String {
    format!("{:.1}", minutes as f64 / 60.0)
}

/// Referrals over time, by day for up to 3 months, by week up to 2 years, else by month.
fn over_time(s: &Summary) -> Vec<(String, i64)> {
    let days = (s.to - s.from).num_days() + 1;
    let per_day: HashMap<&str, i64> = s.by_day.iter().map(|c| (c.key.as_str(), c.count)).collect();
    let mut out: Vec<(String, i64)> = Vec::new();
    let mut d = s.from;
    while d <= s.to {
        let (label, start) = if days <= 92 {
            (d.format("%d %b").to_string(), d)
        } else if days <= 730 {
            let monday = d - Duration::days(d.weekday().num_days_from_monday() as i64);
            (format!("w/c {}", monday.max(s.from).format("%d %b %Y")), monday)
        } else {
            (d.format("%b %Y").to_string(), d.with_day(1).unwrap_or(d))
        };
        let n = per_day.get(d.format("%Y-%m-%d").to_string().as_str()).copied().unwrap_or(0);
        match out.last_mut() {
            Some((l, c)) if *l == label => *c += n,
            _ => out.push((label, n)),
        }
        let _ = start;
        d += Duration::days(1);
    }
    out
}

/// A vertical bar chart (time series) as SVG, described for screen readers; the table beside it
/// holds the same figures.
fn column_chart(id: &str, title: &str, points: &[(String, i64)]) -> Markup {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let (w, h, pad) = (720.0, 220.0, 30.0);
    let n = points.len().max(1) as f64;
    let bw = (w - pad) / n;
    let desc = format!("{} periods; highest {}; total {}", points.len(), max, points.iter().map(|p| p.1).sum::<i64>());
    html! {
        svg class="signpost-chart" role="img" aria-labelledby=(format!("{id}-title {id}-desc")) viewBox=(format!("0 0 {w} {}", h + 24.0)) width="100%" {
            title id=(format!("{id}-title")) { (title) }
            desc id=(format!("{id}-desc")) { (desc) }
            line x1=(pad) y1=(h) x2=(w) y2=(h) stroke="#0b0c0c" {}
            text x="0" y="12" font-size="12" fill="#0b0c0c" { (max) }
            text x="0" y=(h) font-size="12" fill="#0b0c0c" { "0" }
            @for (i, (label, v)) in points.iter().enumerate() {
                @let bh = (*v as f64) / (max as f64) * (h - 10.0);
                rect x=(format!("{:.1}", pad + i as f64 * bw + 1.0)) y=(format!("{:.1}", h - bh)) width=(format!("{:.1}", (bw - 2.0).max(1.0))) height=(format!("{:.1}", bh)) fill="#1d70b8" {
                    title { (label) ": " (v) }
                }
            }
            @if let (Some(first), Some(last)) = (points.first(), points.last()) {
                text x=(pad) y=(h + 18.0) font-size="12" fill="#0b0c0c" { (first.0) }
                text x=(w) y=(h + 18.0) font-size="12" fill="#0b0c0c" text-anchor="end" { (last.0) }
            }
        }
    }
}

/// A horizontal bar chart of a breakdown as SVG.
fn bar_chart(id: &str, title: &str, rows: &[(String, String, i64, i64)]) -> Markup {
    let shown: Vec<&(String, String, i64, i64)> = rows.iter().filter(|r| r.2 > 0).take(12).collect();
    let max = shown.iter().map(|r| r.2).max().unwrap_or(1).max(1);
    let (label_w, bar_w, row_h) = (260.0, 400.0, 26.0);
    let height = row_h * shown.len().max(1) as f64;
    let desc = shown.iter().map(|r| format!("{}: {}", r.1, r.2)).collect::<Vec<_>>().join("; ");
    html! {
        svg class="signpost-chart" role="img" aria-labelledby=(format!("{id}-title {id}-desc")) viewBox=(format!("0 0 {} {height}", label_w + bar_w + 60.0)) width="100%" {
            title id=(format!("{id}-title")) { (title) }
            desc id=(format!("{id}-desc")) { (if desc.is_empty() { "No referrals in this period".to_owned() } else { desc }) }
            @for (i, r) in shown.iter().enumerate() {
                @let y = i as f64 * row_h;
                @let bw = (r.2 as f64) / (max as f64) * bar_w;
                text x=(label_w - 8.0) y=(y + 17.0) font-size="13" fill="#0b0c0c" text-anchor="end" {
                    (r.1.chars().take(36).collect::<String>())
                }
                rect x=(label_w) y=(y + 4.0) width=(format!("{:.1}", bw.max(1.0))) height=(row_h - 8.0) fill="#1d70b8" {}
                text x=(format!("{:.1}", label_w + bw + 6.0)) y=(y + 17.0) font-size="13" fill="#0b0c0c" { (r.2) }
            }
        }
    }
}

fn query_string(p: &Period, site: Option<&str>, view: Option<&str>) -> String {
    let mut q = format!("from={}&to={}", p.from.format("%Y-%m-%d"), p.to.format("%Y-%m-%d"));
    if let Some(s) = site.filter(|s| !s.is_empty()) {
        q.push_str(&format!("&site={s}"));
    }
    if let Some(v) = view {
        q.push_str(&format!("&view={v}"));
    }
    q
}

pub async fn page(
    State(st): State<AppState>,
    jar: CookieJar,
    Path(scheme): Path<String>,
    Query(f): Query<Filter>,
) -> WebResult {
    let s = web::signed_in(&st, &jar).await?;
    let (d, p) = load(&st, &s, &scheme, &f).await?;
    let site = f.site.clone().filter(|x| !x.is_empty());
    let (now, before) = (&d.now, &d.before);
    let per_hour =
        |s: &Summary| s.referrals_per_volunteer_hour.map(|r| format!("{r:.2}")).unwrap_or_else(|| "–".into());
    let headline: Vec<(&str, String, String, String)> = vec![
        (
            "Referrals",
            now.referrals.to_string(),
            before.referrals.to_string(),
            change(now.referrals as f64, before.referrals as f64),
        ),
        (
            "Volunteer hours",
            hours(now.volunteer_minutes),
            hours(before.volunteer_minutes),
            change(now.volunteer_minutes as f64, before.volunteer_minutes as f64),
        ),
        (
            "Active volunteers",
            now.active_volunteers.to_string(),
            before.active_volunteers.to_string(),
            change(now.active_volunteers as f64, before.active_volunteers as f64),
        ),
        (
            "Referrals per volunteer hour",
            per_hour(now),
            per_hour(before),
            change(now.referrals_per_volunteer_hour.unwrap_or(0.0), before.referrals_per_volunteer_hour.unwrap_or(0.0)),
        ),
    ];
    let series = over_time(now);
    let csv = |view: &str| {
        format!("/manage/schemes/{scheme}/dashboard.csv?{}", query_string(&p, site.as_deref(), Some(view)))
    };
    let site_name = site.as_ref().and_then(|id| d.sites.iter().find(|(i, _)| i == id)).map(|(_, n)| n.clone());
    let body = html! {
        span class="govuk-caption-l" { (d.name) }
        h1 class="govuk-heading-l" { "Impact" }
        p class="govuk-body" {
            (p.from.format("%d %B %Y")) " to " (p.to.format("%d %B %Y"))
            @if let Some(n) = &site_name { ", " (n) } @else { ", all sites" }
            ", compared with " (p.before_from.format("%d %B %Y")) " to " (p.before_to.format("%d %B %Y")) "."
        }
        form method="get" action=(format!("/manage/schemes/{scheme}/dashboard")) class="govuk-!-margin-bottom-6" {
            div class="govuk-form-group" {
                label class="govuk-label" for="from" { "From" }
                input class="govuk-input govuk-input--width-10" id="from" name="from" type="date" value=(p.from.format("%Y-%m-%d"));
            }
            div class="govuk-form-group" {
                label class="govuk-label" for="to" { "To" }
                input class="govuk-input govuk-input--width-10" id="to" name="to" type="date" value=(p.to.format("%Y-%m-%d"));
            }
            div class="govuk-form-group" {
                label class="govuk-label" for="site" { "Site" }
                select class="govuk-select" id="site" name="site" {
                    option value="" selected[site.is_none()] { "All sites" }
                    @for (id, name) in &d.sites { option value=(id) selected[site.as_deref() == Some(id.as_str())] { (name) } }
                }
            }
            button type="submit" class="govuk-button govuk-button--secondary" { "Show" }
        }
        (web::figures_table(
            "headline",
            Some(("In this period", "m")),
            &["Measure", "This period", "Previous period", "Change"],
            &headline.iter().map(|(w, a, b, c)| (w.to_string(), vec![a.clone(), b.clone(), c.clone()])).collect::<Vec<_>>(),
            false,
        ))
        p class="govuk-body" { a class="govuk-link" href=(csv("headline")) download { "Download these figures (CSV)" } }
        h2 class="govuk-heading-m" { "Referrals over time" }
        (column_chart("over-time", "Referrals over time", &series))
        details class="govuk-details" {
            summary class="govuk-details__summary" { span class="govuk-details__summary-text" { "Referrals over time as a table" } }
            div class="govuk-details__text" {
                (web::figures_table(
                    "over-time-table",
                    None,
                    &["Period", "Referrals"],
                    &series.iter().map(|(label, n)| (label.clone(), vec![n.to_string()])).collect::<Vec<_>>(),
                    false,
                ))
            }
        }
        p class="govuk-body" { a class="govuk-link" href=(csv("over_time")) download { "Download referrals over time (CSV)" } }
        @for (view, title) in VIEWS {
            @let r = rows(breakdown(now, view), breakdown(before, view));
            h2 class="govuk-heading-m" id=(view.replace('_', "-")) { (title) }
            (bar_chart(&format!("chart-{view}"), title, &r))
            (web::figures_table(
                &format!("table-{}", view.replace('_', "-")),
                Some((&format!("{title}, as a table"), "s")),
                &["", "This period", "Previous period"],
                &r.iter().map(|(_, label, a, b)| (label.clone(), vec![a.to_string(), b.to_string()])).collect::<Vec<_>>(),
                false,
            ))
            p class="govuk-body" { a class="govuk-link" href=(csv(view)) download { "Download " (title.to_lowercase()) " (CSV)" } }
        }
        p class="govuk-body-s" {
            "A referral with several issue categories counts once under each; one that maps to several pathways, once under each. Voided referrals are not counted."
        }
        h2 class="govuk-heading-m" { "Every referral in this period" }
        p class="govuk-body" {
            "One line per referral, without notes. Downloads are recorded in the audit log. "
            a class="govuk-link" href=(format!("/manage/schemes/{scheme}/referrals.csv?{}", query_string(&p, site.as_deref(), None))) download {
                "Download the referrals (CSV, " (now.referrals) " lines)"
            }
        }
    };
    Ok(web::page(StatusCode::OK, &format!("Impact – {}", d.name), Some(&s), body))
}

/// One CSV field: quoted where needed, and never read as a formula by a spreadsheet.
pub fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_owned() };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// A CSV file to download; `length` when known up front (the browser then shows progress).
pub fn csv_download(name: &str, body: axum::body::Body, length: Option<u64>) -> Response {
    let mut res = (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response();
    if let Some(n) = length {
        res.headers_mut().insert(header::CONTENT_LENGTH, n.into());
    }
    res
}

pub fn csv_line(fields: &[&str]) -> String {
    let mut line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

pub async fn csv(
    State(st): State<AppState>,
    jar: CookieJar,
    Path(scheme): Path<String>,
    Query(f): Query<Filter>,
) -> Result<Response, WebError> {
    let s = web::signed_in(&st, &jar).await?;
    let (d, p) = load(&st, &s, &scheme, &f).await?;
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
                    now.referrals_per_volunteer_hour.map(|r| format!("{r:.2}")).unwrap_or_default(),
                    before.referrals_per_volunteer_hour.map(|r| format!("{r:.2}")).unwrap_or_default(),
                ),
            ] {
                out.push_str(&csv_line(&[m, &a, &b]));
            }
        }
        "over_time" => {
            out.push_str(&csv_line(&["period", "referrals"]));
            for (label, n) in over_time(now) {
                out.push_str(&csv_line(&[&label, &n.to_string()]));
            }
        }
        v if VIEWS.iter().any(|(k, _)| *k == v) => {
            out.push_str(&csv_line(&["code", "name", &period, &previous]));
            for (key, label, a, b) in rows(breakdown(now, v), breakdown(before, v)) {
                out.push_str(&csv_line(&[&key, &label, &a.to_string(), &b.to_string()]));
            }
        }
        other => return Err(WebError::BadRequest(format!("There is no view called {other:?}"))),
    }
    let name = format!("signpost-{scheme}-{view}-{}-{}.csv", p.from.format("%Y%m%d"), p.to.format("%Y%m%d"));
    Ok(csv_download(&name, out.into(), None))
}

/// Writes the CSV of a period's referrals, one line at a time, to `out`. No notes, ever.
fn referral_rows(
    conn: &rusqlite::Connection,
    scheme: &str,
    site: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
    names: &Names,
    mut out: impl FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use signpost_shared::vocab::{AgeBand, Category, HelpKind, Helped};
    out(csv_line(&[
        "day",
        "site",
        "recorded at (UTC)",
        "volunteer",
        "who was helped",
        "age band",
        "issue categories",
        "agency",
        "kind of help",
        "follow-up needed",
    ])
    .as_bytes())?;
    let mut stmt = conn.prepare(
        "SELECT r.doc_id, r.id, r.day, r.site_id, r.recorded_at, r.volunteer, r.helped, r.age_band, r.agency_kind,
                r.agency, r.help, r.follow_up, c.category
         FROM referral_facts r LEFT JOIN referral_categories c ON c.doc_id = r.doc_id AND c.id = r.id
         WHERE r.scheme_id = ?1 AND r.day BETWEEN ?2 AND ?3 AND (?4 IS NULL OR r.site_id = ?4) AND r.voided = 0
         ORDER BY r.day, r.doc_id, r.id",
    )?;
    let (f, t) = (from.format("%Y-%m-%d").to_string(), to.format("%Y-%m-%d").to_string());
    let mut rows = stmt.query(rusqlite::params![scheme, f, t, site])?;
    // Categories of a referral arrive on consecutive rows; a line is written when the next starts.
    let mut pending: Option<(String, Vec<String>, Vec<String>)> = None; // (key, fields, categories)
    let flush = |p: Option<(String, Vec<String>, Vec<String>)>, out: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>| {
        if let Some((_, mut fields, cats)) = p {
            fields.insert(6, cats.join("; "));
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            out(csv_line(&refs).as_bytes())?;
        }
        Ok::<(), anyhow::Error>(())
    };
    while let Some(r) = rows.next()? {
        let key = format!("{}/{}", r.get_ref(0)?.as_str()?, r.get_ref(1)?.as_str()?);
        let category: Option<String> = r.get(12)?;
        let label = |c: Option<String>| c.map(|c| Category::from_code(&c).map(|x| x.label().to_owned()).unwrap_or(c));
        if pending.as_ref().is_some_and(|(k, _, _)| *k == key) {
            if let (Some((_, _, cats)), Some(c)) = (pending.as_mut(), label(category)) {
                cats.push(c);
            }
            continue;
        }
        flush(pending.take(), &mut out)?;
        let site_id: String = r.get(3)?;
        let recorded: i64 = r.get(4)?;
        let volunteer: Option<String> = r.get(5)?;
        let helped: String = r.get(6)?;
        let age: Option<String> = r.get(7)?;
        let (agency_kind, agency): (String, String) = (r.get(8)?, r.get(9)?);
        let help: String = r.get(10)?;
        let follow_up: bool = r.get(11)?;
        let fields = vec![
            r.get::<_, String>(2)?,
            names.sites.get(&site_id).cloned().unwrap_or(site_id),
            chrono::DateTime::from_timestamp_millis(recorded)
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
            volunteer.map(|v| names.volunteers.get(&v).cloned().unwrap_or(v)).unwrap_or_default(),
            Helped::from_code(&helped).map(|h| h.label().to_owned()).unwrap_or(helped),
            age.map(|a| AgeBand::from_code(&a).map(|x| x.label().to_owned()).unwrap_or(a)).unwrap_or_default(),
            if agency_kind == "other" {
                format!("Other: {agency}")
            } else {
                names.agencies.get(&agency).cloned().unwrap_or(agency)
            },
            HelpKind::from_code(&help).map(|h| h.label().to_owned()).unwrap_or(help),
            if follow_up { "yes".into() } else { "no".into() },
        ];
        pending = Some((key, fields, label(category).into_iter().collect()));
    }
    flush(pending, &mut out)?;
    Ok(())
}

/// Names for the ids facts carry.
#[derive(Default)]
struct Names {
    sites: HashMap<String, String>,
    volunteers: HashMap<String, String>,
    agencies: HashMap<String, String>,
}

fn names(conn: &rusqlite::Connection, scheme: &str) -> anyhow::Result<Names> {
    let sites = crate::store::sites_of(conn, scheme)?.into_iter().collect();
    let dir = web::directory(conn, scheme)?;
    Ok(Names {
        sites,
        volunteers: signpost_shared::schema::read_volunteers(&dir).into_iter().map(|v| (v.id, v.name)).collect(),
        agencies: signpost_shared::schema::read_agencies(&dir).into_iter().map(|a| (a.id, a.name)).collect(),
    })
}

/// Every referral of the period as CSV (individual-level: audited). Streamed from one read
/// snapshot in constant memory; the length is counted first (a pass that writes nothing) and sent
/// as `Content-Length`, so the browser shows the download's progress.
pub async fn referrals_csv(
    State(st): State<AppState>,
    jar: CookieJar,
    Path(scheme): Path<String>,
    Query(f): Query<Filter>,
) -> Result<Response, WebError> {
    let s = web::signed_in(&st, &jar).await?;
    web::managed(&s, &scheme)?;
    let p = period(&f, chrono::Utc::now().date_naive())?;
    let site = f.site.clone().filter(|x| !x.is_empty());
    let (length_tx, length_rx) = tokio::sync::oneshot::channel::<anyhow::Result<u64>>();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<axum::body::Bytes, std::io::Error>>(8);
    let (store, sc, actor) = (st.store.clone(), scheme.clone(), s.user.actor());
    tokio::task::spawn_blocking(move || {
        let run = || -> anyhow::Result<()> {
            let mut conn = store.connect()?;
            if !crate::store::scheme_exists(&conn, &sc)? {
                anyhow::bail!(crate::accounts::Refusal("There is no such scheme.".into()));
            }
            let detail =
                format!("{} to {}{}", p.from, p.to, site.as_deref().map(|s| format!(", site {s}")).unwrap_or_default());
            crate::accounts::audit(&conn, &actor, "exported individual referrals (CSV)", Some(&sc), &detail)?;
            // One snapshot for both passes: what is counted is what is sent.
            let snapshot = conn.transaction()?;
            let n = names(&snapshot, &sc)?;
            let mut total = 0u64;
            referral_rows(&snapshot, &sc, site.as_deref(), p.from, p.to, &n, |b| {
                total += b.len() as u64;
                Ok(())
            })?;
            let _ = length_tx.send(Ok(total));
            let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
            referral_rows(&snapshot, &sc, site.as_deref(), p.from, p.to, &n, |b| {
                buf.extend_from_slice(b);
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
        Err(_) => return Err(WebError::NotFound("There is no such scheme, or the export failed; try again.".into())),
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

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-5"), "'-5");
    }

    #[test]
    fn changes_read_as_people_say_them() {
        assert_eq!(change(110.0, 100.0), "+10%");
        assert_eq!(change(90.0, 100.0), "−10%");
        assert_eq!(change(5.0, 0.0), "new this period");
        assert_eq!(change(0.0, 0.0), "no change");
    }
}
