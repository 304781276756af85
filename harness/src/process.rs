//! The real relay as a child process: which binary, its administration commands, and a relay
//! that is started on 127.0.0.1, waited for until it says where it listens, and can be killed
//! (SIGKILL, no goodbye) and started again on the same data folder, as a power cut or an
//! out-of-memory kill would do.

use anyhow::{bail, Context};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The workspace's root folder.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("harness/ sits in the workspace").to_path_buf()
}

/// The release build of the relay in a checkout (benchmarks and the soak build it first).
pub fn release_binary(root: &Path) -> PathBuf {
    root.join("target/release/signpost")
}

/// The debug build of the relay: `SIGNPOST_BIN` if set, else built once from this workspace.
pub fn debug_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("SIGNPOST_BIN") {
            return PathBuf::from(p);
        }
        let status = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "signpost"])
            .current_dir(workspace())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building signpost failed");
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace().join("target"));
        target.join("debug").join("signpost")
    })
    .clone()
}

/// The database the tests run on: SQLite in each test's data folder (the default), or, with
/// `SIGNPOST_TEST_DATABASE=postgres`, a database of its own in the test binary's throw-away
/// PostgreSQL cluster. The folder stands for the store either way: on PostgreSQL it holds the
/// database's URL (made on first use), so that every command on the folder reaches the same
/// database.
pub fn on_postgres() -> bool {
    std::env::var("SIGNPOST_TEST_DATABASE").is_ok_and(|v| v == "postgres")
}

/// The PostgreSQL database that stands behind the folder `data`, when there is one.
pub fn database_url(data: &Path) -> Option<String> {
    std::fs::read_to_string(data.join("database-url")).ok().map(|s| s.trim().to_owned())
}

/// The flags that name the store of the folder `data`: `--data DIR`, or `--database URL` when
/// the tests run on PostgreSQL (a database is made for a new folder).
pub fn store_flags(data: &Path) -> anyhow::Result<Vec<std::ffi::OsString>> {
    if let Some(url) = database_url(data) {
        return Ok(vec!["--database".into(), url.into()]);
    }
    if on_postgres() {
        std::fs::create_dir_all(data)?;
        let name = format!("t{:016x}", rand_u64());
        let url = crate::postgres::Postgres::shared().database(&name)?;
        std::fs::write(data.join("database-url"), &url)?;
        return Ok(vec!["--database".into(), url.into()]);
    }
    Ok(vec!["--data".into(), data.as_os_str().to_owned()])
}

/// A number for a database's name, different in each call (the clock and a counter).
fn rand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos() as u64;
    t ^ (u64::from(std::process::id()) << 40) ^ N.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Runs `signpost admin <args[0]> --data <data> <args[1..]>` (or `--database URL`, see
/// [`store_flags`]) and returns what it printed.
pub fn admin(bin: &Path, data: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(bin)
        .arg("admin")
        .arg(args[0])
        .args(store_flags(data)?)
        .args(&args[1..])
        .output()
        .with_context(|| format!("run {} admin", bin.display()))?;
    if !out.status.success() {
        bail!("signpost admin {args:?} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// Where a relay's log goes.
#[derive(Clone, Copy, Debug)]
pub enum Log<'a> {
    /// To this process's standard error (tests: shown with a failure).
    Inherit,
    Discard,
    /// Appended to a file (the soak keeps one log across restarts).
    Append(&'a Path),
}

/// A running relay. Dropping it kills the process.
pub struct Relay {
    child: Child,
    pub url: String,
    /// What it printed before it said where it listens (the demo's credentials, say).
    pub banner: Vec<String>,
}

impl Relay {
    /// Starts `signpost serve --listen <listen> --data <data> <extra>` (`127.0.0.1:0` for any
    /// free port) and waits, up to 30 s, until it says where it listens.
    pub fn start(bin: &Path, data: &Path, listen: &str, extra: &[&str], log: Log<'_>) -> anyhow::Result<Relay> {
        let stderr = match log {
            Log::Inherit => Stdio::inherit(),
            Log::Discard => Stdio::null(),
            Log::Append(p) => Stdio::from(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
        };
        let mut child = Command::new(bin)
            .args(["serve", "--listen", listen])
            .args(store_flags(data)?)
            .args(extra)
            .env("RUST_LOG", "signpost=warn")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let stdout = child.stdout.take().context("stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads the relay's output to its end, so that it never blocks writing it.
        std::thread::spawn(move || {
            let mut banner = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match line.strip_prefix("signpost listening on ") {
                    Some(url) => {
                        let _ = tx.send((url.to_owned(), std::mem::take(&mut banner)));
                    }
                    None => banner.push(line),
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok((url, banner)) => Ok(Relay { child, url, banner }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                bail!("signpost did not start listening within 30 s ({status})")
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to finish anything in flight.
    pub fn kill(mut self) {
        self.stop();
    }

    /// Sends `signal` (`TERM`, `INT`) and waits up to `within` for the relay to exit: its exit
    /// status and how long it took (a relay still running then is killed, and it is an error).
    pub fn signal(mut self, signal: &str, within: Duration) -> anyhow::Result<(std::process::ExitStatus, Duration)> {
        let sent = std::time::Instant::now();
        let ok = Command::new("kill").args(["-s", signal, &self.child.id().to_string()]).status()?.success();
        anyhow::ensure!(ok, "kill -s {signal} failed");
        while sent.elapsed() < within {
            if let Some(status) = self.child.try_wait()? {
                return Ok((status, sent.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop();
        bail!("the relay was still running {within:?} after SIG{signal}")
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop();
    }
}
