//! The national view: volunteers, volunteer hours and referrals across every scheme, by region
//! and by kind of scheme, for a calendar quarter against the quarter before. Every figure passes
//! through [`signpost_shared::disclosure`] once, in [`national`]; the page, the JSON API and the
//! CSV all print that one result, so they cannot disagree.
//!
//! Against differencing, the view offers fixed breakdowns for fixed periods only (whole calendar
//! quarters, no free dates or filters), and the region and scheme-type tables of one measure are
//! protected together (they share the national total).

use crate::figures::{per_scheme, Figures, SchemeFigures};
use crate::http::AppState;
use crate::web::{self, Session, WebError, WebResult};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use chrono::{Datelike, NaiveDate};
use maud::html;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use signpost_shared::disclosure::{self, Cell, Policy, Published, Table};
use signpost_shared::vocab::{Region, SchemeType};

/// A calendar quarter, written `2026-Q3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Quarter {
    pub year: i32,
    pub q: u32,
}

impl Quarter {
    pub fn parse(s: &str) -> Option<Quarter> {
        let (y, q) = s.trim().split_once("-Q")?;
        let (year, q) = (y.parse().ok()?, q.parse().ok()?);
        (1..=4).contains(&q).then_some(Quarter { year, q })
    }

    pub fn containing(d: NaiveDate) -> Quarter {
        Quarter { year: d.year(), q: d.month0() / 3 + 1 }
    }

    pub fn previous(self) -> Quarter {
        if self.q == 1 {
            Quarter { year: self.year - 1, q: 4 }
        } else {
            Quarter { year: self.year, q: self.q - 1 }
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, (self.q - 1) * 3 + 1, 1).expect("a quarter's first day")
    }

    pub fn last_day(self) -> NaiveDate {
        let next = if self.q == 4 {
            Quarter { year: self.year + 1, q: 1 }
        } else {
            Quarter { year: self.year, q: self.q + 1 }
        };
        next.first_day().pred_opt().expect("a quarter's last day")
    }

    pub fn code(self) -> String {
        format!("{}-Q{}", self.year, self.q)
    }

    pub fn label(self) -> String {
        format!("{} to {}", self.first_day().format("%-d %B %Y"), self.last_day().format("%-d %B %Y"))
    }
}

const MEASURES: [(&str, &str); 3] =
    [("volunteers", "Active volunteers"), ("hours", "Volunteer hours"), ("referrals", "Referrals")];

fn value(f: &Figures, measure: &str) -> u64 {
    match measure {
        "volunteers" => f.volunteers,
        "hours" => f.hours,
        _ => f.referrals,
    }
}

fn region_label(code: &str) -> String {
    Region::from_code(code).map(|r| r.label().to_owned()).unwrap_or_else(|| "Region not recorded".into())
}

fn kind_label(code: &str) -> String {
    SchemeType::from_code(code).map(|k| k.label().to_owned()).unwrap_or_else(|| "Kind not recorded".into())
}

/// One quarter of one measure: by region and by kind of scheme (protected together: they share
/// the national total).
#[derive(Serialize, Debug, Clone)]
pub struct Breakdowns {
    pub by_region: Published,
    pub by_scheme_type: Published,
}

/// One measure, this quarter and the one before. Each quarter is protected on its own: they are
/// different people and periods, and no figure adds them up.
#[derive(Serialize, Debug, Clone)]
pub struct Measure {
    pub key: &'static str,
    pub name: &'static str,
    pub quarter: Breakdowns,
    pub previous: Breakdowns,
}

#[derive(Serialize, Debug, Clone)]
pub struct National {
    pub quarter: String,
    pub previous_quarter: String,
    pub policy: Policy,
    /// Suppressed counts read `"suppressed"` here and `[c]` on screen and in CSV.
    pub measures: Vec<Measure>,
    /// Volunteers on the rosters now, by equality-monitoring question and kind of scheme.
    pub diversity: Vec<Diversity>,
}

/// One equality question: declared answers by kind of scheme (rows) and answer group (columns),
/// with each row's declaration rate. A row where fewer than `policy.min_declared` of the
/// volunteers declared is withheld; so is the whole table when that holds nationally.
#[derive(Serialize, Debug, Clone)]
pub struct Diversity {
    pub question: &'static str,
    pub text: &'static str,
    pub table: Published,
    /// Per row, then nationally: the share of volunteers who declared, in whole percent;
    /// `None` where the group is smaller than the threshold.
    pub declared_percent: Vec<Option<u32>>,
    pub national_declared_percent: Option<u32>,
    pub withheld: Vec<bool>,
    pub national_withheld: bool,
}

