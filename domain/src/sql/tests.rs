use super::Connection;

#[test]
fn sqlite_does_what_the_domain_relies_on() {
    let conn = Connection::sqlite(rusqlite::Connection::open_in_memory().unwrap());
    super::conformance(&conn).unwrap();
}
