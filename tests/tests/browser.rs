//! The tablet app in headless Chromium (Debian's, driven by playwright-core) against the real
//! relay serving the built app: `tests/js/browser-smoke.mjs` does the clicking.

use signpost_tests::{workspace, Server};
use std::process::Command;

#[tokio::test]
async fn the_tablet_app_sets_up_works_offline_syncs_and_passes_axe() {
    let dist = workspace().join("client/dist");
    assert!(
        dist.join("signpost_client_bg.wasm").exists(),
        "the tablet app is not built: run `cargo xtask test` (it builds it)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium is missing: run `cargo xtask test` (it installs Debian's chromium)"
    );
    let dist_arg = dist.to_string_lossy().into_owned();
    let (server, fx) = Server::start_fresh(&["--static-dir", &dist_arg]).unwrap();
    let out = Command::new("node")
        .arg("browser-smoke.mjs")
        .current_dir(workspace().join("tests/js"))
        .env("SIGNPOST_URL", &server.url)
        .env("TOKEN", &fx.token_a1)
        .env("TOKEN2", &fx.token_a2)
        .env("SITE_NAME", "Court A")
        .env("SCHEME", &fx.scheme)
        .env("ADMIN_TOKEN", &fx.admin)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "browser-smoke.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON report");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["offline"]["counted"], 3, "{report}");
    assert_eq!(report["merged"], true, "{report}");
    assert_eq!(report["voided"], true, "{report}");
    for screen in ["set-up", "set-up with an error", "desk", "log form with errors", "desk with entries"] {
        assert_eq!(report["screens"][screen]["violations"], serde_json::json!([]), "{screen}: {report}");
    }
}