/// Active roster volunteers and their answers, per kind of scheme.
fn diversity(conn: &Connection, policy: &Policy) -> anyhow::Result<Vec<Diversity>> {
    use signpost_shared::equality::{self, Answers, QUESTIONS};
    let kinds: Vec<String> =
        SchemeType::ALL.iter().map(|k| k.code().to_owned()).chain(["not-set".to_owned()]).collect();
    let mut volunteers = vec![0u64; kinds.len()];
    let mut answers: Vec<(usize, Answers)> = Vec::new();
    // Active roster volunteers (as projected from the directory documents) with their answers,
    // if they gave any.
    let mut stmt = conn.prepare(
        "SELECT COALESCE(s.scheme_type, 'not-set'), e.answers FROM roster_facts r
         JOIN schemes s ON s.id = r.scheme_id
         LEFT JOIN equality_answers e ON e.scheme_id = r.scheme_id AND e.volunteer_id = r.volunteer_id
         WHERE r.active = 1",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let kind: String = r.get(0)?;
        let k = kinds.iter().position(|c| *c == kind).unwrap_or(kinds.len() - 1);
        volunteers[k] += 1;
        if let Some(json) = r.get::<_, Option<String>>(1)? {
            answers.push((k, serde_json::from_str(&json).unwrap_or_default()));
        }
    }
    let percent = |declared: u64, people: u64| {
        (people >= policy.threshold).then(|| ((declared as f64 / people as f64) * 100.0).round() as u32)
    };
    Ok(QUESTIONS
        .iter()
        .map(|q| {
            let groups = equality::groups(q.key);
            let mut counts = vec![vec![0u64; groups.len()]; kinds.len()];
            for (k, a) in &answers {
                if let Some(g) = a.declared(q.key).and_then(|v| equality::group_of(q.key, v)) {
                    if let Some(j) = groups.iter().position(|x| *x == g) {
                        counts[*k][j] += 1;
                    }
                }
            }
            let declared: Vec<u64> = counts.iter().map(|r| r.iter().sum()).collect();
            let (all_declared, all_people) = (declared.iter().sum::<u64>(), volunteers.iter().sum::<u64>());
            let national_withheld = !policy.declaration_sufficient(all_declared, all_people);
            // Withheld: too few declared, or a group so small that even its zeros would say
            // something about the few people in it.
            let withheld: Vec<bool> = declared
                .iter()
                .zip(&volunteers)
                .map(|(d, n)| {
                    national_withheld
                        || (*n > 0 && (!policy.group_published(*n) || !policy.declaration_sufficient(*d, *n)))
                })
                .collect();
            let table = Table {
                rows: kinds.iter().map(|c| kind_label(c)).collect(),
                cols: groups.iter().map(|g| g.to_string()).collect(),
                counts,
            };
            let mut table = disclosure::protect_withholding(&table, policy, &withheld);
            if national_withheld {
                for c in table.col_totals.iter_mut().chain([&mut table.total]) {
                    *c = Cell::Suppressed(disclosure::Suppressed::Marker);
                }
            }
            Diversity {
                question: q.key,
                text: q.text,
                table,
                declared_percent: declared.iter().zip(&volunteers).map(|(d, n)| percent(*d, *n)).collect(),
                national_declared_percent: percent(all_declared, all_people),
                withheld,
                national_withheld,
            }
        })
        .collect())
}

fn breakdowns(set: &[SchemeFigures], measure: &str, column: &str, policy: &Policy) -> Breakdowns {
    let table = |key: fn(&SchemeFigures) -> &str, codes: Vec<String>, label: fn(&str) -> String| {
        let mut counts: Vec<Vec<u64>> = vec![vec![0]; codes.len()];
        for s in set {
            if let Some(i) = codes.iter().position(|c| c == key(s)) {
                counts[i][0] += value(&s.figures, measure);
            }
        }
        Table { rows: codes.iter().map(|c| label(c)).collect(), cols: vec![column.to_owned()], counts }
    };
    let regions = Region::ALL.iter().map(|r| r.code().to_owned()).chain(["not-set".to_owned()]).collect();
    let kinds = SchemeType::ALL.iter().map(|k| k.code().to_owned()).chain(["not-set".to_owned()]).collect();
    let by_region = table(|s| &s.region, regions, region_label);
    let by_type = table(|s| &s.kind, kinds, kind_label);
    let mut p = disclosure::protect_linked(&[by_region, by_type], policy).into_iter();
    Breakdowns { by_region: p.next().expect("two tables"), by_scheme_type: p.next().expect("two tables") }
}

