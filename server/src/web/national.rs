//! The national statistics page and its CSV: the disclosure-controlled tables of
//! [`signpost_domain::national`], for national reviewers and administrators.

use super::csv::{csv_download, csv_line};
use super::error::{WebError, WebResult};
use super::layout::{self, figures_table};
use super::session::{db, Reviewer};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use signpost_domain::national::{chosen, next_publication, published, quarters, Diversity, National, Quarter};
use signpost_shared::disclosure::{self, Cell, Published};

/// Rows of a breakdown for both quarters: (group, this quarter, previous quarter), the national
/// total last.
fn side_by_side<'a>(now: &'a Published, before: &'a Published) -> Vec<(&'a str, Cell, Cell)> {
    let mut out: Vec<(&str, Cell, Cell)> =
        now.rows.iter().zip(&now.cells).zip(&before.cells).map(|((name, a), b)| (name.as_str(), a[0], b[0])).collect();
    out.push(("England and Wales", now.col_totals[0], before.col_totals[0]));
    out
}
#[derive(Deserialize, Default)]
pub struct QuarterQuery {
    pub quarter: Option<String>,
}

/// The quarter's national figures as published: computed once, after the quarter and its grace
/// period, then always the same (no two views of a quarter can be differenced).
async fn load(st: &AppState, q: Quarter) -> Result<National, WebError> {
    let policy = st.disclosure;
    let today = chrono::Utc::now().date_naive();
    db(&st.store, move |c| published(c, q, &policy, today)).await
}

