//! A throw-away PostgreSQL cluster for tests, on 127.0.0.1 in a temporary folder: started once
//! per test binary ([`Postgres::shared`]), each test taking a database of its own
//! ([`Postgres::database`]), stopped when the test binary exits.
//!
//! PostgreSQL refuses to run as root, and tests (and CI) run as root here: the cluster's folder
//! then belongs to the `postgres` user and its commands run as that user. The cluster is made
//! for speed, not durability (`fsync` off): a test's data need not survive a power cut.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct Postgres {
    /// The cluster's folder (data in `pg/`, its socket and log beside it).
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    as_postgres: bool,
}

static SHARED: OnceLock<Postgres> = OnceLock::new();

extern "C" {
    fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
}

extern "C" fn stop_shared() {
    if let Some(pg) = SHARED.get() {
        pg.stop();
    }
}

/// Where Debian's PostgreSQL keeps its programs (`/usr/lib/postgresql/<version>/bin`), newest
/// first; `PG_BIN` overrides.
fn bin_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .context("PostgreSQL is not installed (apt-get install postgresql; `cargo xtask test` does it)")?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().context("no PostgreSQL version with initdb under /usr/lib/postgresql")
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Postgres {
    /// The test binary's cluster, started on first use.
    pub fn shared() -> &'static Postgres {
        SHARED.get_or_init(|| {
            let pg = Postgres::start().expect("a throw-away PostgreSQL cluster");
            // SAFETY: registers a plain function to run at exit; it only runs `pg_ctl stop`.
            unsafe { atexit(stop_shared) };
            pg
        })
    }

    /// Starts a new cluster (about a second).
    pub fn start() -> anyhow::Result<Postgres> {
        Postgres::start_with(false)
    }

    /// Starts a new cluster; `durable`: commits reach the disk (`fsync` on, as in production),
    /// for benchmarks compared with SQLite's `--sync full`.
    pub fn start_with(durable: bool) -> anyhow::Result<Postgres> {
        let bin = bin_dir()?;
        let dir = tempfile::Builder::new().prefix("signpost-pg-").tempdir()?.keep();
        let as_postgres = running_as_root();
        if as_postgres {
            let ok = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status()?.success();
            if !ok {
                bail!("cannot give {} to the postgres user", dir.display());
            }
        }
        let port = free_port()?;
        let pg = Postgres { dir, bin, port, as_postgres };
        pg.run("initdb", &["-D", &pg.path("pg"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync={} -c max_connections=200",
            pg.dir.display(),
            if durable { "on" } else { "off" }
        );
        pg.run("pg_ctl", &["-D", &pg.path("pg"), "-o", &options, "-l", &pg.path("pg.log"), "-w", "start"])?;
        Ok(pg)
    }

    /// A new, empty database in the cluster: its connection URL.
    pub fn database(&self, name: &str) -> anyhow::Result<String> {
        let port = self.port.to_string();
        self.run("createdb", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", name])?;
        Ok(self.url(name))
    }

    /// The connection URL of a database in the cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs SQL with `psql` (tests that look at or damage what a relay stored).
    pub fn psql(&self, database: &str, sql: &str) -> anyhow::Result<String> {
        let port = self.port.to_string();
        self.run("psql", &["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-d", database, "-At", "-c", sql])
    }

    /// Stops the cluster at once (`immediate`: the data is thrown away anyway) and removes it.
    pub fn stop(&self) {
        let _ = self.run("pg_ctl", &["-D", &self.path("pg"), "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// Runs one of PostgreSQL's programs (as the `postgres` user when we are root): its output.
    fn run(&self, program: &str, args: &[&str]) -> anyhow::Result<String> {
        let exe = self.bin.join(program);
        let out = if self.as_postgres {
            let line = std::iter::once(exe.to_string_lossy().into_owned())
                .chain(args.iter().map(|a| shell_quote(a)))
                .collect::<Vec<_>>()
                .join(" ");
            Command::new("su").args(["postgres", "-s", "/bin/sh", "-c", &line]).current_dir(&self.dir).output()?
        } else {
            Command::new(&exe).args(args).current_dir(&self.dir).output()?
        };
        if !out.status.success() {
            let log = std::fs::read_to_string(Path::new(&self.path("pg.log"))).unwrap_or_default();
            bail!(
                "{program} failed: {}{}\n{log}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cluster starts, takes databases, answers SQL on 127.0.0.1, and is gone once stopped.
    #[test]
    fn a_throw_away_cluster_starts_answers_and_is_removed() {
        let pg = Postgres::start().unwrap();
        pg.database("first").unwrap();
        pg.database("second").unwrap();
        assert_eq!(pg.psql("first", "SELECT 40 + 2").unwrap(), "42");
        pg.psql("second", "CREATE TABLE t (x int); INSERT INTO t VALUES (7)").unwrap();
        assert_eq!(pg.psql("second", "SELECT x FROM t").unwrap(), "7");
        assert!(pg.psql("first", "SELECT x FROM t").is_err(), "each database is its own");
        let dir = pg.dir.clone();
        pg.stop();
        assert!(!dir.exists());
        assert!(std::net::TcpStream::connect(("127.0.0.1", pg.port)).is_err(), "nothing listens any more");
    }

    /// The test binary's shared cluster gives each caller a database of its own; it is stopped
    /// when the binary exits (checked by hand: no `postgres` process is left after a run).
    #[test]
    fn the_shared_cluster_serves_databases() {
        let pg = Postgres::shared();
        let url = pg.database("shared_one").unwrap();
        assert!(url.ends_with(&format!(":{}/shared_one", pg.port)), "{url}");
        assert_eq!(pg.psql("shared_one", "SELECT current_database()").unwrap(), "shared_one");
    }
}
