//! A data folder written by the first release (before the database's layout was versioned)
//! opens in this one with everything in it: accounts still sign in, tablets' credentials still
//! work, every stored document loads and gives the facts stored from it, and the figures add up.
//!
//! The fixture (`fixtures/release-0.1.sqlite3`) was made by that release's binary: a short soak
//! (two desks, offline spells, a relay kill, roster edits through the API, administration
//! commands), then by hand over HTTP an equality answer, an administrator account set up
//! through its set-password link and signed in, two enrolment codes, one of them redeemed.

use signpost_domain::db::{documents, migrations, Store, Sync};
use signpost_domain::sql::Connection;
use signpost_domain::{accounts, audit, equality, figures, schemes, stats, tablets};
use signpost_shared::projection;
use signpost_shared::relay::Meta;
use signpost_shared::schema::DocKind;
use std::collections::BTreeMap;
use std::path::Path;

const SCHEME: &str = "sch-7demrd7mre";
/// The tablet enrolled with a code during the fixture's making, and its name.
const ENROLLED_TOKEN: &str = "spd_dTjD-zAh83W2rU67onapAOOOLaNYSl8cktmfKo20yW4";
const ENROLLED_DEVICE: &str = "dev-gp5zxsuc3g";

const TABLES: &[&str] = &[
    "settings",
    "schemes",
    "sites",
    "tokens",
    "documents",
    "doc_chunks",
    "referral_facts",
    "referral_categories",
    "shift_facts",
    "roster_facts",
    "device_activity",
    "invalid_entries",
    "users",
    "password_codes",
    "sessions",
    "enrol_codes",
    "audit_log",
    "equality_answers",
    "quarter_figures",
    "quarter_volunteers",
];

fn counts(conn: &Connection) -> BTreeMap<&'static str, i64> {
    TABLES
        .iter()
        .map(|t| (*t, conn.query_row(&format!("SELECT count(*) FROM {t}"), (), |r| r.get(0)).unwrap()))
        .collect()
}

fn copy_of_fixture() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release-0.1.sqlite3");
    std::fs::copy(fixture, data.join("signpost.sqlite3")).unwrap();
    (tmp, data)
}

