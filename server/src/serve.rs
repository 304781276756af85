//! `signpost serve`: the relay's parts put together — the store, the relay thread, the router
//! of both surfaces and the tablet app's files — and served until Ctrl-C.

use crate::relay::{Cmd, Hub};
use crate::state::AppState;
use crate::{api, web};
use axum::Router;
use signpost_domain::db::Location;
use signpost_domain::db::{Store, Sync};
use signpost_domain::seed;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Every flag can also be given as an environment variable, `SIGNPOST_` and its name in capitals
/// (`--data` as `SIGNPOST_DATA`, `--public-url` as `SIGNPOST_PUBLIC_URL`); a flag wins.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SIGNPOST_LISTEN")]
    listen: SocketAddr,
    #[command(flatten)]
    at: crate::location::At,
    /// Create a demo scheme, site and credentials if missing, and print them.
    #[arg(long, env = "SIGNPOST_DEMO")]
    demo: bool,
    /// Folder of the built tablet app to serve at `/`.
    #[arg(long, env = "SIGNPOST_STATIC_DIR")]
    static_dir: Option<PathBuf>,
    /// How commits reach the disk: `full` survives power loss, `normal` a killed process.
    #[arg(long, value_enum, default_value = "full", env = "SIGNPOST_SYNC")]
    sync: Durability,
    /// Seconds a document may sit unused before it leaves memory.
    #[arg(long, default_value_t = 60, env = "SIGNPOST_IDLE_SECS")]
    idle_secs: u64,
    /// Largest WebSocket message accepted, in bytes.
    #[arg(long, default_value_t = 8 << 20, env = "SIGNPOST_MAX_MESSAGE_BYTES")]
    max_message_bytes: usize,
    /// The relay is reached through a TLS proxy: mark cookies `Secure`. (A proxy that sends
    /// `X-Forwarded-Proto: https` gets them marked anyway.)
    #[arg(long, env = "SIGNPOST_BEHIND_TLS")]
    behind_tls: bool,
    /// The relay's proxy appends the client's address to `X-Forwarded-For`, and is the only way in:
    /// throttles key on that address instead of the proxy's own.
    #[arg(long, env = "SIGNPOST_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,
    /// The address people reach Signpost at, such as `https://signpost.example.org`: set-password
    /// links are built on it (without it, on the address the administrator's browser used).
    #[arg(long, env = "SIGNPOST_PUBLIC_URL")]
    public_url: Option<String>,
    /// Seconds a request's headers may take to arrive before the connection is closed.
    #[arg(long, default_value_t = 10.0, env = "SIGNPOST_HEADER_TIMEOUT_SECS")]
    header_timeout_secs: f64,
    /// Seconds a request's body may take to arrive, all of it.
    #[arg(long, default_value_t = 30.0, env = "SIGNPOST_BODY_TIMEOUT_SECS")]
    body_timeout_secs: f64,
    /// Seconds a client may take nothing of what is sent to it (a download it does not read, a
    /// socket whose tablet stopped reading) before its connection is closed.
    #[arg(long, default_value_t = 30.0, env = "SIGNPOST_SEND_TIMEOUT_SECS")]
    send_timeout_secs: f64,
    /// CSV downloads prepared or sent at once, for everyone together (each person may have 2);
    /// past it a download is refused at once, 429, until one is done.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..), env = "SIGNPOST_MAX_EXPORTS")]
    max_exports: u64,
    /// Connections open at once, WebSockets included; past it new ones are closed at once.
    #[arg(long, default_value_t = 8192, env = "SIGNPOST_MAX_CONNECTIONS")]
    max_connections: usize,
    /// Sockets one tablet credential may hold open at once.
    #[arg(long, default_value_t = 4, env = "SIGNPOST_MAX_SOCKETS_PER_DEVICE")]
    max_sockets_per_device: usize,
    /// Seconds a new socket has to send its `join` before it is closed.
    #[arg(long, default_value_t = 10.0, env = "SIGNPOST_JOIN_WITHIN_SECS")]
    join_within_secs: f64,
    /// Seconds between pings of a quiet socket; three unanswered and it is closed.
    #[arg(long, default_value_t = 30.0, env = "SIGNPOST_KEEPALIVE_SECS")]
    keepalive_secs: f64,
    /// Largest document a tablet may build on the relay, in bytes once loaded (compressed parts
    /// inflated); a sync message is held to the same bound before anything of it is inflated.
    #[arg(long, default_value_t = 32 << 20, env = "SIGNPOST_MAX_DOCUMENT_BYTES")]
    max_document_bytes: u64,
    /// Largest document in rows (changes and operations), counted without expanding runs.
    #[arg(long, default_value_t = 500_000, env = "SIGNPOST_MAX_DOCUMENT_OPS")]
    max_document_ops: u64,
    /// Desk days taken for new documents: up to this many days before today…
    #[arg(long, default_value_t = 400, env = "SIGNPOST_DAYS_BACK")]
    days_back: i64,
    /// …and up to this many after it.
    #[arg(long, default_value_t = 2, env = "SIGNPOST_DAYS_AHEAD")]
    days_ahead: i64,
    /// Bytes one tablet may store in a day (new content, as stored); past it its syncs are
    /// refused until the next day, and what it stored is kept.
    #[arg(long, default_value_t = 32 << 20, env = "SIGNPOST_DEVICE_BYTES_PER_DAY")]
    device_bytes_per_day: u64,
    /// Documents one tablet may create in a day (drafts included).
    #[arg(long, default_value_t = 200, env = "SIGNPOST_DEVICE_DOCUMENTS_PER_DAY")]
    device_documents_per_day: u64,
    /// Entries (referrals and shifts) one desk's day may hold; a change past it is refused.
    #[arg(long, default_value_t = 5_000, env = "SIGNPOST_MAX_ENTRIES_PER_DAY")]
    max_entries_per_day: usize,
    /// Shifts one volunteer may have in one desk's day.
    #[arg(long, default_value_t = 24, env = "SIGNPOST_MAX_SHIFTS_PER_VOLUNTEER")]
    max_shifts_per_volunteer: usize,
    /// The log's form: `text` for a terminal, `json` (one object a line, GDS field names) for a
    /// log pipeline.
    #[arg(long, value_enum, default_value = "text", env = "SIGNPOST_LOG_FORMAT")]
    pub log_format: crate::logs::Format,
    /// What to log, as a tracing filter (`signpost=debug`); else `RUST_LOG`, else
    /// `signpost=info`.
    #[arg(long, env = "SIGNPOST_LOG_LEVEL")]
    pub log_level: Option<String>,
    /// Seconds a stop (SIGTERM or SIGINT) may take: requests in hand finish, sockets close telling
    /// tablets to reconnect soon, and the relay's last batch commits.
    #[arg(long, default_value_t = 10.0, env = "SIGNPOST_SHUTDOWN_SECS")]
    shutdown_secs: f64,
    /// Passwords hashed or checked at once (argon2: about 19 MiB each); past them a sign-in
    /// waits a moment, then is asked to try again. By default the number of cores, 2 to 4.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..), env = "SIGNPOST_MAX_PASSWORD_HASHES")]
    max_password_hashes: Option<u64>,
    /// National figures: counts below this are suppressed (5 or more).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(5..), env = "SIGNPOST_DISCLOSURE_THRESHOLD")]
    disclosure_threshold: u64,
}

