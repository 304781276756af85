//! Schemes and their sites (desks): creation, names, where a scheme works and what kind it is,
//! and a new scheme's agency directory.

use crate::db::{documents, immediate};
use crate::sql::{params, Connection, OptionalExtension};
use crate::util::{now_ms, random_id};
use signpost_shared::schema::{self, Agency, Header};
use signpost_shared::vocab::{Category, Region, SchemeType};

fn insert_scheme(conn: &Connection, name: &str) -> anyhow::Result<String> {
    let name = checked_name(name)?;
    let id = random_id("sch");
    conn.execute("INSERT INTO schemes(id, name, created_at) VALUES (?1, ?2, ?3)", params![id, name, now_ms()])?;
    Ok(id)
}

pub fn create_site(conn: &Connection, scheme: &str, name: &str) -> anyhow::Result<String> {
    let name = checked_name(name)?;
    if !exists(conn, "SELECT 1 FROM schemes WHERE id = ?1", scheme)? {
        anyhow::bail!("no scheme with id {scheme:?}");
    }
    let id = random_id("site");
    conn.execute(
        "INSERT INTO sites(id, scheme_id, name, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![id, scheme, name, now_ms()],
    )?;
    Ok(id)
}

/// Where a scheme works and what kind it is, for the national figures.
pub fn set_scheme_profile(
    conn: &Connection,
    scheme: &str,
    region: Option<signpost_shared::vocab::Region>,
    kind: Option<signpost_shared::vocab::SchemeType>,
) -> anyhow::Result<()> {
    let n = conn.execute(
        "UPDATE schemes SET region = ?2, scheme_type = ?3 WHERE id = ?1",
        params![scheme, region.map(|r| r.code()), kind.map(|k| k.code())],
    )?;
    if n == 0 {
        anyhow::bail!("no scheme with id {scheme:?}");
    }
    Ok(())
}

/// A site as its scheme's page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub id: String,
    pub name: String,
    /// When the site was closed, if it is: its tablets log nothing more and no new tablet is
    /// enrolled there.
    pub closed_at: Option<i64>,
}

