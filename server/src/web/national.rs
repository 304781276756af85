//! The national statistics page and its CSV: the disclosure-controlled tables of
//! [`signpost_domain::national`], for national reviewers and administrators.

use super::csv::{csv_download, csv_line, export_place};
use super::error::{WebError, WebResult};
use super::lang::l;
use super::lang::tf;
use super::layout::{self, figures_table, manage, segment};
use super::session::{db, Reviewer};
use super::words::say;
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
    out.push((l("England and Wales", "Cymru a Lloegr"), now.col_totals[0], before.col_totals[0]));
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

/// A day for people: 15 January 2027 (15 Ionawr 2027).
fn long_date(d: chrono::NaiveDate) -> String {
    layout::day(d)
}

/// A quarter for people: 1 July 2026 to 30 September 2026.
fn quarter_label(q: Quarter) -> String {
    format!("{}{}{}", long_date(q.first_day()), l(" to ", " i "), long_date(q.last_day()))
}

fn table_markup(id: &str, caption: &str, by: &str, n: &National, now: &Published, before: &Published) -> maud::Markup {
    let rows: Vec<(String, Vec<String>)> =
        side_by_side(now, before).into_iter().map(|(name, a, b)| (name.to_owned(), vec![a.text(), b.text()])).collect();
    figures_table(id, Some((caption, "s")), &[by, &n.quarter, &n.previous_quarter], &rows, true)
}

fn percent_text(p: Option<u32>, withheld: bool) -> String {
    match (p, withheld) {
        (_, true) => {
            tf!(
                "withheld ({})",
                "wedi'i atal ({})",
                p.map(|p| format!("{p}%")).unwrap_or_else(|| disclosure::MARKER.to_owned())
            )
        }
        (Some(p), false) => format!("{p}%"),
        (None, false) => disclosure::MARKER.to_owned(),
    }
}

fn diversity_markup(d: &Diversity) -> maud::Markup {
    let t = &d.table;
    let columns: Vec<&str> = std::iter::once(l("Kind of scheme", "Math o gynllun"))
        .chain(t.cols.iter().map(String::as_str))
        .chain([l("Declared", "Wedi datgan")])
        .collect();
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
    rows.push((l("England and Wales", "Cymru a Lloegr").to_owned(), national));
    let id = format!("diversity-{}", d.question.replace('_', "-"));
    // Wide tables scroll on their own (focusable, named) rather than the page sideways.
    html! {
        div class="signpost-scroll" role="region" tabindex="0" aria-label=(say(&d.text)) {
            (figures_table(&id, Some((&d.text, "s")), &columns, &rows, true))
        }
    }
}

