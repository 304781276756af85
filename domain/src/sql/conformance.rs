//! What the domain relies on from either database, checked the same way on both: run by this
//! crate's tests on SQLite and by the suite on a throw-away PostgreSQL.

use super::{Backend, Connection, Error, OptionalExtension, Value};
use anyhow::ensure;

/// Runs every check on `conn`, a connection to an empty database (it makes and drops its own
/// tables, named `conformance_*`).
pub fn conformance(conn: &Connection) -> anyhow::Result<()> {
    let (int, blob) = match conn.backend() {
        Backend::Sqlite => ("INTEGER", "BLOB"),
        Backend::Postgres => ("BIGINT", "BYTEA"),
    };
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS conformance_t;
         CREATE TABLE conformance_t (id TEXT PRIMARY KEY, n {int}, flag {int} NOT NULL, bytes {blob}, note TEXT)"
    ))?;

    // Parameters of every kind, numbered and reused; NULLs both ways.
    let big = i64::MAX - 7;
    let inserted = conn.execute(
        "INSERT INTO conformance_t(id, n, flag, bytes, note) VALUES (?1, ?2, ?3, ?4, ?5)",
        params!["a", big, true, vec![0u8, 255, 7], None::<String>],
    )?;
    ensure!(inserted == 1, "one row inserted, not {inserted}");
    conn.execute("INSERT INTO conformance_t(id, n, flag) VALUES (?1, ?2, ?3)", params!["b", 5i64, false])?;
    let row: (i64, bool, Vec<u8>, Option<String>) =
        conn.query_row("SELECT n, flag, bytes, note FROM conformance_t WHERE id = ?1", ["a"], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get("note")?))
        })?;
    ensure!(row == (big, true, vec![0, 255, 7], None), "row read back as {row:?}");

    // Aggregates read back as integers (PostgreSQL's SUM is a numeric), booleans as integers,
    // COUNT as an integer; a parameter compared with an integer column binds as one.
    let (sum, count, flags): (i64, i64, i64) = conn.query_row(
        "SELECT SUM(n) - ?1, COUNT(*), SUM(flag) FROM conformance_t WHERE flag >= ?2",
        params![big, 0],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    ensure!((sum, count, flags) == (5, 2, 1), "aggregates read back as {:?}", (sum, count, flags));
    let negative: i64 =
        conn.query_row("SELECT SUM(n) FROM conformance_t WHERE id = 'b' AND n > ?1", [-100_000_000_000i64], |r| {
            r.get(0)
        })?;
    ensure!(negative == 5, "a sum read back as {negative}");
    let big_sum: Value =
        conn.query_row("SELECT SUM(n) FROM conformance_t WHERE id = 'b' AND ?1", [true], |r| r.get(0))?;
    ensure!(big_sum == Value::Integer(5), "a sum read back as {big_sum:?}");
    let nothing: Option<i64> =
        conn.query_row("SELECT SUM(n) FROM conformance_t WHERE id = 'none'", (), |r| r.get(0))?;
    ensure!(nothing.is_none(), "the sum of no rows read back as {nothing:?}");
    let compared: bool = conn.query_row("SELECT n = ?1 FROM conformance_t WHERE id = 'b'", [5i64], |r| r.get(0))?;
    ensure!(compared, "a comparison read back as false");
    let joined: String =
        conn.query_row("SELECT string_agg(id, ',' ORDER BY id DESC) FROM conformance_t", (), |r| r.get(0))?;
    ensure!(joined == "b,a", "string_agg gave {joined}");

    // No row is NoRows, and `optional` makes it None; a wrong type is an error, not a panic.
    let missing = conn.query_row("SELECT n FROM conformance_t WHERE id = 'zz'", (), |r| r.get::<_, i64>(0));
    ensure!(matches!(missing, Err(Error::NoRows)), "no row gave {missing:?}");
    let missing: Option<i64> =
        conn.query_row("SELECT n FROM conformance_t WHERE id = 'zz'", (), |r| r.get(0)).optional()?;
    ensure!(missing.is_none());
    let wrong = conn.query_row("SELECT id FROM conformance_t WHERE id = 'a'", (), |r| r.get::<_, i64>(0));
    ensure!(matches!(wrong, Err(Error::Conversion { .. })), "text read as an integer gave {wrong:?}");

    // Upserts in the shared dialect; a unique violation is recognised.
    conn.execute(
        "INSERT INTO conformance_t(id, n, flag) VALUES ('b', 6, 0) ON CONFLICT (id) DO UPDATE SET n = conformance_t.n + excluded.n",
        (),
    )?;
    conn.execute("INSERT INTO conformance_t(id, n, flag) VALUES ('b', 100, 0) ON CONFLICT DO NOTHING", ())?;
    let n: i64 = conn.query_row("SELECT n FROM conformance_t WHERE id = 'b'", (), |r| r.get(0))?;
    ensure!(n == 11, "the upsert left {n}");
    let dup = conn.execute("INSERT INTO conformance_t(id, flag) VALUES ('b', 0)", ()).unwrap_err();
    ensure!(dup.is_unique_violation(), "a duplicate key gave {dup}");

    // Rows in order, one at a time; query_map; exists.
    let mut stmt = conn.prepare("SELECT id FROM conformance_t ORDER BY id")?;
    let ids: Vec<String> = stmt.query_map((), |r| r.get(0))?.collect::<Result<_, _>>()?;
    ensure!(ids == ["a", "b"], "rows came as {ids:?}");
    ensure!(conn.prepare("SELECT 1 FROM conformance_t WHERE id = ?1")?.exists(["a"])?);
    ensure!(!conn.prepare("SELECT 1 FROM conformance_t WHERE id = ?1")?.exists(["c"])?);
    // Text sorts by bytes, as SQLite's default: upper case before lower.
    conn.execute("INSERT INTO conformance_t(id, flag) VALUES ('B', 0), ('_', 0)", ())?;
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM conformance_t ORDER BY id")?
        .query_map((), |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    if conn.backend() == Backend::Sqlite {
        ensure!(ids == ["B", "_", "a", "b"], "rows came as {ids:?}");
    }

    // A transaction rolls back when dropped, commits when told; a savepoint rolls back alone;
    // after a failed statement inside a savepoint, rolling back to it lets the transaction go on.
    {
        let tx = conn.immediate_transaction()?;
        tx.execute("DELETE FROM conformance_t", ())?;
    }
    let kept: i64 = conn.query_row("SELECT COUNT(*) FROM conformance_t", (), |r| r.get(0))?;
    ensure!(kept == 4, "a dropped transaction kept its delete ({kept} rows left)");
    ensure!(conn.is_autocommit());
    {
        let tx = conn.immediate_transaction()?;
        ensure!(!tx.is_autocommit());
        tx.execute("DELETE FROM conformance_t WHERE id = 'B'", ())?;
        {
            let sp = tx.savepoint()?;
            sp.execute("DELETE FROM conformance_t", ())?;
            let failed = sp.execute("INSERT INTO conformance_t(id, flag) VALUES ('a', NULL)", ());
            ensure!(failed.is_err(), "a NULL in a NOT NULL column was taken");
        }
        {
            let sp = tx.savepoint()?;
            sp.execute("UPDATE conformance_t SET note = 'kept' WHERE id = 'a'", ())?;
            sp.commit()?;
        }
        tx.commit()?;
    }
    let rows: Vec<(String, Option<String>)> = conn
        .prepare("SELECT id, note FROM conformance_t ORDER BY id")?
        .query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    ensure!(
        rows == [("_".into(), None), ("a".into(), Some("kept".into())), ("b".into(), None)],
        "after the transaction: {rows:?}"
    );
    ensure!(conn.is_autocommit());

    // A nested "transaction" inside one is a savepoint.
    {
        let tx = conn.transaction()?;
        {
            let inner = tx.transaction()?;
            inner.execute("DELETE FROM conformance_t WHERE id = '_'", ())?;
        }
        tx.commit()?;
    }
    let kept: i64 = conn.query_row("SELECT COUNT(*) FROM conformance_t", (), |r| r.get(0))?;
    ensure!(kept == 3, "an inner transaction's dropped delete was kept ({kept} rows)");

    conn.execute_batch("DROP TABLE conformance_t")?;
    Ok(())
}