/// The national figures for a quarter, disclosure control applied.
pub fn national(conn: &Connection, quarter: Quarter, policy: &Policy) -> anyhow::Result<National> {
    let prev = quarter.previous();
    let now = per_scheme(conn, &quarter.code())?;
    let before = per_scheme(conn, &prev.code())?;
    let measures = MEASURES
        .iter()
        .map(|&(key, name)| Measure {
            key,
            name,
            quarter: breakdowns(&now, key, &quarter.code(), policy),
            previous: breakdowns(&before, key, &prev.code(), policy),
        })
        .collect();
    Ok(National {
        quarter: quarter.code(),
        previous_quarter: prev.code(),
        policy: *policy,
        measures,
        diversity: diversity(conn, policy)?,
    })
}

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
    quarter: Option<String>,
}

/// The quarters on offer: the last eight complete ones, newest first.
fn quarters(today: NaiveDate) -> Vec<Quarter> {
    let mut q = Quarter::containing(today).previous();
    (0..8)
        .map(|_| {
            let out = q;
            q = q.previous();
            out
        })
        .collect()
}

fn chosen(q: &QuarterQuery) -> Result<Quarter, WebError> {
    let offered = quarters(chrono::Utc::now().date_naive());
    match q.quarter.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(offered[0]),
        Some(s) => Quarter::parse(s).filter(|q| offered.contains(q)).ok_or_else(|| {
            WebError::BadRequest(format!("Choose one of the last eight complete quarters, like {}", offered[0].code()))
        }),
    }
}

/// National figures are for national reviewers and administrators.
fn allowed(s: &Session) -> Result<(), WebError> {
    use crate::accounts::Role;
    match s.user.role {
        Role::National | Role::Admin => Ok(()),
        Role::Coordinator { .. } => Err(WebError::Forbidden("National figures are for national reviewers.".into())),
    }
}

/// The quarter's national figures, computed for each reader from the quarterly tables (a few
/// milliseconds at national scale), so they are never stale: a withdrawal or a new referral
/// shows at once.
async fn load(st: &AppState, q: Quarter) -> Result<National, WebError> {
    let policy = st.disclosure;
    web::db(&st.store, move |c| national(c, q, &policy)).await
}