/// A scheme's sites, open ones first, each by name.
pub fn sites(conn: &Connection, scheme: &str) -> anyhow::Result<Vec<Site>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, closed_at FROM sites WHERE scheme_id = ?1 ORDER BY closed_at IS NOT NULL, name",
    )?;
    let rows = stmt.query_map([scheme], |r| Ok(Site { id: r.get(0)?, name: r.get(1)?, closed_at: r.get(2)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Renames a site and opens or closes it (`closed` true keeps an earlier closing time); false
/// when the scheme has no such site.
pub fn update_site(conn: &Connection, scheme: &str, site: &str, name: &str, closed: bool) -> anyhow::Result<bool> {
    let name = checked_name(name)?;
    let n = conn.execute(
        "UPDATE sites SET name = ?3, closed_at = CASE WHEN ?4 THEN coalesce(closed_at, ?5) END
         WHERE id = ?1 AND scheme_id = ?2",
        params![site, scheme, name, closed, now_ms()],
    )?;
    Ok(n == 1)
}

/// The sites that are closed, each with the date (UTC) it closed: the relay takes no day dated
/// after it from their tablets.
pub fn closed_sites(conn: &Connection) -> anyhow::Result<Vec<(String, chrono::NaiveDate)>> {
    let mut stmt = conn.prepare_cached("SELECT id, closed_at FROM sites WHERE closed_at IS NOT NULL")?;
    let rows = stmt.query_map((), |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (site, at) = row?;
        if let Some(t) = chrono::DateTime::from_timestamp_millis(at) {
            out.push((site, t.date_naive()));
        }
    }
    Ok(out)
}

/// Whether the site is closed.
pub fn site_closed(conn: &Connection, site: &str) -> anyhow::Result<bool> {
    Ok(conn.prepare_cached("SELECT 1 FROM sites WHERE id = ?1 AND closed_at IS NOT NULL")?.exists([site])?)
}

/// A scheme's name, region and kind as its page shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Details {
    pub name: String,
    pub region: Option<Region>,
    pub kind: Option<SchemeType>,
}

pub fn details(conn: &Connection, scheme: &str) -> anyhow::Result<Option<Details>> {
    Ok(conn
        .query_row("SELECT name, region, scheme_type FROM schemes WHERE id = ?1", [scheme], |r| {
            let (region, kind): (Option<String>, Option<String>) = (r.get(1)?, r.get(2)?);
            Ok(Details {
                name: r.get(0)?,
                region: region.as_deref().and_then(Region::from_code),
                kind: kind.as_deref().and_then(SchemeType::from_code),
            })
        })
        .optional()?)
}

/// Changes a scheme's name, region and kind; false when there is no such scheme.
pub fn set_details(conn: &Connection, scheme: &str, d: &Details) -> anyhow::Result<bool> {
    let name = checked_name(&d.name)?;
    let n = conn.execute(
        "UPDATE schemes SET name = ?2, region = ?3, scheme_type = ?4 WHERE id = ?1",
        params![scheme, name, d.region.map(|r| r.code()), d.kind.map(|k| k.code())],
    )?;
    Ok(n == 1)
}

fn checked_name(name: &str) -> anyhow::Result<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 120 || name.chars().any(char::is_control) {
        return crate::refuse(
            "Enter a name of 120 characters or fewer, on one line",
            "Rhowch enw o 120 nod neu lai, ar un llinell",
        );
    }
    Ok(name)
}

fn exists(conn: &Connection, sql: &str, arg: &str) -> anyhow::Result<bool> {
    Ok(conn.query_row(sql, [arg], |_| Ok(())).optional()?.is_some())
}

pub fn scheme_exists(conn: &Connection, scheme: &str) -> anyhow::Result<bool> {
    exists(conn, "SELECT 1 FROM schemes WHERE id = ?1", scheme)
}

/// A scheme's sites as (id, name), open ones first (see [`sites`]).
pub fn sites_of(conn: &Connection, scheme: &str) -> anyhow::Result<Vec<(String, String)>> {
    Ok(sites(conn, scheme)?.into_iter().map(|s| (s.id, s.name)).collect())
}

/// The names of a site and its scheme.
pub fn site_and_scheme_names(conn: &Connection, site: &str) -> anyhow::Result<Option<(String, String)>> {
    Ok(conn
        .query_row(
            "SELECT s.name, c.name FROM sites s JOIN schemes c ON c.id = s.scheme_id WHERE s.id = ?1",
            [site],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// National organisations every new scheme's directory starts with. Coordinators add their
/// local agencies on top.
fn starter_agencies() -> Vec<Agency> {
    use Category::*;
    let a = |id: &str, name: &str, cats: &[Category]| Agency {
        id: id.into(),
        name: name.into(),
        phone: None,
        website: None,
        categories: cats.iter().copied().collect(),
        sites: Default::default(),
        retired: false,
    };
    vec![
        a(
            "citizens-advice",
            "Citizens Advice",
            &[DebtBenefitsFinance, Housing, EmploymentTrainingEducation, LegalAdvice],
        ),
        a("shelter", "Shelter", &[Housing]),
        a("stepchange", "StepChange Debt Charity", &[DebtBenefitsFinance, FinesPayments]),
        a("samaritans", "Samaritans", &[MentalHealth]),
        a("mind", "Mind", &[MentalHealth]),
        a("frank", "FRANK", &[DrugsAlcohol]),
        a("domestic-abuse-helpline", "National Domestic Abuse Helpline", &[DomesticAbuse]),
        a("victim-support", "Victim Support", &[VictimWitnessSupport]),
        a("witness-service", "Witness Service", &[VictimWitnessSupport, CourtProcess]),
        a("law-centres", "Law Centres Network", &[LegalAdvice, Immigration]),
        a("jobcentre-plus", "Jobcentre Plus", &[EmploymentTrainingEducation, DebtBenefitsFinance]),
        a("national-careers-service", "National Careers Service", &[EmploymentTrainingEducation]),
        a("family-lives", "Family Lives", &[ChildrenFamilies]),
        a("pact", "Prison Advice and Care Trust", &[ChildrenFamilies, CourtProcess]),
    ]
}

/// Creates a scheme, its profile and its agency directory document in one transaction (the
/// caller's, if it has one): a scheme never exists without its directory. Returns its id.
pub fn create_scheme(
    conn: &Connection,
    name: &str,
    region: Option<Region>,
    kind: Option<SchemeType>,
) -> anyhow::Result<String> {
    create_scheme_with_roster(conn, name, region, kind, &[])
}

/// [`create_scheme`] with volunteers already on its roster (the demo scheme's).
pub fn create_scheme_with_roster(
    conn: &Connection,
    name: &str,
    region: Option<Region>,
    kind: Option<SchemeType>,
    roster: &[&str],
) -> anyhow::Result<String> {
    immediate(conn, |conn| {
        let scheme = insert_scheme(conn, name)?;
        set_scheme_profile(conn, &scheme, region, kind)?;
        let header = Header::directory(&scheme);
        let mut doc = automerge::Automerge::new();
        let mut tx = doc.transaction();
        schema::write_header(&mut tx, &header)?;
        for a in starter_agencies() {
            schema::write_agency(&mut tx, &a)?;
        }
        for name in roster {
            let v = schema::Volunteer { id: random_id("vol"), name: (*name).to_owned(), active: true, pin: None };
            schema::write_volunteer(&mut tx, &v)?;
        }
        tx.commit();
        documents::create_server_doc(conn, &header.well_known_id(), &header, &doc.save())?;
        Ok(scheme)
    })
}

/// A scheme's name, if there is such a scheme.
pub fn name_of(conn: &Connection, scheme: &str) -> anyhow::Result<Option<String>> {
    Ok(conn.query_row("SELECT name FROM schemes WHERE id = ?1", [scheme], |r| r.get(0)).optional()?)
}

/// Whether the site belongs to the scheme.
pub fn site_in_scheme(conn: &Connection, scheme: &str, site: &str) -> anyhow::Result<bool> {
    Ok(conn.prepare_cached("SELECT 1 FROM sites WHERE id = ?1 AND scheme_id = ?2")?.exists([site, scheme])?)
}

/// A scheme in the administrator's list.
pub struct SchemeRow {
    pub id: String,
    pub name: String,
    pub sites: i64,
}

/// Every scheme with how many sites it has, by name.
pub fn all(conn: &Connection) -> anyhow::Result<Vec<SchemeRow>> {
    let mut stmt = conn.prepare(
        "SELECT c.id, c.name, (SELECT COUNT(*) FROM sites s WHERE s.scheme_id = c.id) FROM schemes c ORDER BY c.name",
    )?;
    let rows = stmt.query_map((), |r| Ok(SchemeRow { id: r.get(0)?, name: r.get(1)?, sites: r.get(2)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The scheme's directory document as stored (agencies, roster, settings).
pub fn directory(conn: &Connection, scheme: &str) -> anyhow::Result<automerge::Automerge> {
    Ok(documents::load_automerge(conn, &schema::directory_id(scheme))?.map(|(_, doc)| doc).unwrap_or_default())
}

/// The scheme's roster as stored.
pub fn roster(conn: &Connection, scheme: &str) -> anyhow::Result<Vec<schema::Volunteer>> {
    Ok(schema::read_volunteers(&directory(conn, scheme)?))
}

/// A migrated database in memory with one scheme and one site: (connection, scheme, site), for
/// the domain's tests.
#[cfg(test)]
pub(crate) fn test_db() -> (Connection, String, String) {
    let conn = crate::db::memory().unwrap();
    let scheme = create_scheme(&conn, "S", None, None).unwrap();
    let site = create_site(&conn, &scheme, "Court A").unwrap();
    (conn, scheme, site)
}

#[cfg(test)]
mod tests {
    use crate::db::{self, documents, Store};

    /// A scheme whose directory cannot be stored is not created at all.
    #[test]
    fn a_scheme_is_created_with_its_directory_or_not_at_all() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let conn = Store::open(&dir, db::Sync::Normal).unwrap().connect().unwrap();
        conn.execute_batch(
            "CREATE TRIGGER full_disk BEFORE INSERT ON doc_chunks BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
        assert!(super::create_scheme(&conn, "S", None, None).is_err());
        let schemes: i64 = conn.query_row("SELECT count(*) FROM schemes", (), |r| r.get(0)).unwrap();
        assert_eq!(schemes, 0, "no scheme without its directory");
        conn.execute_batch("DROP TRIGGER full_disk").unwrap();
        let id = super::create_scheme(&conn, "S", None, None).unwrap();
        assert!(documents::load_doc(&conn, &signpost_shared::schema::directory_id(&id)).unwrap().is_some());
    }
}
