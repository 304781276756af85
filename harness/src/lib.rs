//! The one test harness of the end-to-end tests (`tests/`), the soak and the benchmarks
//! (`sim/`): the real `signpost` binary started on 127.0.0.1 with a fresh data folder
//! ([`Server`], [`process::Relay`]), schemes, sites and credentials made through its admin
//! commands ([`Fixture`]), an HTTP client with cookies ([`http`]), and the whole store as text
//! to compare before and after an attack ([`store`]).

pub mod http;
pub mod postgres;
pub mod process;
pub mod store;

pub use http::*;
pub use process::workspace;
pub use store::{data_files_contain, peak_rss_mib, reset_peak_rss, rss_mib, snapshot};

use anyhow::{bail, Context};
use process::{Log, Relay};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The debug build of the relay, built once (see [`process::debug_binary`]).
pub fn binary() -> PathBuf {
    process::debug_binary()
}

/// Runs an admin command of the debug build and returns its single line of output.
pub fn admin(data: &Path, args: &[&str]) -> anyhow::Result<String> {
    process::admin(&binary(), data, args)
}

/// One scheme with two sites and credentials, as most tests need.
pub struct Fixture {
    pub scheme: String,
    pub site_a: String,
    pub site_b: String,
    pub token_a1: String,
    pub token_a2: String,
    pub token_b: String,
    pub admin: String,
}

impl Fixture {
    pub fn create(data: &Path) -> anyhow::Result<Fixture> {
        let scheme = admin(data, &["create-scheme", "Test Scheme"])?;
        let site_a = admin(data, &["create-site", "--scheme", &scheme, "Court A"])?;
        let site_b = admin(data, &["create-site", "--scheme", &scheme, "Court B"])?;
        Ok(Fixture {
            token_a1: admin(data, &["issue-device-token", "--site", &site_a])?,
            token_a2: admin(data, &["issue-device-token", "--site", &site_a])?,
            token_b: admin(data, &["issue-device-token", "--site", &site_b])?,
            admin: admin(data, &["issue-admin-token"])?,
            scheme,
            site_a,
            site_b,
        })
    }
}

/// A running relay on a free port of 127.0.0.1. Killed when dropped.
pub struct Server {
    relay: Option<Relay>,
    pub url: String,
    pub data: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// A fresh data folder with a [`Fixture`], and a relay serving it.
    pub fn start_fresh(extra: &[&str]) -> anyhow::Result<(Server, Fixture)> {
        let tmp = tempfile::Builder::new().prefix("signpost-test-").tempdir()?;
        let fx = Fixture::create(tmp.path())?;
        let mut s = Server::start(tmp.path(), extra)?;
        s._tmp = Some(tmp);
        Ok((s, fx))
    }

    /// As [`Server::start_fresh`], with the relay's log appended to `log` (to read what it wrote).
    pub fn start_fresh_logging(extra: &[&str], log: &Path) -> anyhow::Result<(Server, Fixture)> {
        let tmp = tempfile::Builder::new().prefix("signpost-test-").tempdir()?;
        let fx = Fixture::create(tmp.path())?;
        let relay = spawn_logging(tmp.path(), extra, Log::Append(log))?;
        let s = Server { url: relay.url.clone(), relay: Some(relay), data: tmp.path().to_path_buf(), _tmp: Some(tmp) };
        Ok((s, fx))
    }

    /// A relay on an existing data folder.
    pub fn start(data: &Path, extra: &[&str]) -> anyhow::Result<Server> {
        let relay = spawn(data, extra)?;
        Ok(Server { url: relay.url.clone(), relay: Some(relay), data: data.to_path_buf(), _tmp: None })
    }

    /// What the relay printed before it said where it listens.
    pub fn banner(&self) -> &[String] {
        self.relay.as_ref().map(|r| r.banner.as_slice()).unwrap_or_default()
    }

    /// The relay's process id (for its memory in `/proc`), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.relay.as_ref().map(Relay::pid)
    }

    /// `kill -9`: no shutdown code runs.
    pub fn kill(&mut self) {
        if let Some(r) = self.relay.take() {
            r.kill();
        }
    }

    /// Stops the relay with `signal` (`TERM`, `INT`), waiting up to `within`: its exit status and
    /// how long it took.
    pub fn stop(&mut self, signal: &str, within: Duration) -> anyhow::Result<(std::process::ExitStatus, Duration)> {
        let relay = self.relay.take().ok_or_else(|| anyhow::anyhow!("the relay is not running"))?;
        relay.signal(signal, within)
    }

    /// Restarts on the same data folder (after [`Server::kill`] or [`Server::stop`]).
    pub fn restart(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        self.kill();
        let relay = spawn(&self.data, extra)?;
        self.url = relay.url.clone();
        self.relay = Some(relay);
        Ok(())
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> anyhow::Result<(u16, serde_json::Value)> {
        http_get(&format!("{}{}", self.url, path), token).await
    }

    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> anyhow::Result<(u16, serde_json::Value)> {
        http_post(&format!("{}{}", self.url, path), token, &body).await
    }
}

/// The debug build serving `data`, its log shown with the test's output.
fn spawn(data: &Path, extra: &[&str]) -> anyhow::Result<Relay> {
    spawn_logging(data, extra, Log::Inherit)
}

fn spawn_logging(data: &Path, extra: &[&str], log: Log<'_>) -> anyhow::Result<Relay> {
    // `normal` survives a killed process, which is what the tests do; a test may ask for `full`.
    let sync: &[&str] = if extra.contains(&"--sync") { &[] } else { &["--sync", "normal"] };
    let args: Vec<&str> = sync.iter().chain(extra).copied().collect();
    Relay::start(&binary(), data, "127.0.0.1:0", &args, log)
}

/// Today's stats for a scheme via the API.
pub async fn referral_count(server: &Server, fx: &Fixture, day: &str) -> anyhow::Result<i64> {
    let (status, body) =
        server.get(&format!("/api/v1/stats/summary?scheme={}&from={day}&to={day}", fx.scheme), Some(&fx.admin)).await?;
    if status != 200 {
        bail!("stats returned {status}: {body}");
    }
    body["referrals"].as_i64().context("referrals count")
}

/// The referrals counted on `day` at the fixture's own two sites (another site of the scheme,
/// a hostile one say, left out).
pub async fn fixture_sites_referral_count(server: &Server, fx: &Fixture, day: &str) -> anyhow::Result<i64> {
    let (status, body) =
        server.get(&format!("/api/v1/stats/summary?scheme={}&from={day}&to={day}", fx.scheme), Some(&fx.admin)).await?;
    if status != 200 {
        bail!("stats returned {status}: {body}");
    }
    let sites = body["by_site"].as_array().context("by_site")?;
    Ok(sites
        .iter()
        .filter(|c| c["key"] == fx.site_a.as_str() || c["key"] == fx.site_b.as_str())
        .filter_map(|c| c["count"].as_i64())
        .sum())
}

/// A valid referral (`testkit::referral`) logged at noon UTC of `day`: an entry's time must fall
/// within a day of its day to be counted.
pub fn referral_on(id: &str, day: chrono::NaiveDate) -> signpost_shared::schema::Referral {
    let noon = day.and_hms_opt(12, 0, 0).expect("noon").and_utc().timestamp_millis();
    signpost_shared::schema::Referral { recorded_at_ms: noon, ..signpost_shared::testkit::referral(id) }
}

/// Polls until `f` is true or the deadline passes.
pub async fn eventually<F, Fut>(timeout: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