fn table_markup(id: &str, caption: &str, n: &National, now: &Published, before: &Published) -> maud::Markup {
    let rows: Vec<(String, Vec<String>)> =
        side_by_side(now, before).into_iter().map(|(name, a, b)| (name.to_owned(), vec![a.text(), b.text()])).collect();
    web::figures_table(id, Some((caption, "s")), &["", &n.quarter, &n.previous_quarter], &rows, true)
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
    let columns: Vec<&str> = std::iter::once("").chain(t.cols.iter().map(String::as_str)).chain(["Declared"]).collect();
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
            (web::figures_table(&id, Some((d.text, "s")), &columns, &rows, true))
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

pub async fn page(State(st): State<AppState>, jar: CookieJar, Query(q): Query<QuarterQuery>) -> WebResult {
    let s = web::signed_in(&st, &jar).await?;
    allowed(&s)?;
    let quarter = chosen(&q)?;
    let n = load(&st, quarter).await?;
    let offered = quarters(chrono::Utc::now().date_naive());
    let body = html! {
        h1 class="govuk-heading-l" { "National volunteering statistics" }
        p class="govuk-body" { (quarter.label()) ", compared with the quarter before." }
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
            "), nor any count from which one could be worked out; other counts are rounded to the nearest " (n.policy.round_to) "."
        }
        @for m in &n.measures {
            h2 class="govuk-heading-m" id=(m.key) { (m.name) }
            p class="govuk-body" {
                "England and Wales: " strong { (m.quarter.by_region.col_totals[0].text()) } ", "
                (trend(&m.quarter.by_region, &m.previous.by_region)) "."
            }
            (table_markup(&format!("{}-by-region", m.key), &format!("{} by region", m.name), &n, &m.quarter.by_region, &m.previous.by_region))
            (table_markup(&format!("{}-by-scheme-type", m.key), &format!("{} by kind of scheme", m.name), &n, &m.quarter.by_scheme_type, &m.previous.by_scheme_type))
        }
        h2 class="govuk-heading-l" id="diversity" { "Volunteer diversity" }
        p class="govuk-body" {
            "Volunteers on the schemes' rosters now, from the voluntary equality-monitoring form, by kind of scheme. "
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
    Ok(web::page(StatusCode::OK, "National statistics", Some(&s), body))
}

pub async fn csv(
    State(st): State<AppState>,
    jar: CookieJar,
    Query(q): Query<QuarterQuery>,
) -> Result<Response, WebError> {
    let s = web::signed_in(&st, &jar).await?;
    allowed(&s)?;
    let quarter = chosen(&q)?;
    let n = load(&st, quarter).await?;
    let line = crate::dashboard::csv_line;
    let mut out = line(&["measure", "breakdown", "group", &n.quarter, &n.previous_quarter]);
    for m in &n.measures {
        for (breakdown, now, before) in [
            ("region", &m.quarter.by_region, &m.previous.by_region),
            ("kind of scheme", &m.quarter.by_scheme_type, &m.previous.by_scheme_type),
        ] {
            for (name, a, b) in side_by_side(now, before) {
                out.push_str(&line(&[m.name, breakdown, name, &a.text(), &b.text()]));
            }
        }
    }
    out.push_str(&line(&["question", "kind of scheme", "answer group", "volunteers", "declared"]));
    for d in &n.diversity {
        let t = &d.table;
        for (i, (name, row)) in t.rows.iter().zip(&t.cells).enumerate() {
            for (col, c) in t.cols.iter().zip(row) {
                out.push_str(&line(&[
                    d.text,
                    name,
                    col,
                    &c.text(),
                    &percent_text(d.declared_percent[i], d.withheld[i]),
                ]));
            }
        }
        for (col, c) in t.cols.iter().zip(&t.col_totals) {
            let pct = percent_text(d.national_declared_percent, d.national_withheld);
            out.push_str(&line(&[d.text, "England and Wales", col, &c.text(), &pct]));
        }
    }
    Ok(crate::dashboard::csv_download(&format!("signpost-national-{}.csv", n.quarter), out.into(), None))
}

/// National figures for a calendar quarter (default: the last complete one), disclosure control
/// applied: the same tables as the national page and its CSV. For a national reviewer's or
/// administrator's session, or an administrator credential.
#[utoipa::path(
    get,
    path = "/api/v1/national",
    params(("quarter" = Option<String>, Query, description = "A quarter like 2026-Q3, one of the last eight complete ones")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Measures by region and kind of scheme for the quarter and the one before, and diversity tables; suppressed counts read \"suppressed\""),
        (status = 400, body = crate::error::ErrorBody, description = "A quarter not on offer"),
        (status = 401, body = crate::error::ErrorBody, description = "Not signed in and no valid credential"),
        (status = 403, body = crate::error::ErrorBody, description = "Not a national reviewer or administrator"),
    )
)]
pub async fn api(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    Query(q): Query<QuarterQuery>,
) -> Result<Json<National>, crate::error::ApiError> {
    use crate::error::ApiError;
    let bearer_admin = match crate::http::presented_token(&headers, &Default::default()) {
        Some(token) => match crate::http::authenticate(&st, Some(token)).await? {
            crate::store::Credential::Admin => true,
            _ => return Err(ApiError::Forbidden("national figures need a national reviewer".into())),
        },
        None => false,
    };
    if !bearer_admin {
        let s = web::signed_in(&st, &jar)
            .await
            .map_err(|_| ApiError::Unauthorized("sign in as a national reviewer".into()))?;
        allowed(&s).map_err(|_| ApiError::Forbidden("national figures are for national reviewers".into()))?;
    }
    let quarter = chosen(&q).map_err(|e| match e {
        WebError::BadRequest(m) => ApiError::BadRequest(m),
        _ => ApiError::BadRequest("bad quarter".into()),
    })?;
    let n = load(&st, quarter).await.map_err(|e| match e {
        WebError::Internal(e) => ApiError::Internal(e),
        _ => ApiError::Internal(anyhow::anyhow!("national figures failed")),
    })?;
    Ok(Json(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_parse_and_step_back() {
        let q = Quarter::parse("2026-Q1").unwrap();
        assert_eq!(q.first_day().to_string(), "2026-01-01");
        assert_eq!(q.last_day().to_string(), "2026-03-31");
        assert_eq!(q.previous().code(), "2025-Q4");
        assert_eq!(Quarter::parse("2026-Q5"), None);
        assert_eq!(Quarter::containing(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()).code(), "2026-Q4");
        let offered = quarters(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
        assert_eq!(offered.len(), 8);
        assert_eq!(offered[0].code(), "2026-Q3", "complete quarters only");
    }
}
