//! `signpost`: the relay server and its administration commands.

mod api;
mod app_files;
mod auth;
mod commits;
mod listen;
mod location;
mod logs;
mod metrics;
mod ops;
mod relay;
mod serve;
mod state;
mod throttle;
mod web;

use clap::{Parser, Subcommand};
use signpost_domain::db::{Store, Sync};
use signpost_domain::{accounts, admin_tokens, erasure, retention, schemes, tablets};
use std::path::PathBuf;

const ADMIN_HELP: &str = "Administration (signpost admin --help):
  admin create-scheme --data DIR NAME               create a scheme and its agency directory; prints its id
  admin create-site --data DIR --scheme ID NAME     create a site (desk) in a scheme; prints its id
  admin issue-device-token --data DIR --site ID     issue a tablet credential for a site; prints the token
  admin issue-admin-token --data DIR [--days N]     issue an administrator credential valid N days (90;
                                                    at most 366); prints the token, its id on stderr
  admin list-admin-tokens --data DIR                list administrator credentials: id, issued, expires, state
  admin revoke-admin-token --data DIR ID            revoke an administrator credential at once
  admin create-user --data DIR --role ROLE [--scheme ID] EMAIL
                                                    create a coordinator (one scheme), national or admin
                                                    account; prints a one-time set-password code
  admin reset-password --data DIR EMAIL             end an account's password; prints a new set-password code
  admin revoke-device --data DIR --scheme ID DEVICE revoke a tablet (its open connection closes too)
  admin erase-referral --data DIR [--scheme ID] ENTRY
                                                    erase a referral from every stored byte (its day is
                                                    replaced; works with or without a running relay);
                                                    --scheme when several schemes hold that id
  admin redact-notes --data DIR [--scheme ID] ENTRY the same for a referral's notes only
  admin purge --data DIR                            remove desk-days past each scheme's retention period
                                                    (a running relay does it daily); prints what it removed
  admin backup --data DIR FILE                      write a consistent backup of the data folder to FILE
                                                    (while a relay serves it, too) and check it
  admin restore FILE --data DIR                     restore a backup into DIR, a new, empty data folder
  admin check --data DIR                            SQLite's integrity check, every document loads, and the
                                                    statistics equal a recount from the documents; exits 1
                                                    with a report when anything fails

Tablets are usually enrolled from the web pages (/manage): a coordinator creates a one-time code
for a site and types it into the tablet.";

#[derive(Parser)]
#[command(name = "signpost", version, about = "Signpost: offline-first referral recording for volunteer help desks", after_help = ADMIN_HELP)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay: WebSocket sync at /sync, JSON API at /api/v1, the tablet app at /.
    Serve(serve::ServeArgs),
    /// Administration commands. Run them on the server machine; they write to the data folder.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Create a scheme and its agency directory; prints only the new scheme id.
    CreateScheme {
        #[command(flatten)]
        data: location::At,
        /// Region, for national figures: north-east, north-west, yorkshire-humber, east-midlands,
        /// west-midlands, east-of-england, london, south-east, south-west or wales.
        #[arg(long, value_parser = parse_region)]
        region: Option<signpost_shared::vocab::Region>,
        /// Kind of scheme: court-help-desk, community-advice-desk, prison-chaplaincy,
        /// community-chaplaincy or other.
        #[arg(long = "type", value_parser = parse_scheme_type)]
        kind: Option<signpost_shared::vocab::SchemeType>,
        name: String,
    },
    /// Create a site (a desk) in a scheme; prints only the new site id.
    CreateSite {
        #[command(flatten)]
        data: location::At,
        #[arg(long)]
        scheme: String,
        name: String,
    },
    /// Issue a credential for a tablet at a site; prints only the token.
    IssueDeviceToken {
        #[command(flatten)]
        data: location::At,
        #[arg(long)]
        site: String,
    },
    /// Issue an administrator credential; prints only the token (its id and expiry on stderr).
    IssueAdminToken {
        #[command(flatten)]
        data: location::At,
        /// Days it is valid for, 1 to 366.
        #[arg(long, default_value_t = admin_tokens::DEFAULT_DAYS)]
        days: u32,
    },
    /// List administrator credentials: id, when issued, when they expire, and whether valid.
    ListAdminTokens {
        #[command(flatten)]
        data: location::At,
    },
    /// Revoke an administrator credential by its id; it is refused from the next request.
    RevokeAdminToken {
        #[command(flatten)]
        data: location::At,
        id: String,
    },
    /// Create a web account; prints a one-time code for /set-password?code=… (valid 3 days).
    CreateUser {
        #[command(flatten)]
        data: location::At,
        /// coordinator (of one scheme), national (statistics only) or admin.
        #[arg(long)]
        role: String,
        /// The coordinator's scheme.
        #[arg(long)]
        scheme: Option<String>,
        email: String,
    },
    /// End an account's password and sessions; prints a new one-time set-password code.
    ResetPassword {
        #[command(flatten)]
        data: location::At,
        email: String,
    },
    /// Revoke a tablet. A running relay closes its connection within seconds.
    RevokeDevice {
        #[command(flatten)]
        data: location::At,
        #[arg(long)]
        scheme: String,
        device: String,
    },
    /// Erase a referral from every stored byte: its day is replaced by a copy without it (a
    /// running relay refuses the old day within a second); prints the days rewritten.
    EraseReferral {
        #[command(flatten)]
        data: location::At,
        /// The scheme whose referral it is; needed when several schemes hold a referral with
        /// this id (ids are chosen by whoever wrote them).
        #[arg(long)]
        scheme: Option<String>,
        /// The id after `referral:` in the document.
        entry: String,
    },
    /// Redact a referral's notes from every stored byte (it stays counted); prints the days
    /// rewritten.
    RedactNotes {
        #[command(flatten)]
        data: location::At,
        /// The scheme whose referral it is; needed when several schemes hold a referral with
        /// this id.
        #[arg(long)]
        scheme: Option<String>,
        entry: String,
    },
    /// Remove desk-days older than each scheme's retention period now (a running relay does it
    /// daily and refuses them from then on); prints what was removed.
    Purge {
        #[command(flatten)]
        data: location::At,
    },
    /// Write a consistent backup of the data folder's database to a new file, and check it. Safe
    /// while a relay serves the folder.
    Backup {
        #[command(flatten)]
        data: location::At,
        file: PathBuf,
    },
    /// Check a data folder: SQLite's integrity check, every document loads, the statistics equal
    /// a recount from the documents. Exits with status 1 when anything fails.
    Check {
        #[command(flatten)]
        data: location::At,
    },
    /// Restore a backup into a new, empty data folder (checked first; brought up to this release).
    Restore {
        file: PathBuf,
        /// The new data folder.
        #[arg(long)]
        data: PathBuf,
    },
}

