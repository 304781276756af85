//! `signpost`: the relay server and its administration commands.

mod accounts;
mod dashboard;
mod error;
mod figures;
mod http;
mod hub;
mod national;
mod seed;
mod stats;
mod store;
mod throttle;
mod web;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

const ADMIN_HELP: &str = "Administration (signpost admin --help):
  admin create-scheme --data DIR NAME               create a scheme and its agency directory; prints its id
  admin create-site --data DIR --scheme ID NAME     create a site (desk) in a scheme; prints its id
  admin issue-device-token --data DIR --site ID     issue a tablet credential for a site; prints the token
  admin issue-admin-token --data DIR                issue an administrator credential; prints the token
  admin create-user --data DIR --role ROLE [--scheme ID] EMAIL
                                                    create a coordinator (one scheme), national or admin
                                                    account; prints a one-time set-password code
  admin reset-password --data DIR EMAIL             end an account's password; prints a new set-password code
  admin revoke-device --data DIR --scheme ID DEVICE revoke a tablet (its open connection closes too)

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
    Serve(ServeArgs),
    /// Administration commands. Run them on the server machine; they write to the data folder.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Data folder (created on first start).
    #[arg(long)]
    data: PathBuf,
    /// Create a demo scheme, site and credentials if missing, and print them.
    #[arg(long)]
    demo: bool,
    /// Folder of the built tablet app to serve at `/`.
    #[arg(long)]
    static_dir: Option<PathBuf>,
    /// How commits reach the disk: `full` survives power loss, `normal` a killed process.
    #[arg(long, value_enum, default_value = "full")]
    sync: store::Sync,
    /// Seconds a document may sit unused before it leaves memory.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,
    /// Largest WebSocket message accepted, in bytes.
    #[arg(long, default_value_t = 8 << 20)]
    max_message_bytes: usize,
    /// The relay is reached through a TLS proxy: mark cookies `Secure`. (A proxy that sends
    /// `X-Forwarded-Proto: https` gets them marked anyway.)
    #[arg(long)]
    behind_tls: bool,
    /// National figures: counts below this are suppressed (5 or more).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(5..))]
    disclosure_threshold: u64,
}

#[derive(Subcommand)]
enum Admin {
    /// Create a scheme and its agency directory; prints only the new scheme id.
    CreateScheme {
        #[arg(long)]
        data: PathBuf,
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
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        scheme: String,
        name: String,
    },
    /// Issue a credential for a tablet at a site; prints only the token.
    IssueDeviceToken {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        site: String,
    },
    /// Issue an administrator credential; prints only the token.
    IssueAdminToken {
        #[arg(long)]
        data: PathBuf,
    },
    /// Create a web account; prints a one-time code for /set-password?code=… (valid 3 days).
    CreateUser {
        #[arg(long)]
        data: PathBuf,
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
        #[arg(long)]
        data: PathBuf,
        email: String,
    },
    /// Revoke a tablet. A running relay closes its connection within seconds.
    RevokeDevice {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        scheme: String,
        device: String,
    },
}

fn parse_region(s: &str) -> Result<signpost_shared::vocab::Region, String> {
    signpost_shared::vocab::Region::from_code(s).ok_or_else(|| format!("unknown region {s:?}"))
}

fn parse_scheme_type(s: &str) -> Result<signpost_shared::vocab::SchemeType, String> {
    signpost_shared::vocab::SchemeType::from_code(s).ok_or_else(|| format!("unknown scheme type {s:?}"))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Command::Admin(cmd) => admin(cmd),
        Command::Serve(args) => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "signpost=info".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
            rt.block_on(serve(args))
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
    let open = |data: &PathBuf| store::Store::open(data, store::Sync::Full);
    let out = match cmd {
        Admin::CreateScheme { data, region, kind, name } => {
            seed::create_scheme(&open(&data)?.connect()?, &name, region, kind)?
        }
        Admin::CreateSite { data, scheme, name } => store::create_site(&open(&data)?.connect()?, &scheme, &name)?,
        Admin::IssueDeviceToken { data, site } => store::issue_device_token(&open(&data)?.connect()?, &site)?,
        Admin::IssueAdminToken { data } => store::issue_admin_token(&open(&data)?.connect()?)?,
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
            if !accounts::revoke_device(&conn, &scheme, &device, "command line")? {
                anyhow::bail!("scheme {scheme:?} has no unrevoked tablet {device:?}");
            }
            format!("revoked {device}")
        }
    };
    println!("{out}");
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        listen,
        data,
        demo,
        static_dir,
        sync,
        idle_secs,
        max_message_bytes,
        behind_tls,
        disclosure_threshold,
    } = args;
    let disclosure =
        signpost_shared::disclosure::Policy::with_threshold(disclosure_threshold).map_err(|e| anyhow::anyhow!(e))?;
    let store = store::Store::open(&data, sync)?;
    let cfg = signpost_shared::relay::Config { max_message_bytes, idle_ms: idle_secs * 1000, ..Default::default() };
    let hub = hub::Hub::start(&store, cfg)?;
    let ticker = hub.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            ticker.send(hub::Cmd::Tick).await;
        }
    });
    let state = http::AppState {
        store: store.clone(),
        hub,
        max_message_bytes,
        behind_tls,
        guards: Default::default(),
        disclosure,
    };
    let app = http::router(state, static_dir);
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    if demo {
        let c = seed::demo(&store, &data)?;
        println!("Demo scheme:   {}", c.scheme);
        println!("Demo site:     {}", c.site);
        println!("Tablet token:  {}", c.device_token);
        println!("Admin token:   {}", c.admin_token);
        for (email, role, password) in &c.accounts {
            println!("Sign in ({role}): {email} / {password}");
        }
    }
    // Machine-readable line that tests and tools wait for.
    println!("signpost listening on http://{addr}");
    use std::io::Write;
    std::io::stdout().flush()?;
    tracing::info!(%addr, "serving");
    // Sync frames are small and latency-bound: send them at once rather than let Nagle's algorithm
    // hold them for a delayed acknowledgement.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
}
