//! Individual-level exports: a period's referrals row by row (the coordinator's CSV download).
//! Reading them is audited by the caller, in the same snapshot.

use chrono::NaiveDate;
use std::collections::HashMap;

/// Gives `out` the columns, then each of a period's referrals (not voided) as a row, in export
/// order (day, then referral), one at a time: constant memory however long the period. Ids
/// become names through `names`; codes become their labels. No notes, ever.
pub fn referral_rows(
    conn: &crate::sql::Connection,
    scheme: &str,
    site: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
    names: &Names,
    mut out: impl FnMut(&[&str]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    use signpost_shared::vocab::{AgeBand, Category, HelpKind, Helped};
    out(&[
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
    ])?;
    let mut stmt = conn.prepare(
        "SELECT r.doc_id, r.id, r.day, r.site_id, r.recorded_at, r.volunteer, r.helped, r.age_band, r.agency_kind,
                r.agency, r.help, r.follow_up, c.category
         FROM referral_facts r LEFT JOIN referral_categories c ON c.doc_id = r.doc_id AND c.id = r.id
         WHERE r.scheme_id = ?1 AND r.day BETWEEN ?2 AND ?3 AND (CAST(?4 AS TEXT) IS NULL OR r.site_id = ?4) AND r.voided = 0
         ORDER BY r.day, r.doc_id, r.id",
    )?;
    let (f, t) = (from.format("%Y-%m-%d").to_string(), to.format("%Y-%m-%d").to_string());
    let mut rows = stmt.query(crate::params![scheme, f, t, site])?;
    // Categories of a referral arrive on consecutive rows; a line is written when the next starts.
    let mut pending: Option<(String, Vec<String>, Vec<String>)> = None; // (key, fields, categories)
    let flush = |p: Option<(String, Vec<String>, Vec<String>)>, out: &mut dyn FnMut(&[&str]) -> anyhow::Result<()>| {
        if let Some((_, mut fields, cats)) = p {
            fields.insert(6, cats.join("; "));
            let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
            out(&refs)?;
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
pub struct Names {
    pub sites: HashMap<String, String>,
    pub volunteers: HashMap<String, String>,
    pub agencies: HashMap<String, String>,
}

pub fn names(conn: &crate::sql::Connection, scheme: &str) -> anyhow::Result<Names> {
    let sites = crate::schemes::sites_of(conn, scheme)?.into_iter().collect();
    let dir = crate::schemes::directory(conn, scheme)?;
    Ok(Names {
        sites,
        volunteers: signpost_shared::schema::read_volunteers(&dir).into_iter().map(|v| (v.id, v.name)).collect(),
        agencies: signpost_shared::schema::read_agencies(&dir).into_iter().map(|a| (a.id, a.name)).collect(),
    })
}