/// How commits reach the disk (`--sync`).
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Durability {
    Full,
    Normal,
}

impl From<Durability> for Sync {
    fn from(d: Durability) -> Sync {
        match d {
            Durability::Full => Sync::Full,
            Durability::Normal => Sync::Normal,
        }
    }
}

/// The tablet app's Content-Security-Policy.
const APP_POLICY: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
    form-action 'self'";

/// Both surfaces and the tablet app's files for every other path: from `static_dir` when given,
/// else those built into the binary ([`crate::app_files`]).
pub fn router(state: AppState, static_dir: Option<PathBuf>) -> Router {
    // Every form and JSON body is small: 64 KiB is far more than any holds, and what a
    // request can make the relay buffer.
    let app = api::router()
        .merge(web::router())
        .merge(crate::ops::router())
        .route_layer(axum::middleware::from_fn(crate::metrics::count_requests))
        .layer(axum::extract::DefaultBodyLimit::max(64 << 10));
    // The app shell is fetched once per release (the service worker keeps it). The build
    // writes brotli and (zopfli) gzip copies of the large files, served as they are; anything
    // without one is compressed on the fly. Either way ~1.5 MB becomes ~0.55 MB.
    // The app's files are never framed by another site or read as another type than sent,
    // and the app runs only scripts from this origin (its start-up scripts are files, not
    // inline) and talks only to it; `wasm-unsafe-eval` lets it compile its WebAssembly.
    use axum::http::{header, HeaderValue};
    use tower_http::set_header::SetResponseHeaderLayer as Set;
    let files = tower::ServiceBuilder::new()
        .layer(Set::if_not_present(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(Set::if_not_present(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(Set::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(APP_POLICY)))
        .layer(tower_http::compression::CompressionLayer::new());
    let app = match static_dir {
        Some(dir) => app.fallback_service(
            files.service(tower_http::services::ServeDir::new(dir).precompressed_br().precompressed_gzip()),
        ),
        None => app.fallback_service(files.service(tower::service_fn(|req| async move {
            Ok::<_, std::convert::Infallible>(crate::app_files::serve(req).await)
        }))),
    };
    let behind_tls = state.behind_tls;
    // Every request is logged, the app's files too (by path: the route is not known out here).
    let app = app.with_state(state).layer(axum::middleware::from_fn(crate::logs::requests));
    if behind_tls {
        // Behind TLS, browsers are told to come back only over TLS.
        let hsts = axum::http::HeaderValue::from_static("max-age=31536000");
        app.layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            hsts,
        ))
    } else {
        app
    }
}

/// Runs the relay until Ctrl-C.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        listen,
        at,
        demo,
        static_dir,
        sync,
        idle_secs,
        max_message_bytes,
        behind_tls,
        trust_forwarded_for,
        disclosure_threshold,
        days_back,
        days_ahead,
        max_document_bytes,
        max_document_ops,
        max_sockets_per_device,
        join_within_secs,
        keepalive_secs,
        public_url,
        header_timeout_secs,
        max_connections,
        device_bytes_per_day,
        device_documents_per_day,
        max_entries_per_day,
        max_shifts_per_volunteer,
        body_timeout_secs,
        shutdown_secs,
        max_password_hashes,
        send_timeout_secs,
        max_exports,
        log_format: _,
        log_level: _,
    } = args;
    let disclosure =
        signpost_shared::disclosure::Policy::with_threshold(disclosure_threshold).map_err(|e| anyhow::anyhow!(e))?;
    if static_dir.is_none() && !crate::app_files::embedded() {
        tracing::warn!(
            "this binary was built without the tablet app: build it with `cargo xtask dist`, or give --static-dir"
        );
    }
    let location = at.location();
    if let Location::Folder(data) = &location {
        if signpost_domain::backup::database(data).exists() {
            // A damaged file is not served from: figures would be wrong, or documents half there.
            let conn = signpost_domain::sql::Connection::sqlite(rusqlite::Connection::open_with_flags(
                signpost_domain::backup::database(data),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?);
            signpost_domain::integrity::quick(&conn)?;
        }
    }
    let store = Store::open_at(&location, sync.into())?;
    let cfg = signpost_shared::relay::Config {
        max_message_bytes,
        idle_ms: idle_secs * 1000,
        days_back,
        days_ahead,
        max_document: signpost_shared::chunks::Limits { bytes: max_document_bytes, ops: max_document_ops },
        device_allowance: signpost_shared::quota::Allowance {
            bytes: device_bytes_per_day,
            documents: device_documents_per_day,
        },
        max_entries_per_day,
        max_shifts_per_volunteer,
        ..Default::default()
    };
    let hub = Hub::start(&store, cfg)?;
    let ticker = hub.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            ticker.send(Cmd::Tick).await;
        }
    });
    spawn_daily_purge(store.clone());
    let state = AppState {
        store: store.clone(),
        hub: hub.clone(),
        max_message_bytes,
        behind_tls,
        // On PostgreSQL the relays of a database count guesses together.
        guards: std::sync::Arc::new(crate::state::Guards::new(
            (store.backend() == signpost_domain::sql::Backend::Postgres).then_some(&store),
        )),
        disclosure,
        trust_forwarded_for,
        public_url,
        sockets: std::sync::Arc::new(crate::state::Sockets::new(
            max_sockets_per_device,
            std::time::Duration::from_secs_f64(join_within_secs),
            std::time::Duration::from_secs_f64(keepalive_secs),
        )),
        passwords: std::sync::Arc::new(crate::state::Passwords::new(
            max_password_hashes.map_or_else(crate::state::Passwords::default_turns, |n| n as usize),
        )),
        exports: std::sync::Arc::new(crate::state::Exports::new(max_exports as usize)),
    };
    let (state_sockets, hub) = (state.sockets.clone(), state.hub.clone());
    let app = router(state, static_dir);
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr()?;
    if demo {
        let c = seed::demo(&store)?;
        println!("Demo scheme:   {}", c.scheme);
        println!("Demo site:     {}", c.site);
        println!("Tablet token:  {}", c.device_token);
        println!("Enrolment code for a tablet (works once, for 15 minutes): {}", c.enrolment_code);
        if !c.volunteers.is_empty() {
            println!("Volunteers on the roster: {}", c.volunteers.join(", "));
        }
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
    let limits = crate::listen::Limits {
        header_timeout: std::time::Duration::from_secs_f64(header_timeout_secs),
        max_connections,
        body_timeout: std::time::Duration::from_secs_f64(body_timeout_secs),
        send_timeout: std::time::Duration::from_secs_f64(send_timeout_secs),
    };
    let sockets = state_sockets;
    let stopping = sockets.stopping();
    let signalled = tokio::spawn({
        let sockets = sockets.clone();
        async move {
            let signal = stop_signal().await;
            crate::metrics::METRICS.shutdowns.inc();
            tracing::info!(
                signal,
                sockets = sockets.open_count(),
                "stopping: no new connections; closing every socket"
            );
            sockets.stop_all();
            std::time::Instant::now()
        }
    });
    let drain = std::time::Duration::from_secs_f64(shutdown_secs);
    crate::listen::serve(listener, app, limits, stopping, drain).await?;
    // The stop's clock runs from the signal.
    let started = signalled.await?;
    // Tablets are told to come back in a moment (close code 1012); wait for their sockets to go.
    while sockets.open_count() > 0 && started.elapsed() < drain {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // What they sent is in the relay thread's queue: drain it, so every batch is committed.
    let drained = tokio::time::timeout(
        drain.saturating_sub(started.elapsed()).max(std::time::Duration::from_secs(1)),
        hub.drain(),
    )
    .await;
    match (drained, sockets.open_count()) {
        (Ok(true), 0) => tracing::info!(took_ms = started.elapsed().as_millis() as u64, "stopped"),
        (d, open) => tracing::warn!(drained = matches!(d, Ok(true)), open, "stopped before every socket closed"),
    }
    Ok(())
}

/// Purges records past each scheme's retention period when the relay starts and every day at
/// 01:00 UTC after. The relay's tick learns of what was removed within a second.
fn spawn_daily_purge(store: Store) {
    tokio::spawn(async move {
        loop {
            let today = chrono::Utc::now().date_naive();
            let result = signpost_domain::db::blocking(&store, move |c| {
                signpost_domain::retention::purge(c, today, "daily retention job")
            })
            .await;
            match result {
                Ok(r) => {
                    crate::metrics::METRICS.purges.with_label_values(&["ok"]).inc();
                    tracing::info!(
                        days = r.days.len(),
                        drafts = r.drafts,
                        usage_rows = r.usage_rows,
                        "purged records past the retention period"
                    )
                }
                Err(e) => {
                    crate::metrics::METRICS.purges.with_label_values(&["failed"]).inc();
                    tracing::error!(error = %e, "the daily purge failed; it runs again tomorrow")
                }
            }
            let next = (today + chrono::Duration::days(1)).and_hms_opt(1, 0, 0).expect("01:00").and_utc();
            let wait = (next - chrono::Utc::now()).to_std().unwrap_or(std::time::Duration::from_secs(60));
            tokio::time::sleep(wait).await;
        }
    });
}

/// SIGTERM (systemd, Docker, Kubernetes) or SIGINT (Ctrl-C): which one came.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Args;

    /// Every flag of `signpost serve` is also an environment variable, `SIGNPOST_` and its name:
    /// a flag added without one fails here.
    #[test]
    fn every_serve_flag_has_its_environment_variable() {
        let cmd = ServeArgs::augment_args(clap::Command::new("serve"));
        let mut n = 0;
        for arg in cmd.get_arguments().filter(|a| a.get_long().is_some()) {
            let long = arg.get_long().unwrap();
            let want = match long {
                // The name PostgreSQL's tools and hosting platforms use for a database's URL.
                "database" => "SIGNPOST_DATABASE_URL".to_owned(),
                _ => format!("SIGNPOST_{}", long.replace('-', "_").to_uppercase()),
            };
            assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(want.as_str()), "--{long}");
            n += 1;
        }
        assert!(n >= 25, "{n} flags");
    }

    /// The variables are read: a relay started with no flags at all, only variables.
    #[test]
    fn a_serve_command_reads_its_settings_from_the_environment() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        // clap reads the variables when parsing; set them for this process only here.
        std::env::set_var("SIGNPOST_DATA", "/srv/signpost-data");
        std::env::set_var("SIGNPOST_SHUTDOWN_SECS", "4.5");
        std::env::set_var("SIGNPOST_BEHIND_TLS", "true");
        let cli = <Cli as clap::Parser>::try_parse_from(["serve"]).unwrap();
        assert_eq!(cli.serve.at.data, Some(PathBuf::from("/srv/signpost-data")));
        assert_eq!(cli.serve.shutdown_secs, 4.5);
        assert!(cli.serve.behind_tls);
        // A flag wins over its variable.
        let cli = <Cli as clap::Parser>::try_parse_from(["serve", "--data", "/elsewhere"]).unwrap();
        assert_eq!(cli.serve.at.data, Some(PathBuf::from("/elsewhere")));
        std::env::remove_var("SIGNPOST_DATA");
        // A database in place of the folder, from its variable; a URL that is not one is refused.
        std::env::set_var("SIGNPOST_DATABASE_URL", "postgres://signpost@db.internal/signpost");
        let cli = <Cli as clap::Parser>::try_parse_from(["serve"]).unwrap();
        assert_eq!(cli.serve.at.location(), Location::Postgres("postgres://signpost@db.internal/signpost".into()));
        std::env::remove_var("SIGNPOST_DATABASE_URL");
        assert!(<Cli as clap::Parser>::try_parse_from(["serve", "--database", "/srv/data"]).is_err());
        assert!(<Cli as clap::Parser>::try_parse_from(["serve"]).is_err(), "one of the two is needed");
    }
}
