//! The storage boundary on a real PostgreSQL (a throw-away cluster on 127.0.0.1): what the domain
//! relies on from the database, the layout's migrations, and the quarterly figures kept by
//! triggers, as on SQLite.

use signpost_domain::db::{migrations, Location, Store, Sync};
use signpost_domain::sql::{conformance, Connection};
use signpost_harness::postgres::Postgres;

fn database(name: &str) -> String {
    Postgres::shared().database(name).unwrap()
}

#[test]
fn postgres_does_what_the_domain_relies_on() {
    let url = database("conformance");
    conformance(&Connection::postgres(&url).unwrap()).unwrap();
}

/// A new database gets the whole layout once, however many relays open it together; opening it
/// again changes nothing; one from a newer release is refused untouched.
#[test]
fn the_layout_is_made_once_and_a_newer_database_is_refused() {
    let url = database("layout");
    let location = Location::Postgres(url.clone());
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let location = location.clone();
            std::thread::spawn(move || Store::open_at(&location, Sync::Normal).map(|_| ()))
        })
        .collect();
    for o in opened {
        o.join().unwrap().unwrap();
    }
    let conn = Connection::postgres(&url).unwrap();
    assert_eq!(migrations::version(&conn).unwrap(), 1);
    let versions: i64 = conn.query_row("SELECT count(*) FROM schema_version", (), |r| r.get(0)).unwrap();
    assert_eq!(versions, 1);
    Store::open_at(&location, Sync::Normal).unwrap();

    conn.execute("UPDATE schema_version SET version = version + 1", ()).unwrap();
    let err = Store::open_at(&location, Sync::Normal).err().expect("refused");
    assert!(err.to_string().contains("newer release of Signpost"), "{err}");
}

/// The quarterly figures follow every insert, change and delete of facts, and equal a recount:
/// the same triggers' work as on SQLite, written for PostgreSQL.
#[test]
fn quarterly_figures_follow_the_facts_on_both_databases() {
    let tmp = tempfile::tempdir().unwrap();
    let url = database("quarters");
    for location in [Location::Folder(tmp.path().to_path_buf()), Location::Postgres(url)] {
        let store = Store::open_at(&location, Sync::Normal).unwrap();
        let conn = store.connect().unwrap();
        conn.execute_batch(
            "INSERT INTO schemes(id, name, created_at) VALUES ('s', 'S', 0);
             INSERT INTO referral_facts(doc_id, id, scheme_id, site_id, day, recorded_at, volunteer, helped,
                 agency_kind, agency, help, follow_up, voided)
             VALUES ('d', 'r1', 's', 'x', '2026-02-03', 0, 'v1', 'self', 'directory', 'a', 'told', 0, 0),
                    ('d', 'r2', 's', 'x', '2026-05-03', 0, 'v1', 'self', 'directory', 'a', 'told', 0, 0),
                    ('d', 'r3', 's', 'x', '2026-05-04', 0, 'v2', 'self', 'directory', 'a', 'told', 0, 1);
             INSERT INTO shift_facts(doc_id, id, scheme_id, site_id, day, volunteer, start_ms, end_ms, minutes)
             VALUES ('d', 's1', 's', 'x', '2026-05-04', 'v2', 0, 1, 90);",
        )
        .unwrap();
        let figures = |conn: &Connection| -> Vec<(String, i64, i64, i64)> {
            conn.prepare(
                "SELECT q.quarter, q.referrals, q.minutes,
                        (SELECT count(*) FROM quarter_volunteers v WHERE v.scheme_id = q.scheme_id AND v.quarter = q.quarter)
                 FROM quarter_figures q ORDER BY q.quarter",
            )
            .unwrap()
            .query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
        };
        let want = vec![("2026-Q1".to_owned(), 1, 0, 1), ("2026-Q2".to_owned(), 1, 90, 2)];
        assert_eq!(figures(&conn), want, "{location:?}");
        conn.execute("UPDATE referral_facts SET voided = 0 WHERE id = 'r3'", ()).unwrap();
        conn.execute("UPDATE referral_facts SET voided = 1 WHERE id = 'r1'", ()).unwrap();
        conn.execute("DELETE FROM shift_facts", ()).unwrap();
        let want = vec![("2026-Q1".to_owned(), 0, 0, 0), ("2026-Q2".to_owned(), 2, 0, 2)];
        assert_eq!(figures(&conn), want, "{location:?}");
        conn.execute("DELETE FROM referral_facts WHERE id = 'r3'", ()).unwrap();
        let want = vec![("2026-Q1".to_owned(), 0, 0, 0), ("2026-Q2".to_owned(), 1, 0, 1)];
        assert_eq!(figures(&conn), want, "{location:?}");
        let err = conn.execute("DELETE FROM audit_log", ());
        assert!(err.is_ok(), "an empty delete touches no row");
        signpost_domain::audit::audit(&conn, "tester", "test", None, "one").unwrap();
        let err = conn.execute("UPDATE audit_log SET detail = 'changed'", ()).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{location:?}: {err}");
    }
}

/// One relay per PostgreSQL database until relays tell each other what changed: a second relay
/// on the same database refuses to start (it would serve documents the first changed behind its
/// back); once the first is gone, another may take over.
#[test]
fn a_second_relay_on_one_database_is_refused_until_the_first_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("database-url"), database("one_relay")).unwrap();
    let mut first = signpost_harness::Server::start(tmp.path(), &[]).unwrap();
    let second = signpost_harness::Server::start(tmp.path(), &[]);
    assert!(second.is_err(), "a second relay started on the same database");
    first.kill();
    let mut third = signpost_harness::Server::start(tmp.path(), &[]).unwrap();
    third.kill();
}
