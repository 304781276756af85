//! `signpost`: the relay server and its administration commands.

mod error;
mod http;
mod hub;
mod seed;
mod stats;
mod store;

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

const ADMIN_HELP: &str = "Administration (signpost admin --help):
  admin create-scheme --data DIR NAME               create a scheme and its agency directory; prints its id
  admin create-site --data DIR --scheme ID NAME     create a site (desk) in a scheme; prints its id
  admin issue-device-token --data DIR --site ID     issue a tablet credential for a site; prints the token
  admin issue-admin-token --data DIR                issue an administrator credential; prints the token";

#[derive(Parser)]
#[command(name = "signpost", version, about = "Signpost: offline-first referral recording for volunteer help desks", after_help = ADMIN_HELP)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay: WebSocket sync at /sync, JSON API at /api/v1, the tablet app at /.
    Serve {
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
    },
    /// Administration commands. Run them on the server machine; they write to the data folder.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Subcommand)]
enum Admin {
    /// Create a scheme and its agency directory; prints only the new scheme id.
    CreateScheme {
        #[arg(long)]
        data: PathBuf,
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
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Command::Admin(cmd) => admin(cmd),
        Command::Serve { listen, data, demo, static_dir, sync, idle_secs, max_message_bytes } => {
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "signpost=info".into()),
                )
                .with_writer(std::io::stderr)
                .init();
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
            rt.block_on(serve(listen, data, demo, static_dir, sync, idle_secs, max_message_bytes))
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
        Admin::CreateScheme { data, name } => seed::create_scheme(&mut open(&data)?.connect()?, &name)?,
        Admin::CreateSite { data, scheme, name } => store::create_site(&open(&data)?.connect()?, &scheme, &name)?,
        Admin::IssueDeviceToken { data, site } => store::issue_device_token(&open(&data)?.connect()?, &site)?,
        Admin::IssueAdminToken { data } => store::issue_admin_token(&open(&data)?.connect()?)?,
    };
    println!("{out}");
    Ok(())
}

async fn serve(
    listen: SocketAddr,
    data: PathBuf,
    demo: bool,
    static_dir: Option<PathBuf>,
    sync: store::Sync,
    idle_secs: u64,
    max_message_bytes: usize,
) -> anyhow::Result<()> {
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
    let state = http::AppState { store: store.clone(), hub, max_message_bytes };
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
    axum::serve(listener, app).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
}
