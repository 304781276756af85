//! Statistics read from the projected facts. Only aggregates leave here.

use crate::error::ApiError;
use chrono::NaiveDate;
use rusqlite::{params, Connection};
use serde::Serialize;
use signpost_shared::vocab::{Category, HelpKind, Helped, Pathway};
use utoipa::ToSchema;

/// The longest period one summary may cover.
pub const MAX_RANGE_DAYS: i64 = 3_700;

#[derive(Serialize, ToSchema, Debug, PartialEq)]
pub struct Count {
    /// Stable code (vocabulary code, site id or agency id).
    pub key: String,
    /// Human-readable name.
    pub label: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Summary {
    pub scheme: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Referrals in the period, voided ones excluded.
    pub referrals: i64,
    /// Voided referrals in the period (kept for audit, not counted anywhere else).
    pub voided: i64,
    /// Entries in the scheme's documents that do not follow the schema and are not counted.
    pub invalid_entries: i64,
    pub by_day: Vec<Count>,
    pub by_site: Vec<Count>,
    /// A referral with several categories counts once under each.
    pub by_issue_category: Vec<Count>,
    /// A referral counts once per pathway its categories map to.
    pub by_pathway: Vec<Count>,
    pub by_agency: Vec<Count>,
    pub by_kind_of_help: Vec<Count>,
    pub by_who_helped: Vec<Count>,
    pub shifts: i64,
    pub volunteer_minutes: i64,
    pub volunteer_hours: f64,
    /// Volunteers with a shift or a referral in the period.
    pub active_volunteers: i64,
    pub referrals_per_volunteer_hour: Option<f64>,
}

pub fn parse_period(from: &str, to: &str) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let parse = |name: &str, v: &str| {
        NaiveDate::parse_from_str(v, "%Y-%m-%d")
            .map_err(|_| ApiError::BadRequest(format!("`{name}` must be a date written YYYY-MM-DD, not {v:?}")))
    };
    let (from, to) = (parse("from", from)?, parse("to", to)?);
    if from > to {
        return Err(ApiError::BadRequest("`from` must not be after `to`".into()));
    }
    if (to - from).num_days() > MAX_RANGE_DAYS {
        return Err(ApiError::BadRequest(format!("a period may cover at most {MAX_RANGE_DAYS} days")));
    }
    Ok((from, to))
}

fn counts(
    conn: &Connection,
    sql: &str,
    args: impl rusqlite::Params,
    label: impl Fn(&str) -> String,
) -> anyhow::Result<Vec<Count>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(args, |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (key, count) = row?;
        out.push(Count { label: label(&key), key, count });
    }
    Ok(out)
}

fn vocab_label<T: Copy>(from_code: fn(&str) -> Option<T>, label: fn(T) -> &'static str) -> impl Fn(&str) -> String {
    move |k| from_code(k).map(label).unwrap_or(k).to_owned()
}

pub fn summary(conn: &Connection, scheme: &str, from: NaiveDate, to: NaiveDate) -> anyhow::Result<Summary> {
    let (f, t) = (from.format("%Y-%m-%d").to_string(), to.format("%Y-%m-%d").to_string());
    let args = params![scheme, f, t];
    let live = "FROM referral_facts WHERE scheme_id = ?1 AND day BETWEEN ?2 AND ?3 AND voided = 0";
    let scalar = |sql: &str| -> anyhow::Result<i64> { Ok(conn.query_row(sql, args, |r| r.get(0))?) };
    let referrals = scalar(&format!("SELECT COUNT(*) {live}"))?;
    let voided =
        scalar("SELECT COUNT(*) FROM referral_facts WHERE scheme_id = ?1 AND day BETWEEN ?2 AND ?3 AND voided = 1")?;
    let invalid_entries: i64 =
        conn.query_row("SELECT COUNT(*) FROM invalid_entries WHERE scheme_id = ?1", [scheme], |r| r.get(0))?;
    let by_day =
        counts(conn, &format!("SELECT day, COUNT(*) {live} GROUP BY day ORDER BY day"), args, |k| k.to_owned())?;
    let site_names: std::collections::HashMap<String, String> = {
        let mut stmt = conn.prepare_cached("SELECT id, name FROM sites WHERE scheme_id = ?1")?;
        let rows = stmt.query_map([scheme], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let by_site =
        counts(conn, &format!("SELECT site_id, COUNT(*) {live} GROUP BY site_id ORDER BY 2 DESC, 1"), args, |k| {
            site_names.get(k).cloned().unwrap_or_else(|| k.to_owned())
        })?;
    let joined = "FROM referral_categories c JOIN referral_facts r ON r.doc_id = c.doc_id AND r.id = c.id
                  WHERE r.scheme_id = ?1 AND r.day BETWEEN ?2 AND ?3 AND r.voided = 0";
    let by_issue_category = counts(
        conn,
        &format!("SELECT c.category, COUNT(*) {joined} GROUP BY c.category ORDER BY 2 DESC, 1"),
        args,
        vocab_label(Category::from_code, Category::label),
    )?;
    let by_pathway = counts(
        conn,
        &format!(
            "SELECT c.pathway, COUNT(DISTINCT c.doc_id || '/' || c.id) {joined} GROUP BY c.pathway ORDER BY 2 DESC, 1"
        ),
        args,
        vocab_label(Pathway::from_code, Pathway::label),
    )?;
    let by_agency = counts(
        conn,
        &format!("SELECT CASE agency_kind WHEN 'other' THEN 'other' ELSE agency END, COUNT(*) {live} GROUP BY 1 ORDER BY 2 DESC, 1"),
        args,
        |k| if k == "other" { "Other (not in the directory)".to_owned() } else { k.to_owned() },
    )?;
    let by_kind_of_help = counts(
        conn,
        &format!("SELECT help, COUNT(*) {live} GROUP BY help ORDER BY 2 DESC, 1"),
        args,
        vocab_label(HelpKind::from_code, HelpKind::label),
    )?;
    let by_who_helped = counts(
        conn,
        &format!("SELECT helped, COUNT(*) {live} GROUP BY helped ORDER BY 2 DESC, 1"),
        args,
        vocab_label(Helped::from_code, Helped::label),
    )?;
    let (shifts, volunteer_minutes): (i64, i64) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(minutes), 0) FROM shift_facts WHERE scheme_id = ?1 AND day BETWEEN ?2 AND ?3",
        args,
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let active_volunteers = scalar(&format!(
        "SELECT COUNT(*) FROM (SELECT volunteer FROM shift_facts WHERE scheme_id = ?1 AND day BETWEEN ?2 AND ?3
         UNION SELECT volunteer {live} AND volunteer IS NOT NULL)"
    ))?;
    let volunteer_hours = volunteer_minutes as f64 / 60.0;
    Ok(Summary {
        scheme: scheme.to_owned(),
        from,
        to,
        referrals,
        voided,
        invalid_entries,
        by_day,
        by_site,
        by_issue_category,
        by_pathway,
        by_agency,
        by_kind_of_help,
        by_who_helped,
        shifts,
        volunteer_minutes,
        volunteer_hours,
        active_volunteers,
        referrals_per_volunteer_hour: (volunteer_minutes > 0).then(|| referrals as f64 / volunteer_hours),
    })
}