fn trend(now: &Published, before: &Published) -> String {
    match (now.col_totals[0].count(), before.col_totals[0].count()) {
        (Some(a), Some(b)) if b > 0 => {
            let pct = (a as f64 - b as f64) / b as f64 * 100.0;
            if pct.abs() < 0.5 {
                (l("no change on the previous quarter", "dim newid ers y chwarter blaenorol")).into()
            } else {
                tf!(
                    "{}{:.0}% on the previous quarter",
                    "{}{:.0}% ers y chwarter blaenorol",
                    if pct > 0.0 { "+" } else { "−" },
                    pct.abs()
                )
            }
        }
        _ => l("no comparison (figures suppressed)", "dim cymhariaeth (ffigurau wedi'u hatal)").into(),
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
        h1 class="govuk-heading-l" { (l("National volunteering statistics", "Ystadegau gwirfoddoli cenedlaethol")) }
        p class="govuk-body" { (quarter_label(quarter)) (l(", compared with the quarter before.", ", o'i gymharu â'r chwarter cynt.")) }
        p class="govuk-body" id="publication" {
            (l("These figures were published on ", "Cyhoeddwyd y ffigurau hyn ar ")) (long_date(published_on)) (l(" and do not change. ", " ac nid ydynt yn newid. "))
            (l("A quarter's figures are published ", "Cyhoeddir ffigurau chwarter ")) (signpost_domain::national::GRACE_DAYS) (l(" days after it ends, once late entries from tablets have arrived.", " diwrnod ar ôl iddo ddod i ben, unwaith y bydd cofnodion hwyr o dabledi wedi cyrraedd."))
        }
        div class="govuk-inset-text" id="not-yet" {
            @let current = signpost_domain::national::Quarter::containing(today);
            (l("Why not ", "Pam nad ")) (quarter_label(current)) (l("? It is still under way: its figures will be published on ", "? Mae'n dal i fynd rhagddo: cyhoeddir ei ffigurau ar ")) (long_date(current.published_on())) ". "
            @if next != current {
                (quarter_label(next)) (l(" will be published on ", " yn cael eu cyhoeddi ar ")) (long_date(next_on)) "."
            }
        }
        form method="get" action="/manage/national" {
            div class="govuk-form-group" {
                label class="govuk-label" for="quarter" { (l("Quarter", "Chwarter")) }
                select class="govuk-select" id="quarter" name="quarter" {
                    @for o in &offered { option value=(o.code()) selected[*o == quarter] { (o.code()) } }
                }
            }
            button type="submit" class="govuk-button govuk-button--secondary" { (l("Show", "Dangos")) }
        }
        div class="govuk-inset-text" {
            (l("To protect individuals, counts below ", "I ddiogelu unigolion, nid yw cyfrifon o dan ")) (n.policy.threshold) (l(" are not shown (", " yn cael eu dangos (")) (disclosure::MARKER)
            (l("), nor hours or referrals that fewer than ", "), nac oriau nac atgyfeiriadau a wnaed gan lai na ")) (n.policy.min_people) (l(" volunteers or ", " gwirfoddolwr neu ")) (n.policy.min_schemes)
            (l(" schemes made up, or that two volunteers made up almost all of, nor any figure from which one of these could be worked out. ", " cynllun, neu y gwnaeth dau wirfoddolwr bron y cyfan ohonynt, nac unrhyw ffigur y gellid cyfrifo un o'r rhain ohono. "))
            (l("Other counts and percentages are rounded to the nearest ", "Mae cyfrifon a chanrannau eraill wedi'u talgrynnu i'r ")) (n.policy.round_to) "."
        }
        @for m in &n.measures {
            h2 class="govuk-heading-m" id=(m.key) { (say(&m.name)) }
            p class="govuk-body" {
                (l("England and Wales: ", "Cymru a Lloegr: ")) strong { (m.quarter.by_region.col_totals[0].text()) } ", "
                (trend(&m.quarter.by_region, &m.previous.by_region)) "."
            }
            (table_markup(&format!("{}-by-region", m.key), &tf!("{} by region", "{} fesul rhanbarth", say(&m.name)), l("Region", "Rhanbarth"), &n, &m.quarter.by_region, &m.previous.by_region))
            (table_markup(&format!("{}-by-scheme-type", m.key), &tf!("{} by kind of scheme", "{} fesul math o gynllun", say(&m.name)), l("Kind of scheme", "Math o gynllun"), &n, &m.quarter.by_scheme_type, &m.previous.by_scheme_type))
        }
        h2 class="govuk-heading-l" id="diversity" { (l("Volunteer diversity", "Amrywiaeth gwirfoddolwyr")) }
        p class="govuk-body" {
            (l("Volunteers on the schemes' rosters when the quarter was published, from the voluntary equality-monitoring form, by kind of scheme. ", "Gwirfoddolwyr ar restrau'r cynlluniau pan gyhoeddwyd y chwarter, o'r ffurflen monitro cydraddoldeb wirfoddol, fesul math o gynllun. "))
            (l("Only declared answers are counted (not \"prefer not to say\" or unanswered). A group is withheld where fewer than ", "Dim ond atebion a ddatganwyd sy'n cael eu cyfrif (nid \"mae'n well gennyf beidio â dweud\" na heb ateb). Mae grŵp yn cael ei atal lle mae llai na "))
            ((n.policy.min_declared * 100.0).round()) (l("% of its volunteers declared.", "% o'i wirfoddolwyr wedi datgan."))
        }
        @for d in &n.diversity {
            (diversity_markup(d))
        }
        p class="govuk-body" {
            a class="govuk-link" href=(format!("{}?quarter={}", manage(&["national.csv"]), segment(&quarter.code()))) download { (l("Download these tables (CSV)", "Lawrlwytho'r tablau hyn (CSV)")) }
            " · "
            a class="govuk-link" href=(format!("/api/v1/national?quarter={}", quarter.code())) { (l("The same as JSON", "Yr un peth fel JSON")) }
        }
    };
    Ok(layout::page(StatusCode::OK, l("National statistics", "Ystadegau cenedlaethol"), Some(&s), body))
}

pub async fn csv(
    State(st): State<AppState>,
    Reviewer(s): Reviewer,
    Query(q): Query<QuarterQuery>,
) -> Result<Response, WebError> {
    let _place = export_place(&st, &s.user)?;
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
            out.push_str(&line(&[&d.text, l("England and Wales", "Cymru a Lloegr"), col, &c.text(), &pct]));
        }
    }
    Ok(csv_download(&format!("signpost-national-{}.csv", n.quarter), out.into(), None))
}