/// A day for people: 15 January 2027.
fn long_date(d: chrono::NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

fn table_markup(id: &str, caption: &str, by: &str, n: &National, now: &Published, before: &Published) -> maud::Markup {
    let rows: Vec<(String, Vec<String>)> =
        side_by_side(now, before).into_iter().map(|(name, a, b)| (name.to_owned(), vec![a.text(), b.text()])).collect();
    figures_table(id, Some((caption, "s")), &[by, &n.quarter, &n.previous_quarter], &rows, true)
}

fn percent_text(p: Option<u32>, withheld: bool) -> String {
    match (p, withheld) {
        (_, true) => {
            format!("withheld ({})", p.map(|p| format!("{p}%")).unwrap_or_else(|| disclosure::MARKER.to_owned()))
        }
        (Some(p), false) => format!("{p}%"),
        (None, false) => disclosure::MARKER.to_owned(),
    }
}

fn diversity_markup(d: &Diversity) -> maud::Markup {
    let t = &d.table;
    let columns: Vec<&str> =
        std::iter::once("Kind of scheme").chain(t.cols.iter().map(String::as_str)).chain(["Declared"]).collect();
    let mut rows: Vec<(String, Vec<String>)> = t
        .rows
        .iter()
        .zip(&t.cells)
        .enumerate()
        .map(|(i, (name, row))| {
            let mut values: Vec<String> = row.iter().map(Cell::text).collect();
            values.push(percent_text(d.declared_percent[i], d.withheld[i]));
            (name.clone(), values)
        })
        .collect();
    let mut national: Vec<String> = t.col_totals.iter().map(Cell::text).collect();
    national.push(percent_text(d.national_declared_percent, d.national_withheld));
    rows.push(("England and Wales".to_owned(), national));
    let id = format!("diversity-{}", d.question.replace('_', "-"));
    // Wide tables scroll on their own (focusable, named) rather than the page sideways.
    html! {
        div class="signpost-scroll" role="region" tabindex="0" aria-label=(d.text) {
            (figures_table(&id, Some((&d.text, "s")), &columns, &rows, true))
        }
    }
}

fn trend(now: &Published, before: &Published) -> String {
    match (now.col_totals[0].count(), before.col_totals[0].count()) {
        (Some(a), Some(b)) if b > 0 => {
            let pct = (a as f64 - b as f64) / b as f64 * 100.0;
            if pct.abs() < 0.5 {
                "no change on the previous quarter".into()
            } else {
                format!("{}{:.0}% on the previous quarter", if pct > 0.0 { "+" } else { "−" }, pct.abs())
            }
        }
        _ => "no comparison (figures suppressed)".into(),
    }
}

pub async fn page(State(st): State<AppState>, Reviewer(s): Reviewer, Query(q): Query<QuarterQuery>) -> WebResult {
    let quarter = chosen(q.quarter.as_deref(), chrono::Utc::now().date_naive())?;
    let n = load(&st, quarter).await?;
    let today = chrono::Utc::now().date_naive();
    let offered = quarters(today);
    let (next, next_on) = next_publication(today);
    let published_on = chrono::DateTime::from_timestamp_millis(n.published_at).map(|t| t.date_naive()).unwrap_or(today);
    let body = html! {
        h1 class="govuk-heading-l" { "National volunteering statistics" }
        p class="govuk-body" { (quarter.label()) ", compared with the quarter before." }
        p class="govuk-body" id="publication" {
            "These figures were published on " (long_date(published_on)) " and do not change. "
            "A quarter's figures are published " (signpost_domain::national::GRACE_DAYS) " days after it ends, once late entries from tablets have arrived."
        }
        div class="govuk-inset-text" id="not-yet" {
            @let current = signpost_domain::national::Quarter::containing(today);
            "Why not " (current.label()) "? It is still under way: its figures will be published on " (long_date(current.published_on())) ". "
            @if next != current {
                (next.label()) " will be published on " (long_date(next_on)) "."
            }
        }
        form method="get" action="/manage/national" {
            div class="govuk-form-group" {
                label class="govuk-label" for="quarter" { "Quarter" }
                select class="govuk-select" id="quarter" name="quarter" {
                    @for o in &offered { option value=(o.code()) selected[*o == quarter] { (o.code()) } }
                }
            }
            button type="submit" class="govuk-button govuk-button--secondary" { "Show" }
        }
        div class="govuk-inset-text" {
            "To protect individuals, counts below " (n.policy.threshold) " are not shown (" (disclosure::MARKER)
            "), nor hours or referrals that fewer than " (n.policy.min_people) " volunteers or " (n.policy.min_schemes)
            " schemes made up, or that two volunteers made up almost all of, nor any figure from which one of these could be worked out. "
            "Other counts and percentages are rounded to the nearest " (n.policy.round_to) "."
        }
        @for m in &n.measures {
            h2 class="govuk-heading-m" id=(m.key) { (m.name) }
            p class="govuk-body" {
                "England and Wales: " strong { (m.quarter.by_region.col_totals[0].text()) } ", "
                (trend(&m.quarter.by_region, &m.previous.by_region)) "."
            }
            (table_markup(&format!("{}-by-region", m.key), &format!("{} by region", m.name), "Region", &n, &m.quarter.by_region, &m.previous.by_region))
            (table_markup(&format!("{}-by-scheme-type", m.key), &format!("{} by kind of scheme", m.name), "Kind of scheme", &n, &m.quarter.by_scheme_type, &m.previous.by_scheme_type))
        }
        h2 class="govuk-heading-l" id="diversity" { "Volunteer diversity" }
        p class="govuk-body" {
            "Volunteers on the schemes' rosters when the quarter was published, from the voluntary equality-monitoring form, by kind of scheme. "
            "Only declared answers are counted (not \"prefer not to say\" or unanswered). A group is withheld where fewer than "
            ((n.policy.min_declared * 100.0).round()) "% of its volunteers declared."
        }
        @for d in &n.diversity {
            (diversity_markup(d))
        }
        p class="govuk-body" {
            a class="govuk-link" href=(format!("/manage/national.csv?quarter={}", quarter.code())) download { "Download these tables (CSV)" }
            " · "
            a class="govuk-link" href=(format!("/api/v1/national?quarter={}", quarter.code())) { "The same as JSON" }
        }
    };
    Ok(layout::page(StatusCode::OK, "National statistics", Some(&s), body))
}

pub async fn csv(
    State(st): State<AppState>,
    Reviewer(_): Reviewer,
    Query(q): Query<QuarterQuery>,
) -> Result<Response, WebError> {
    let quarter = chosen(q.quarter.as_deref(), chrono::Utc::now().date_naive())?;
    let n = load(&st, quarter).await?;
    let line = csv_line;
    let mut out = line(&["measure", "breakdown", "group", &n.quarter, &n.previous_quarter]);
    for m in &n.measures {
        for (breakdown, now, before) in [
            ("region", &m.quarter.by_region, &m.previous.by_region),
            ("kind of scheme", &m.quarter.by_scheme_type, &m.previous.by_scheme_type),
        ] {
            for (name, a, b) in side_by_side(now, before) {
                out.push_str(&line(&[&m.name, breakdown, name, &a.text(), &b.text()]));
            }
        }
    }
    out.push_str(&line(&["question", "kind of scheme", "answer group", "volunteers", "declared"]));
    for d in &n.diversity {
        let t = &d.table;
        for (i, (name, row)) in t.rows.iter().zip(&t.cells).enumerate() {
            for (col, c) in t.cols.iter().zip(row) {
                out.push_str(&line(&[
                    &d.text,
                    name,
                    col,
                    &c.text(),
                    &percent_text(d.declared_percent[i], d.withheld[i]),
                ]));
            }
        }
        for (col, c) in t.cols.iter().zip(&t.col_totals) {
            let pct = percent_text(d.national_declared_percent, d.national_withheld);
            out.push_str(&line(&[&d.text, "England and Wales", col, &c.text(), &pct]));
        }
    }
    Ok(csv_download(&format!("signpost-national-{}.csv", n.quarter), out.into(), None))
}
