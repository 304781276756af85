//! The servers under test as processes, and the HTTP calls the benchmarks make.

use super::*;

/// A server under test: the relay, or the JavaScript sync server beside it.
pub(crate) enum Proc {
    Relay(Relay),
    Js { child: Child, url: String },
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Proc::Js { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Proc {
    pub(crate) fn pid(&self) -> u32 {
        match self {
            Proc::Relay(r) => r.pid(),
            Proc::Js { child, .. } => child.id(),
        }
    }

    pub(crate) fn url(&self) -> &str {
        match self {
            Proc::Relay(r) => &r.url,
            Proc::Js { url, .. } => url,
        }
    }

    /// CPU seconds (user + system) the process has used, from /proc.
    pub(crate) fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name (which is in parentheses): utime is 14th, stime 15th.
        let rest = stat.rsplit_once(')').map(|x| x.1).unwrap_or_default();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (ticks(11) + ticks(12)) / 100.0
    }

    /// Anonymous resident memory (heap and stacks, not the mapped database file) in MiB.
    pub(crate) fn anon_mib(&self) -> f64 {
        anon_mib(self.pid())
    }

    /// Peak and current resident memory in MiB, from /proc.
    pub(crate) fn memory_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        (field("VmHWM:"), field("VmRSS:"))
    }
}

pub(crate) fn anon_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

pub(crate) fn signpost_bin() -> PathBuf {
    signpost_harness::process::release_binary(&root())
}

pub(crate) fn admin(data: &Path, args: &[&str]) -> anyhow::Result<String> {
    signpost_harness::process::admin(&signpost_bin(), data, args)
}

/// (scheme id, [(site id, tablet token)], administrator token)
pub(crate) type Fixture = (String, Vec<(String, String)>, String);

/// A scheme with `n` sites and one tablet credential each.
pub(crate) fn fixture(data: &Path, n: usize) -> anyhow::Result<Fixture> {
    // A folder standing for a PostgreSQL database keeps naming it.
    let database = std::fs::read_to_string(data.join("database-url")).ok();
    let _ = std::fs::remove_dir_all(data);
    std::fs::create_dir_all(data)?;
    if let Some(url) = database {
        std::fs::write(data.join("database-url"), url)?;
    }
    let scheme = admin(data, &["create-scheme", "Bench"])?;
    let admin_token = admin(data, &["issue-admin-token"])?;
    let sites: Vec<(String, String)> = std::thread::scope(|s| {
        let chunks: Vec<_> = (0..4)
            .map(|w| {
                let scheme = scheme.clone();
                s.spawn(move || -> anyhow::Result<Vec<(String, String)>> {
                    let mut v = Vec::new();
                    for i in (w..n).step_by(4) {
                        let site = admin(data, &["create-site", "--scheme", &scheme, &format!("Site {i}")])?;
                        let token = admin(data, &["issue-device-token", "--site", &site])?;
                        v.push((site, token));
                    }
                    Ok(v)
                })
            })
            .collect();
        chunks.into_iter().map(|h| h.join().unwrap()).collect::<anyhow::Result<Vec<_>>>().map(|v| v.concat())
    })?;
    Ok((scheme, sites, admin_token))
}

pub(crate) fn start_signpost(data: &Path, extra: &[&str]) -> anyhow::Result<(Proc, Duration)> {
    let started = Instant::now();
    let relay = Relay::start(&signpost_bin(), data, "127.0.0.1:0", extra, Log::Discard)?;
    Ok((Proc::Relay(relay), started.elapsed()))
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(crate) fn start_js_server(data: &Path) -> anyhow::Result<Proc> {
    let _ = std::fs::remove_dir_all(data);
    std::fs::create_dir_all(data)?;
    let port = free_port();
    let js = root().join("tests/js");
    let child = Command::new("node")
        .args(["-r", "./loopback.cjs", "node_modules/@automerge/automerge-repo-sync-server/src/index.js"])
        .current_dir(&js)
        .env("PORT", port.to_string())
        .env("DATA_DIR", data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start the JavaScript sync server (run `cargo xtask test` first: it installs them)")?;
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("the JavaScript sync server did not start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Proc::Js { child, url })
}

/// An HTTP client that shows redirects instead of following them. One per call: the benchmarks
/// run several tokio runtimes, and a pooled connection must not outlive its runtime.
pub(crate) fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).pool_max_idle_per_host(0).build()?)
}

pub(crate) async fn http_get_json(url: &str, token: &str) -> anyhow::Result<serde_json::Value> {
    let r = http()?.get(url).bearer_auth(token).send().await?;
    Ok(r.json().await.unwrap_or(serde_json::Value::Null))
}

pub(crate) async fn http_post_json(
    url: &str,
    path: &str,
    token: &str,
    body: &serde_json::Value,
) -> anyhow::Result<u16> {
    Ok(http()?.post(format!("{url}{path}")).bearer_auth(token).json(body).send().await?.status().as_u16())
}

/// `GET` with a cookie: (status, body bytes).
pub(crate) async fn http_get_cookie(url: &str, path: &str, cookie: &str) -> anyhow::Result<(u16, usize)> {
    let r = http()?.get(format!("{url}{path}")).header("Cookie", cookie).send().await?;
    let status = r.status().as_u16();
    Ok((status, r.bytes().await?.len()))
}

/// Sets a password with a one-time code and signs in, as a browser would; returns the session
/// cookie (`name=value`).
pub(crate) async fn sign_in_with_code(url: &str, email: &str, code: &str) -> anyhow::Result<String> {
    pub(crate) fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
        r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
            let pair = c.split(';').next()?;
            pair.starts_with(&format!("{name}=")).then(|| pair.to_owned())
        })
    }
    pub(crate) fn csrf(body: &str) -> Option<String> {
        let start = body.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
        Some(body[start..].split('"').next()?.to_owned())
    }
    /// A form page: its form cookie and CSRF token.
    pub(crate) async fn form(url: &str, path: &str) -> anyhow::Result<(String, String)> {
        let r = http()?.get(format!("{url}{path}")).send().await?;
        let form = cookie(&r, "signpost_form").context("form cookie")?;
        Ok((form, csrf(&r.text().await?).context("csrf")?))
    }
    let password = "a long enough password";
    let (form_cookie, token) = form(url, &format!("/set-password?code={code}")).await?;
    let fields = [("csrf", token.as_str()), ("code", code), ("password", password), ("confirm", password)];
    http()?.post(format!("{url}/set-password")).header("Cookie", form_cookie).form(&fields).send().await?;
    let (form_cookie, token) = form(url, "/sign-in").await?;
    let fields = [("csrf", token.as_str()), ("email", email), ("password", password)];
    let r = http()?.post(format!("{url}/sign-in")).header("Cookie", form_cookie).form(&fields).send().await?;
    anyhow::ensure!(r.status().as_u16() == 303, "sign-in answered {}", r.status());
    cookie(&r, "signpost_session").context("session cookie")
}
