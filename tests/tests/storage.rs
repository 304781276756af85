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
    assert_eq!(migrations::version(&conn).unwrap(), 4, "every PostgreSQL step: the layout, attempts, days set aside, facts re-projected");
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

/// Relays hear each other: an announcement committed on one connection reaches the listener
/// (named documents), a rolled-back one never does, and the listener reports `All` when it
/// connects (whatever was announced before it listened was missed) and again after its
/// connection was cut and it reconnected, then hears announcements as before.
#[test]
fn the_listener_hears_committed_announcements_only() {
    use signpost_domain::db::listen::{self, Changed};
    let url = database("listening");
    Store::open_at(&Location::Postgres(url.clone()), Sync::Normal).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    listen::spawn(url.clone(), move |c| tx.send(c).is_ok()).unwrap();
    let within = std::time::Duration::from_secs(10);
    assert_eq!(rx.recv_timeout(within).unwrap(), Changed::All);
    let conn = Connection::postgres(&url).unwrap();
    let doc: signpost_shared::ids::DocumentId = signpost_shared::ids::DocumentId::random([7; 16]);
    {
        let t = conn.immediate_transaction().unwrap();
        signpost_domain::db::documents::announce_changed(&t, &[doc]).unwrap();
        t.rollback().unwrap();
    }
    let t = conn.immediate_transaction().unwrap();
    signpost_domain::db::documents::announce_changed(&t, &[doc]).unwrap();
    t.commit().unwrap();
    let started = std::time::Instant::now();
    assert_eq!(rx.recv_timeout(within).unwrap(), Changed::Docs(vec![doc]));
    assert!(started.elapsed() < std::time::Duration::from_millis(500), "heard after {:?}", started.elapsed());

    // The listening connection is cut (a failover of the database, a network blip).
    let cut: i64 = conn
        .query_row(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()",
            (),
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(cut, 1, "the listener's connection");
    assert_eq!(rx.recv_timeout(within).unwrap(), Changed::All, "read everything after reconnecting");
    let t = conn.immediate_transaction().unwrap();
    signpost_domain::db::documents::announce_changed(&t, &[doc]).unwrap();
    t.commit().unwrap();
    assert_eq!(rx.recv_timeout(within).unwrap(), Changed::Docs(vec![doc]));
}
