//! `cargo xtask <command>`: the project's build, test, run and benchmark steps, in Rust.
//!
//! - `start`: build everything and run the relay on the embedded default (SQLite in ./data, a
//!   demo scheme, site and credentials printed at start)
//! - `test`: install what the tests need and run every test
//! - `bench`: run the benchmarks and print their results (see BENCHMARKS.md)

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace").to_path_buf()
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd.status().with_context(|| format!("could not run {}", describe(cmd)))?;
    if !status.success() {
        bail!("{} failed ({status})", describe(cmd));
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Installs the JavaScript automerge-repo peers used by the interop test and the benchmark.
fn npm_install() -> anyhow::Result<()> {
    let js = root().join("tests/js");
    let stamp = js.join("node_modules/.signpost-installed");
    let lock = std::fs::read(js.join("package-lock.json")).context("tests/js/package-lock.json")?;
    if std::fs::read(&stamp).ok().as_deref() == Some(&lock[..]) {
        return Ok(());
    }
    // `npm install --no-save` installs the versions pinned in package-lock.json without rewriting
    // it. (`npm ci` would be the usual choice, but refuses lock files written with
    // `omit-lockfile-registry-resolved`, which leaves other platforms' optional packages out.)
    run(Command::new("npm")
        .args(["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&js))?;
    std::fs::write(stamp, lock)?;
    Ok(())
}

/// The pure core must also build for the browser.
fn wasm_check() -> anyhow::Result<()> {
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    if !installed.map(|o| String::from_utf8_lossy(&o.stdout).contains("wasm32-unknown-unknown")).unwrap_or(false) {
        run(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    run(cargo().args(["build", "--locked", "-p", "signpost-shared", "--target", "wasm32-unknown-unknown"]))
}

fn test(args: &[String]) -> anyhow::Result<()> {
    npm_install()?;
    wasm_check()?;
    run(cargo().args(["build", "--locked", "--workspace", "--all-targets"]))?;
    run(cargo().args(["test", "--locked", "--workspace"]).args(args))?;
    Ok(())
}

fn start(args: &[String]) -> anyhow::Result<()> {
    run(cargo().args(["build", "--locked", "--release", "-p", "signpost"]))?;
    let mut serve = Command::new(root().join("target/release/signpost"));
    serve.current_dir(root()).args(["serve", "--demo", "--data", "data", "--listen", "127.0.0.1:8080"]).args(args);
    eprintln!("$ {}", describe(&serve));
    let status = serve.status()?;
    if !status.success() {
        bail!("signpost exited with {status}");
    }
    Ok(())
}

fn bench(args: &[String]) -> anyhow::Result<()> {
    npm_install()?;
    run(cargo().args(["build", "--locked", "--release", "-p", "signpost", "-p", "signpost-sim"]))?;
    run(Command::new(root().join("target/release/signpost-bench")).current_dir(root()).args(args))?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        "test" => test(rest),
        "start" => start(rest),
        "bench" => bench(rest),
        _ => {
            eprintln!("usage: cargo xtask <start|test|bench> [args]\n  start  build and run Signpost with demo data on http://127.0.0.1:8080\n  test   run every test\n  bench  run the benchmarks (see BENCHMARKS.md)");
            return std::process::ExitCode::from(if cmd == "help" { 0 } else { 2 });
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