/// A time for a person at a terminal: UTC, to the minute.
fn date_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

fn parse_region(s: &str) -> Result<signpost_shared::vocab::Region, String> {
    signpost_shared::vocab::Region::from_code(s).ok_or_else(|| format!("unknown region {s:?}"))
}

fn parse_scheme_type(s: &str) -> Result<signpost_shared::vocab::SchemeType, String> {
    signpost_shared::vocab::SchemeType::from_code(s).ok_or_else(|| format!("unknown scheme type {s:?}"))
}

/// Erases (or redacts) one scheme's referral from the command line: the scheme named, or the
/// only one holding the id; what to print, or why not.
fn erase(store: &Store, scheme: Option<&str>, entry: &str, how: erasure::Erasure) -> anyhow::Result<String> {
    let conn = store.connect()?;
    let scheme = match erasure::target(&conn, entry, scheme)? {
        erasure::Target::Scheme(s) => s,
        erasure::Target::Nowhere => match scheme {
            Some(s) => anyhow::bail!("no stored day of scheme {s:?} holds a referral {entry:?}"),
            None => anyhow::bail!("no stored day holds a referral {entry:?}"),
        },
        erasure::Target::Several(schemes) => anyhow::bail!(
            "schemes {} each hold a referral {entry:?}; name the one to change with --scheme",
            schemes.join(", ")
        ),
    };
    let new_id = || signpost_shared::ids::DocumentId::random(rand::random());
    let done = erasure::erase(&conn, &scheme, entry, how, "command line", new_id)?;
    if done.is_empty() {
        anyhow::bail!("no stored day holds a referral {entry:?}");
    }
    Ok(done.iter().map(|r| format!("{} replaced by {}", r.old, r.new)).collect::<Vec<_>>().join("\n"))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Command::Admin(cmd) => admin(cmd),
        Command::Serve(args) => {
            logs::init(args.log_format, args.log_level.as_deref());
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
            rt.block_on(serve::run(args))
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("signpost: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn admin(cmd: Admin) -> anyhow::Result<()> {
    let open = |at: &location::At| Store::open_at(&at.location(), Sync::Full);
    let out = match cmd {
        Admin::CreateScheme { data, region, kind, name } => {
            schemes::create_scheme(&open(&data)?.connect()?, &name, region, kind)?
        }
        Admin::CreateSite { data, scheme, name } => schemes::create_site(&open(&data)?.connect()?, &scheme, &name)?,
        Admin::IssueDeviceToken { data, site } => tablets::issue_device_token(&open(&data)?.connect()?, &site)?,
        Admin::IssueAdminToken { data, days } => {
            let t = admin_tokens::issue(&open(&data)?.connect()?, days, "command line")?;
            eprintln!(
                "Administrator token {id} valid until {} UTC; revoke it with `signpost admin revoke-admin-token \
                 {} {id}`.",
                date_time(t.expires_at),
                data.as_flag(),
                id = t.id,
            );
            t.token
        }
        Admin::ListAdminTokens { data } => {
            let now = signpost_domain::util::now_ms();
            let tokens = admin_tokens::list(&open(&data)?.connect()?)?;
            let mut out = format!("{:<16} {:<17} {:<17} state", "id", "issued (UTC)", "expires (UTC)");
            for t in tokens {
                let state = match (t.revoked_at, t.valid_at(now)) {
                    (Some(at), _) => format!("revoked {}", date_time(at)),
                    (None, true) => "valid".into(),
                    (None, false) => "expired".into(),
                };
                let expires = t.expires_at.map(date_time).unwrap_or_else(|| "never".into());
                out += &format!("\n{:<16} {:<17} {:<17} {state}", t.id, date_time(t.created_at), expires);
            }
            out
        }
        Admin::RevokeAdminToken { data, id } => {
            if !admin_tokens::revoke(&open(&data)?.connect()?, &id, "command line")? {
                anyhow::bail!("there is no unrevoked administrator token {id:?} (see list-admin-tokens)");
            }
            format!("revoked {id}")
        }
        Admin::CreateUser { data, role, scheme, email } => {
            let role = accounts::Role::parse(&role, scheme)?;
            let (user, code) = accounts::create_user(&open(&data)?.connect()?, &email, &role, "command line")?;
            eprintln!(
                "Created {} ({}). Open /set-password?code=<code> on the relay to choose a password:",
                user.email,
                role.name()
            );
            code
        }
        Admin::ResetPassword { data, email } => {
            let conn = open(&data)?.connect()?;
            let email = accounts::normalise_email(&email)?;
            let user = accounts::users(&conn, None)?.into_iter().find(|u| u.email == email);
            let user = user.ok_or_else(|| anyhow::anyhow!("no account for {email}"))?;
            accounts::reset_password(&conn, &user.id, "command line")?.1
        }
        Admin::RevokeDevice { data, scheme, device } => {
            let conn = open(&data)?.connect()?;
            if !tablets::revoke_device(&conn, &scheme, &device, "command line")? {
                anyhow::bail!("scheme {scheme:?} has no unrevoked tablet {device:?}");
            }
            format!("revoked {device}")
        }
        Admin::EraseReferral { data, scheme, entry } => {
            erase(&open(&data)?, scheme.as_deref(), &entry, erasure::Erasure::Erase)?
        }
        Admin::RedactNotes { data, scheme, entry } => {
            erase(&open(&data)?, scheme.as_deref(), &entry, erasure::Erasure::RedactNotes)?
        }
        Admin::Purge { data } => {
            let today = chrono::Utc::now().date_naive();
            let r = retention::purge(&open(&data)?.connect()?, today, "command line")?;
            let mut out = format!(
                "removed {} desk-days, {} drafts and {} old usage counts",
                r.days.len(),
                r.drafts,
                r.usage_rows
            );
            for d in &r.days {
                let (site, day) = (d.site.as_deref().unwrap_or("-"), d.day.as_deref().unwrap_or("-"));
                out += &format!("\n{} {site} {day} {}", d.scheme, d.doc);
            }
            out
        }
        Admin::Backup { data, file } => {
            let folder = data.folder()?;
            let b = signpost_domain::backup::backup(folder, &file)?;
            format!("backed up {} to {}: {b}; SQLite's integrity check: ok", folder.display(), file.display())
        }
        Admin::Check { data } => {
            // Read as it is: nothing is migrated or written.
            let conn = match data.location() {
                signpost_domain::db::Location::Folder(dir) => {
                    let db = signpost_domain::backup::database(&dir);
                    if !db.exists() {
                        anyhow::bail!("there is no Signpost database in {}", dir.display());
                    }
                    signpost_domain::sql::Connection::sqlite(rusqlite::Connection::open_with_flags(
                        &db,
                        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                    )?)
                }
                location => Store::open_at(&location, Sync::Full)?.connect()?,
            };
            let report = signpost_domain::integrity::check(&conn)?;
            println!("{report}");
            if !report.ok() {
                std::process::exit(1);
            }
            return Ok(());
        }
        Admin::Restore { file, data } => {
            let r = signpost_domain::backup::restore(&file, &data)?;
            format!(
                "restored {} into {}: {r}. Start the relay on it; tablets send again whatever they hold that \
                 came after the backup",
                file.display(),
                data.display()
            )
        }
    };
    println!("{out}");
    Ok(())
}
