//! The real relay as a child process: its administration commands, and a server that can be
//! killed (SIGKILL, no goodbye) and started again on the same address and data folder, as a
//! power cut or an out-of-memory kill would do.

use anyhow::{bail, Context};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The release build of the relay in a checkout.
pub fn signpost_bin(root: &Path) -> PathBuf {
    root.join("target/release/signpost")
}

/// Runs `signpost admin <args[0]> --data <data> <args[1..]>` and returns what it printed.
pub fn admin(bin: &Path, data: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(bin).arg("admin").arg(args[0]).arg("--data").arg(data).args(&args[1..]).output()?;
    if !out.status.success() {
        bail!("admin {args:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_owned())
}

/// A running relay. Dropping it kills the process.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Starts `signpost serve` on `listen` (`127.0.0.1:0` for any port) and waits until it
    /// says where it listens. Its log goes to `log` when given (appended), else nowhere.
    pub fn start(bin: &Path, data: &Path, listen: &str, extra: &[&str], log: Option<&Path>) -> anyhow::Result<Server> {
        let stderr = match log {
            Some(p) => Stdio::from(std::fs::OpenOptions::new().create(true).append(true).open(p)?),
            None => Stdio::null(),
        };
        let mut child = Command::new(bin)
            .args(["serve", "--listen", listen, "--data"])
            .arg(data)
            .args(extra)
            .env("RUST_LOG", "signpost=warn")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        while let Some(line) = lines.next() {
            if let Some(url) = line?.strip_prefix("signpost listening on ") {
                let url = url.to_owned();
                std::thread::spawn(move || for _ in lines {});
                return Ok(Server { child, url });
            }
        }
        let status = child.wait()?;
        bail!("signpost did not start ({status})")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to finish anything in flight.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