#[test]
fn a_data_folder_of_the_first_release_opens_with_everything_in_it() {
    let (_tmp, data) = copy_of_fixture();
    let before = {
        let raw = Connection::sqlite(rusqlite::Connection::open(data.join("signpost.sqlite3")).unwrap());
        assert_eq!(migrations::version(&raw).unwrap(), 0, "the fixture predates numbered steps");
        counts(&raw)
    };
    assert_eq!(before["referral_facts"], 47);
    assert_eq!(before["documents"], 9);

    let store = Store::open(&data, Sync::Normal).unwrap();
    let conn = store.connect().unwrap();
    assert_eq!(migrations::version(&conn).unwrap(), migrations::latest());
    // The fixture's tablets logged every entry with a clock a year (referrals) or a month
    // (shifts) away from the entry's day: since entry times are bounded, they are invalid
    // entries, no longer counted. Nothing else gained or lost a row.
    let mut after = before.clone();
    for (table, now) in [
        ("referral_facts", 0),
        ("referral_categories", 0),
        ("shift_facts", 0),
        ("quarter_volunteers", 0),
        ("invalid_entries", 49),
    ] {
        after.insert(table, now);
    }
    assert_eq!(counts(&conn), after, "no row gained or lost by opening but the facts now invalid");
    let reasons: Vec<String> = conn
        .prepare("SELECT reason FROM invalid_entries ORDER BY key")
        .unwrap()
        .query_map((), |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(reasons[0].starts_with("`recordedAt` (2025-12-31 "), "{reasons:?}");
    assert!(reasons.iter().all(|r| r.contains("is not within a day of the day's date, 2027-0")), "{reasons:?}");
    assert_eq!(store.storage_id().unwrap(), "relay-tpavnapzqd", "the relay keeps its identity");

    // Schemes and sites.
    assert_eq!(schemes::name_of(&conn, SCHEME).unwrap().as_deref(), Some("Soak"));
    assert_eq!(schemes::sites_of(&conn, SCHEME).unwrap().len(), 23);
    assert!(schemes::roster(&conn, SCHEME).unwrap().len() >= 50);

    // Accounts: the administrator set up by hand still signs in; the soak's coordinators are there.
    let admin = accounts::check_login(&conn, "fixture-admin@example.org", "fixture-password-1").unwrap().unwrap();
    assert_eq!(admin.role, accounts::Role::Admin);
    assert!(accounts::check_login(&conn, "fixture-admin@example.org", "wrong password!").unwrap().is_none());
    assert_eq!(accounts::users(&conn, Some(SCHEME)).unwrap().len(), 22);

    // Tablets: the enrolled one keeps its credential and its name; the list shows every tablet.
    match tablets::check_token(&conn, ENROLLED_TOKEN).unwrap() {
        Some(tablets::Credential::Device(p)) => {
            assert_eq!((p.device.as_str(), p.scheme.as_str()), (ENROLLED_DEVICE, SCHEME))
        }
        other => panic!("the enrolled tablet's credential: {other:?}"),
    }
    let devices = tablets::devices(&conn, SCHEME).unwrap();
    assert_eq!(devices.len(), 25);
    assert_eq!(devices.iter().find(|d| d.id == ENROLLED_DEVICE).unwrap().label, "Fixture tablet");
    assert_eq!(devices.iter().filter(|d| d.last_synced_at.is_some()).count(), 2, "the soak's two tablets synced");

    // Equality answers and the audit log.
    assert!(equality::equality_given(&conn, SCHEME).unwrap().contains_key("vol-cm2juspnpj"));
    assert_eq!(audit::audit_entries(&conn, 1000, None).unwrap().len(), 50);

    // Every document loads, and each desk day gives exactly the facts stored from it.
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM documents")
        .unwrap()
        .query_map((), |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let (mut referrals, mut invalid) = (0, 0);
    for id in &ids {
        let (meta, doc) = documents::load_automerge(&conn, &id.parse().unwrap()).unwrap().expect("stored");
        let Meta::Doc(header) = meta else { panic!("{id} is a draft") };
        if header.kind != DocKind::DeskDay {
            continue;
        }
        let p = projection::project_all(&doc, &header).expect("a desk day projects");
        let stored: i64 =
            conn.query_row("SELECT count(*) FROM referral_facts WHERE doc_id = ?1", [id], |r| r.get(0)).unwrap();
        let projected = p.facts.iter().filter(|f| matches!(f, projection::Fact::Referral(_))).count() as i64;
        assert_eq!(projected, stored, "document {id}");
        referrals += projected;
        let stored: i64 =
            conn.query_row("SELECT count(*) FROM invalid_entries WHERE doc_id = ?1", [id], |r| r.get(0)).unwrap();
        let projected = p.facts.iter().filter(|f| matches!(f, projection::Fact::Invalid { .. })).count() as i64;
        assert_eq!(projected, stored, "document {id}");
        invalid += projected;
    }
    assert_eq!((referrals, invalid), (0, 49));

    // The figures: the quarter's table, the scheme's summary and a recount agree.
    let q1 = figures::per_scheme(&conn, "2027-Q1").unwrap();
    assert_eq!(q1.len(), 1);
    assert_eq!(q1[0].figures, figures::Figures::default());
    let day = |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let summary = stats::summary(&conn, SCHEME, day("2027-01-01"), day("2027-03-31")).unwrap();
    assert_eq!((summary.referrals, summary.voided, summary.invalid_entries), (0, 0, 49));

    // Opening again changes nothing.
    drop(conn);
    let store = Store::open(&data, Sync::Normal).unwrap();
    assert_eq!(counts(&store.connect().unwrap()), after);
}

#[test]
fn a_data_folder_of_a_newer_release_is_refused_untouched() {
    let (_tmp, data) = copy_of_fixture();
    Store::open(&data, Sync::Normal).unwrap();
    let file = data.join("signpost.sqlite3");
    rusqlite::Connection::open(&file).unwrap().pragma_update(None, "user_version", migrations::latest() + 1).unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let err = Store::open(&data, Sync::Normal).err().expect("refused");
    assert!(format!("{err:#}").contains("newer release of Signpost"), "{err:#}");
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "the database is left as it was");
}
