//! Server-written documents and the demo data set.

use crate::store::{self, Store};
use rusqlite::Connection;
use signpost_shared::schema::{self, Agency, Header};
use signpost_shared::vocab::{Category, Region, SchemeType};
use std::path::Path;

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
    store::immediate(conn, |conn| {
        let scheme = store::create_scheme(conn, name)?;
        store::set_scheme_profile(conn, &scheme, region, kind)?;
        let header = Header::directory(&scheme);
        let mut doc = automerge::Automerge::new();
        let mut tx = doc.transaction();
        schema::write_header(&mut tx, &header)?;
        for a in starter_agencies() {
            schema::write_agency(&mut tx, &a)?;
        }
        tx.commit();
        store::create_server_doc(conn, &header.well_known_id(), &header, &doc.save())?;
        Ok(scheme)
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct DemoCredentials {
    pub scheme: String,
    pub site: String,
    pub device_token: String,
    pub admin_token: String,
    /// Web sign-ins: (email, role, password).
    #[serde(default)]
    pub accounts: Vec<(String, String, String)>,
}

/// Demo sign-ins for each role, with random passwords.
fn demo_accounts(conn: &mut rusqlite::Connection, scheme: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    use crate::accounts::{self, Role};
    let mut out = Vec::new();
    for (email, role) in [
        ("coordinator@demo.signpost.example", Role::Coordinator { scheme: scheme.to_owned() }),
        ("national@demo.signpost.example", Role::National),
        ("admin@demo.signpost.example", Role::Admin),
    ] {
        let (_, code) = accounts::create_user(conn, email, &role, "demo set-up")?;
        let password = store::random_token("", 12);
        accounts::set_password(conn, &code, &password)?;
        out.push((email.to_owned(), role.name().to_owned(), password));
    }
    Ok(out)
}

/// Creates the demo scheme, site and credentials on first start and returns them (kept in the
/// data folder so that every start can print them).
pub fn demo(store: &Store, dir: &Path) -> anyhow::Result<DemoCredentials> {
    let file = dir.join("demo-credentials.json");
    let mut conn = store.connect()?;
    if let Ok(bytes) = std::fs::read(&file) {
        let mut creds: DemoCredentials = serde_json::from_slice(&bytes)?;
        if creds.accounts.is_empty() {
            // A data folder from before web sign-in: add the demo accounts.
            creds.accounts = demo_accounts(&mut conn, &creds.scheme)?;
            std::fs::write(&file, serde_json::to_vec_pretty(&creds)?)?;
        }
        return Ok(creds);
    }
    let scheme =
        create_scheme(&conn, "Demo Court Help Desk Scheme", Some(Region::London), Some(SchemeType::CourtHelpDesk))?;
    let site = store::create_site(&conn, &scheme, "Example Magistrates' Court")?;
    let creds = DemoCredentials {
        device_token: store::issue_device_token(&conn, &site)?,
        admin_token: store::issue_admin_token(&conn)?,
        accounts: demo_accounts(&mut conn, &scheme)?,
        scheme,
        site,
    };
    std::fs::write(&file, serde_json::to_vec_pretty(&creds)?)?;
    Ok(creds)
}

#[cfg(test)]
mod tests {
    use crate::store::{self, Store};

    /// A scheme whose directory cannot be stored is not created at all.
    #[test]
    fn a_scheme_is_created_with_its_directory_or_not_at_all() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let conn = Store::open(&dir, store::Sync::Normal).unwrap().connect().unwrap();
        conn.execute_batch(
            "CREATE TRIGGER full_disk BEFORE INSERT ON doc_chunks BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;",
        )
        .unwrap();
        assert!(super::create_scheme(&conn, "S", None, None).is_err());
        let schemes: i64 = conn.query_row("SELECT count(*) FROM schemes", [], |r| r.get(0)).unwrap();
        assert_eq!(schemes, 0, "no scheme without its directory");
        conn.execute_batch("DROP TRIGGER full_disk").unwrap();
        let id = super::create_scheme(&conn, "S", None, None).unwrap();
        assert!(store::load_doc(&conn, &signpost_shared::schema::directory_id(&id)).unwrap().is_some());
    }
}
