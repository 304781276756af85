//! Where a command's data lives, as its flags say: `--data DIR` (SQLite, the embedded default)
//! or `--database URL` (PostgreSQL), one of the two.

use signpost_domain::db::Location;
use std::path::PathBuf;

#[derive(clap::Args, Clone, Debug)]
#[group(required = true, multiple = false)]
pub struct At {
    /// Data folder (SQLite; created on first start).
    #[arg(long, env = "SIGNPOST_DATA")]
    pub data: Option<PathBuf>,
    /// PostgreSQL database, in place of --data: postgres://USER[:PASSWORD]@HOST[:PORT]/NAME.
    /// Several relays may serve one database.
    #[arg(long, env = "SIGNPOST_DATABASE_URL", value_parser = postgres_url)]
    pub database: Option<String>,
}

fn postgres_url(s: &str) -> Result<String, String> {
    match Location::parse(s) {
        Location::Postgres(url) => Ok(url),
        Location::Folder(_) => Err("a PostgreSQL URL starts with postgres:// or postgresql://".into()),
    }
}

impl At {
    pub fn location(&self) -> Location {
        match (&self.data, &self.database) {
            (Some(dir), _) => Location::Folder(dir.clone()),
            (None, Some(url)) => Location::Postgres(url.clone()),
            (None, None) => unreachable!("clap requires one of --data and --database"),
        }
    }

    /// The flag that names it again (`--data DIR`, `--database URL` without its password).
    pub fn as_flag(&self) -> String {
        match self.location() {
            Location::Folder(dir) => format!("--data {}", dir.display()),
            location => format!("--database {}", location.describe()),
        }
    }

    /// The data folder, for what only SQLite has (backups of the file, the demo's file).
    pub fn folder(&self) -> anyhow::Result<&PathBuf> {
        self.data.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "this command works on a data folder (--data); on PostgreSQL, use its own tools \
                 (pg_dump, pg_restore, replication) for backups and restores"
            )
        })
    }
}

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.location().describe())
    }
}
