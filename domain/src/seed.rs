//! The demo data set: a scheme, a site, credentials and one account of each role, made on a
//! new data folder by `signpost serve --demo`.

use crate::accounts::{self, Role};
use crate::db::{Location, Store};
use crate::schemes::{create_scheme_with_roster, create_site};
use crate::sql::{Connection, OptionalExtension};
use crate::tablets::{create_enrol_code, issue_device_token};
use crate::util::random_token;
use signpost_shared::vocab::{Region, SchemeType};

#[derive(serde::Serialize, serde::Deserialize)]
pub struct DemoCredentials {
    pub scheme: String,
    pub site: String,
    pub device_token: String,
    pub admin_token: String,
    /// Web sign-ins: (email, role, password).
    #[serde(default)]
    pub accounts: Vec<(String, String, String)>,
    /// A one-time enrolment code for the demo site's tablet, new at every start (codes last 15
    /// minutes).
    #[serde(skip)]
    pub enrolment_code: String,
    /// The names on the demo scheme's roster now.
    #[serde(skip)]
    pub volunteers: Vec<String>,
}

/// Demo sign-ins for each role, with random passwords.
fn demo_accounts(conn: &crate::sql::Connection, scheme: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    let mut out = Vec::new();
    for (email, role) in [
        ("coordinator@demo.signpost.example", Role::Coordinator { scheme: scheme.to_owned() }),
        ("national@demo.signpost.example", Role::National),
        ("admin@demo.signpost.example", Role::Admin),
    ] {
        let (_, code) = accounts::create_user(conn, email, &role, "demo set-up")?;
        let password = random_token("", 12);
        accounts::set_password(conn, &code, &password)?;
        out.push((email.to_owned(), role.name().to_owned(), password));
    }
    Ok(out)
}

/// Creates the demo scheme, site and credentials on first start and returns them (kept in the
/// data folder, or on PostgreSQL in the settings table, so that every start can print them).
pub fn demo(store: &Store) -> anyhow::Result<DemoCredentials> {
    let conn = store.connect()?;
    let file = match store.location() {
        Location::Folder(dir) => Some(dir.join("demo-credentials.json")),
        Location::Postgres(_) => None,
    };
    // Relays started together on one database make the demo data once.
    let tx = conn.immediate_transaction()?;
    let saved: Option<Vec<u8>> = match &file {
        Some(file) => std::fs::read(file).ok(),
        None => tx
            .query_row("SELECT value FROM settings WHERE key = 'demo_credentials'", (), |r| r.get::<_, String>(0))
            .optional()?
            .map(String::into_bytes),
    };
    let save = |creds: &DemoCredentials| -> anyhow::Result<()> {
        let json = serde_json::to_vec_pretty(creds)?;
        match &file {
            Some(file) => std::fs::write(file, json)?,
            None => {
                tx.execute(
                    "INSERT INTO settings(key, value) VALUES ('demo_credentials', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [String::from_utf8(json)?],
                )?;
            }
        }
        Ok(())
    };
    let creds = demo_in(&tx, saved, &save)?;
    tx.commit()?;
    Ok(creds)
}

fn demo_in(
    conn: &Connection,
    saved: Option<Vec<u8>>,
    save: &dyn Fn(&DemoCredentials) -> anyhow::Result<()>,
) -> anyhow::Result<DemoCredentials> {
    if let Some(bytes) = saved {
        let mut creds: DemoCredentials = serde_json::from_slice(&bytes)?;
        if creds.accounts.is_empty() {
            // A data folder from before web sign-in: add the demo accounts.
            creds.accounts = demo_accounts(conn, &creds.scheme)?;
            save(&creds)?;
        }
        creds.enrolment_code = create_enrol_code(conn, &creds.site, "demo set-up")?;
        creds.volunteers = crate::schemes::roster(conn, &creds.scheme)?.into_iter().map(|v| v.name).collect();
        return Ok(creds);
    }
    // Volunteers on the roster, so that the tablet can be used at once.
    let scheme = create_scheme_with_roster(
        conn,
        "Demo Court Help Desk Scheme",
        Some(Region::London),
        Some(SchemeType::CourtHelpDesk),
        &["Ann E.", "Bo F.", "Cy D."],
    )?;
    let site = create_site(conn, &scheme, "Example Magistrates' Court")?;
    let creds = DemoCredentials {
        enrolment_code: create_enrol_code(conn, &site, "demo set-up")?,
        volunteers: crate::schemes::roster(conn, &scheme)?.into_iter().map(|v| v.name).collect(),
        device_token: issue_device_token(conn, &site)?,
        admin_token: crate::admin_tokens::issue(conn, crate::admin_tokens::DEFAULT_DAYS, "demo")?.token,
        accounts: demo_accounts(conn, &scheme)?,
        scheme,
        site,
    };
    save(&creds)?;
    Ok(creds)
}
