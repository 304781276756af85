//! `cargo xtask <command>`: the project's build, test, run and benchmark steps, in Rust.
//!
//! - `start`: build everything (relay and tablet app) and run the relay on the embedded default
//!   (SQLite in ./data, a demo scheme, site and credentials printed at start)
//! - `test`: install what the tests need and run every test
//! - `bench`: run the benchmarks and print their results (see BENCHMARKS.md)
//! - `build-client`: build the tablet app into `client/dist`
//! - `fuzz`: coverage-guided fuzzing of the wire decoder or the relay core (nightly, cargo-fuzz)

mod layers;

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

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// Must equal the `wasm-bindgen` crate version pinned in client/Cargo.toml.
const WASM_BINDGEN_VERSION: &str = "0.2.130";

fn ensure_nightly(components: &[&str]) -> anyhow::Result<()> {
    let nightly = Command::new("rustup").args(["run", "nightly", "rustc", "--version"]).output();
    if !nightly.map(|o| o.status.success()).unwrap_or(false) {
        run(Command::new("rustup").args(["toolchain", "install", "nightly", "--profile", "minimal"]))?;
    }
    let installed =
        Command::new("rustup").args(["component", "list", "--installed", "--toolchain", "nightly"]).output();
    let installed = installed.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    for c in components {
        if !installed.lines().any(|l| l == *c || l.starts_with(&format!("{c}-"))) {
            run(Command::new("rustup").args(["component", "add", c, "--toolchain", "nightly"]))?;
        }
    }
    Ok(())
}

/// The wasm-bindgen CLI at exactly the crate's version, installed when missing — beside cargo's
/// own tools (`$CARGO_HOME/signpost-tools/wasm-bindgen-<version>`) rather than in `target/`, so
/// that a fresh clone on the same machine does not spend five minutes building it again.
fn wasm_bindgen() -> anyhow::Result<PathBuf> {
    let tools = cargo_home()?.join("signpost-tools").join(format!("wasm-bindgen-{WASM_BINDGEN_VERSION}"));
    let bin = tools.join("bin/wasm-bindgen");
    let version = Command::new(&bin).arg("--version").output();
    if !version.map(|o| String::from_utf8_lossy(&o.stdout).contains(WASM_BINDGEN_VERSION)).unwrap_or(false) {
        // No --locked: one of its pinned dependencies is not on the registry mirror.
        run(cargo().args(["install", "wasm-bindgen-cli", "--version", WASM_BINDGEN_VERSION, "--root"]).arg(&tools))?;
    }
    Ok(bin)
}

/// Cargo's home folder (`CARGO_HOME`, else `~/.cargo`).
fn cargo_home() -> anyhow::Result<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .context("neither CARGO_HOME nor HOME is set")
}

/// npm packages of one folder, installed at the versions its package-lock.json pins.
fn npm_install_in(dir: &Path) -> anyhow::Result<()> {
    let stamp = dir.join("node_modules/.signpost-installed");
    let lock =
        std::fs::read(dir.join("package-lock.json")).with_context(|| format!("{}/package-lock.json", dir.display()))?;
    if std::fs::read(&stamp).ok().as_deref() == Some(&lock[..]) {
        return Ok(());
    }
    // `npm install --no-save` installs the versions pinned in package-lock.json without rewriting
    // it. (`npm ci` would be the usual choice, but refuses lock files written with
    // `omit-lockfile-registry-resolved`, which leaves other platforms' optional packages out.)
    run(Command::new("npm")
        .args(["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir))?;
    std::fs::write(stamp, lock)?;
    Ok(())
}

/// Rust flags for the wasm target only (build scripts and proc macros keep the host's).
const TARGET_RUSTFLAGS: &str = "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS";

/// Panic locations name source files; without this the app would carry the build machine's
/// paths to every tablet (and download them: a few KB).
fn remap_source_paths() -> anyhow::Result<String> {
    let cargo_home = cargo_home()?;
    let mut flags = vec![format!("--remap-path-prefix={}=/signpost", root().display())];
    if let Ok(indexes) = std::fs::read_dir(cargo_home.join("registry/src")) {
        for index in indexes.flatten() {
            flags.push(format!("--remap-path-prefix={}=/crates", index.path().display()));
        }
    }
    Ok(flags.join(" "))
}

/// Writes `file.gz` (zopfli: the smallest gzip, still plain gzip to every browser) and `file.br`
/// beside a file, for the relay to serve as they are instead of compressing on every request.
fn precompress(file: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let data = std::fs::read(file).with_context(|| file.display().to_string())?;
    let mut gz = Vec::new();
    zopfli::compress(zopfli::Options::default(), zopfli::Format::Gzip, &data[..], &mut gz)?;
    let mut br = Vec::new();
    {
        let params = brotli::enc::BrotliEncoderParams { quality: 11, lgwin: 24, ..Default::default() };
        let mut w = brotli::CompressorWriter::with_params(&mut br, 64 * 1024, &params);
        w.write_all(&data)?;
    }
    let name = file.file_name().context("file name")?.to_string_lossy().into_owned();
    std::fs::write(file.with_file_name(format!("{name}.gz")), gz)?;
    std::fs::write(file.with_file_name(format!("{name}.br")), br)?;
    Ok(())
}

/// Builds the tablet app into client/dist: wasm + JS glue, GOV.UK styles, the static shell and a
/// service worker whose cache name changes with every different build.
fn build_client() -> anyhow::Result<PathBuf> {
    ensure_nightly(&["rust-src"])?;
    let bindgen = wasm_bindgen()?;
    // The app is built on nightly with the standard library rebuilt for it, so that a panic
    // aborts at once (`-Cpanic=immediate-abort`) and carries no location or `Debug` text. In
    // wasm32-unknown-unknown a panic's message is printed nowhere anyway, and the formatting
    // machinery it pulls in was about 67 KB of the 550 KB download (measured: 556 KB gzip before,
    // 489 KB after). A panic stops the app just as `panic = "abort"` did.
    let flags = format!(
        "-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none {}",
        remap_source_paths()?
    );
    run(Command::new("rustup")
        .args(["run", "nightly", "cargo"])
        .env(TARGET_RUSTFLAGS, flags)
        .env_remove("RUSTC")
        .env_remove("RUSTDOC")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .current_dir(root())
        .args([
            "build",
            "--locked",
            "-Zbuild-std=std,panic_abort",
            "--profile",
            "wasm-release",
            "--target",
            WASM_TARGET,
        ])
        .args(["-p", "signpost-client"]))?;
    let client = root().join("client");
    let dist = client.join("dist");
    let wasm = root().join("target").join(WASM_TARGET).join("wasm-release/signpost_client.wasm");
    // Everything after the compile (wasm-bindgen, wasm-opt, terser, sass, zopfli and brotli)
    // takes about two minutes and depends only on these inputs: with none changed, the app in
    // dist is already this build.
    let stamp = dist.join(".inputs");
    let inputs = client_inputs(&client, &wasm)?;
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(inputs.as_str()) {
        eprintln!("client in {} is up to date", dist.display());
        return Ok(dist);
    }
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(&dist)?;
    run(Command::new(&bindgen)
        .args([
            "--target",
            "web",
            "--no-typescript",
            "--remove-name-section",
            "--remove-producers-section",
            "--out-dir",
        ])
        .arg(&dist)
        .arg(&wasm))?;
    npm_install_in(&client)?;
    // Binaryen's optimiser (from npm: its JavaScript build). `-O1` is the level whose output
    // compresses smallest here (measured: -O2, -Os, -Oz shrink the file but grow its gzip).
    let bg_wasm = dist.join("signpost_client_bg.wasm");
    run(Command::new("node")
        .arg("node_modules/binaryen/bin/wasm-opt")
        .args(["-O1", "--enable-bulk-memory", "--enable-nontrapping-float-to-int", "--enable-sign-ext"])
        .args(["--enable-mutable-globals", "--enable-reference-types", "--enable-multivalue", "-o"])
        .arg(&bg_wasm)
        .arg(&bg_wasm)
        .current_dir(&client))?;
    // The JavaScript glue, minified (its exports keep their names).
    run(Command::new("node")
        .args(["node_modules/terser/bin/terser", "dist/signpost_client.js", "--module", "-c", "-m"])
        .args(["-o", "dist/signpost_client.js"])
        .current_dir(&client))?;
    run(Command::new("npx")
        .args(["sass", "--load-path=node_modules", "--style=compressed", "--no-source-map"])
        .args(["styles/app.scss:dist/app.css", "styles/manage.scss:dist/manage.css"])
        .current_dir(&client))?;
    for f in [
        "index.html",
        "manifest.webmanifest",
        "icon-192.png",
        "icon-512.png",
        "equality.js",
        "outbox.js",
        "body-class.js",
        "start.js",
    ] {
        std::fs::copy(client.join("static").join(f), dist.join(f))?;
    }
    for f in ["signpost_client_bg.wasm", "signpost_client.js", "app.css", "manage.css"] {
        precompress(&dist.join(f))?;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for f in ["index.html", "app.css", "signpost_client.js", "signpost_client_bg.wasm"] {
        std::hash::Hash::hash(&std::fs::read(dist.join(f))?, &mut hasher);
    }
    for f in ["sw.js", "sw-shell.js", "equality.js", "outbox.js", "body-class.js", "start.js"] {
        std::hash::Hash::hash(&std::fs::read(client.join("static").join(f))?, &mut hasher);
    }
    let version = format!("{:016x}", std::hash::Hasher::finish(&hasher));
    for f in ["sw.js", "sw-shell.js"] {
        let sw = std::fs::read_to_string(client.join("static").join(f))?.replace("BUILD_VERSION", &version);
        std::fs::write(dist.join(f), sw)?;
    }
    std::fs::write(&stamp, inputs)?;
    eprintln!("client built into {} (version {version})", dist.display());
    Ok(dist)
}

/// A fingerprint of what the app in dist is made from: the compiled wasm, the styles, the static
/// files, the npm lock file and this build recipe.
fn client_inputs(client: &Path, wasm: &Path) -> anyhow::Result<String> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&std::fs::read(wasm)?, &mut hasher);
    std::hash::Hash::hash(include_str!("main.rs"), &mut hasher);
    std::hash::Hash::hash(&std::fs::read(client.join("package-lock.json")).unwrap_or_default(), &mut hasher);
    for folder in ["styles", "static"] {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(client.join(folder))?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        files.sort();
        for f in files {
            std::hash::Hash::hash(&f.file_name(), &mut hasher);
            std::hash::Hash::hash(&std::fs::read(&f)?, &mut hasher);
        }
    }
    Ok(format!("{:016x}", std::hash::Hasher::finish(&hasher)))
}

/// Debian's Chromium for the browser tests (never a browser download: none is reachable).
fn ensure_chromium() -> anyhow::Result<()> {
    if std::env::var_os("CHROMIUM").is_some() {
        return Ok(());
    }
    ensure_debian(&[("/usr/bin/chromium", "chromium")])
}

/// Debian packages the tests use, installed when their file is missing: `(file, package)`.
fn ensure_debian(needed: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<&str> = needed.iter().filter(|(f, _)| !Path::new(f).exists()).map(|(_, p)| *p).collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get").args(["install", "-y", "-qq"]).args(&missing).env("DEBIAN_FRONTEND", "noninteractive"))
}

fn test(args: &[String]) -> anyhow::Result<()> {
    ensure_chromium()?;
    // `systemd-analyze verify` checks the deployment's unit files (docs/deploy.md); the harness
    // starts throw-away PostgreSQL clusters (never a system service).
    ensure_debian(&[("/usr/bin/systemd-analyze", "systemd"), ("/usr/lib/postgresql", "postgresql")])?;
    npm_install()?;
    build_client()?;
    // A whole-suite run gains nothing from incremental artefacts, which would take a fifth of
    // the build's disk space (see the dev profile in Cargo.toml).
    let cargo = || {
        let mut c = cargo();
        c.env("CARGO_INCREMENTAL", "0");
        c
    };
    run(cargo().args(["build", "--locked", "--workspace", "--all-targets"]))?;
    run(cargo().args(["test", "--locked", "--workspace"]).args(args))?;
    // The suites that must hold on both databases, again with each test's store in a database
    // of a throw-away PostgreSQL cluster (the harness starts it; see harness/src/postgres.rs).
    let both: Vec<&str> = POSTGRES_SUITES.iter().flat_map(|t| ["--test", t]).collect();
    run(cargo()
        .args(["test", "--locked", "-p", "signpost-tests"])
        .args(both)
        .args(args)
        .env("SIGNPOST_TEST_DATABASE", "postgres"))?;
    Ok(())
}

/// The end-to-end suites run on PostgreSQL as well as SQLite (`storage` and `relays` are
/// PostgreSQL's own and run in the first pass). The others look at SQLite's file itself: the
/// byte scans after an erasure or a purge (`erasure`, `lifecycle`), a SQLite trigger playing a
/// failing disk (`roster`), upgrades and backups of a data folder (`upgrade`, `ops`). `hostile`
/// passes on PostgreSQL but its flood's memory bound is not yet met there every time (the relay
/// thread is slower per batch, and its queue of commands is bounded by count, not bytes).
const POSTGRES_SUITES: &[&str] = &["relay", "national", "security", "directory", "export"];

/// The release binary with the tablet app built into it, without its debug line tables (the
/// release profile keeps them for profiling the benchmarks; they are four fifths of the file):
/// `target/dist/signpost`.
fn dist() -> anyhow::Result<PathBuf> {
    build_client()?;
    run(cargo().args(["build", "--locked", "--release", "-p", "signpost"]))?;
    let out = root().join("target/dist");
    std::fs::create_dir_all(&out)?;
    let binary = out.join("signpost");
    std::fs::copy(root().join("target/release/signpost"), &binary)?;
    run(Command::new("strip").arg("--strip-debug").arg(&binary))?;
    eprintln!("the release binary, with the tablet app in it: {}", binary.display());
    Ok(binary)
}

fn start(args: &[String]) -> anyhow::Result<()> {
    let mut serve = Command::new(dist()?);
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
    if args.is_empty() || args.iter().any(|a| a == "client" || a == "all") {
        ensure_chromium()?;
        build_client()?;
    }
    run(cargo().args(["build", "--locked", "--release", "-p", "signpost", "-p", "signpost-sim"]))?;
    run(Command::new(root().join("target/release/signpost-bench")).current_dir(root()).args(args))?;
    Ok(())
}

/// The randomized whole-path schedules against the real relay binary for `--minutes N`
/// (default 10): see `sim/src/bin/signpost-soak`.
fn soak(args: &[String]) -> anyhow::Result<()> {
    run(cargo().args(["build", "--locked", "--release", "-p", "signpost", "-p", "signpost-sim"]))?;
    run(Command::new(root().join("target/release/signpost-soak")).current_dir(root()).args(args))?;
    Ok(())
}

/// The cargo-fuzz release the fuzz crate is run with.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// `fuzz <target> [runs] [--seconds S] [--jobs N] [--no-sanitizer] [--minimize]`: runs a fuzz target of `fuzz/` coverage-guided on the
/// nightly toolchain (installing it and cargo-fuzz when missing) from its corpus in
/// `fuzz/corpus/<target>`, which it grows; `--minimize` then shrinks the corpus to the inputs
/// that keep its coverage (what is committed). The normal suite replays the corpus on stable.
fn fuzz(args: &[String]) -> anyhow::Result<()> {
    let target = args.first().map(String::as_str).unwrap_or_default();
    if !["wire", "relay"].contains(&target) {
        bail!("usage: cargo xtask fuzz <wire|relay> [runs] [--seconds S] [--jobs N] [--no-sanitizer] [--minimize]");
    }
    let runs: u64 = match args.get(1).filter(|a| !a.starts_with("--")) {
        Some(n) => n.parse().context("runs must be a number")?,
        None => 1_000_000,
    };
    let minimize = args.iter().any(|a| a == "--minimize");
    // The relay target spends its time in automerge (safe Rust); without AddressSanitizer it
    // runs about twenty times as many inputs in the same time.
    let sanitizer: &[&str] = if args.iter().any(|a| a == "--no-sanitizer") { &["-s", "none"] } else { &[] };
    let value_of = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1));
    let seconds = value_of("--seconds");
    // Several fuzzing processes sharing the corpus directory, one per core (each writes its
    // log to fuzz/fuzz-<n>.log and runs `runs` inputs).
    let jobs = value_of("--jobs");
    ensure_nightly(&[])?;
    let fuzz_bin = Command::new("cargo").args(["fuzz", "--version"]).output();
    if !fuzz_bin.map(|o| String::from_utf8_lossy(&o.stdout).contains(CARGO_FUZZ_VERSION)).unwrap_or(false) {
        run(cargo().args(["install", "cargo-fuzz", "--locked", "--version", CARGO_FUZZ_VERSION]))?;
    }
    let dir = root().join("fuzz");
    let corpus = format!("corpus/{target}");
    let mut cmd = Command::new("cargo");
    cmd.args(["+nightly", "fuzz", "run", "-O"]).args(sanitizer).args([target, &corpus, "--"]);
    cmd.arg(format!("-runs={runs}")).args(["-max_len=4096", "-print_final_stats=1"]);
    if let Some(s) = seconds {
        cmd.arg(format!("-max_total_time={s}"));
    }
    if let Some(j) = jobs {
        cmd.arg(format!("-jobs={j}")).arg(format!("-workers={j}"));
    }
    run(cmd.current_dir(&dir))?;
    if minimize {
        // Inputs that once failed are kept whatever coverage they add: cmin would drop them.
        let kept: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir.join(&corpus))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("regression-")))
            .map(|p| std::fs::read(&p).map(|b| (p, b)))
            .collect::<Result<_, _>>()?;
        run(Command::new("cargo")
            .args(["+nightly", "fuzz", "cmin", "-O"])
            .args(sanitizer)
            .args([target, &corpus])
            .current_dir(&dir))?;
        for (path, bytes) in kept {
            std::fs::write(path, bytes)?;
        }
    }
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
        "soak" => soak(rest),
        "build-client" => build_client().map(|_| ()),
        "dist" => dist().map(|_| ()),
        "layers" => layers::run(&rest.first().map(PathBuf::from).unwrap_or_else(root)),
        "fuzz" => fuzz(rest),
        _ => {
            eprintln!("usage: cargo xtask <start|test|bench|soak> [args]\n  start  build and run Signpost with demo data on http://127.0.0.1:8080\n  test   run every test\n  bench  run the benchmarks (see BENCHMARKS.md)\n  soak   randomized tablets against the real relay, killed and restarted: soak [--minutes N]\n  build-client  build the tablet app into client/dist\n  dist   the release binary with the tablet app in it (target/dist/signpost)\n  fuzz   coverage-guided fuzzing (nightly, cargo-fuzz): fuzz <wire|relay> [runs] [--seconds S] [--jobs N] [--no-sanitizer] [--minimize]");
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
