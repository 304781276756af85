//! `client`: the tablet app in headless Chromium (bytes downloaded, save → durable, cold start).

use super::*;

pub(crate) fn client_fixture(scheme: &str, site: &str, days: u64, per_day: usize) -> serde_json::Value {
    use base64::Engine;
    // Days the relay takes: the last `days` before today.
    let start = chrono::Utc::now().date_naive() - chrono::Days::new(days + 1);
    let docs: Vec<serde_json::Value> = (0..days)
        .map(|d| {
            let h = Header::desk_day(scheme, site, start + chrono::Days::new(d));
            let doc = day_doc(&h, per_day, &format!("d{d}-"));
            json!([h.well_known_id().to_string(), base64::engine::general_purpose::STANDARD.encode(doc.save())])
        })
        .collect();
    json!(docs)
}

/// The tablet app in headless Chromium: download size, save → durable, cold start offline.
pub(crate) fn client_bench(out: &mut serde_json::Map<String, serde_json::Value>) -> anyhow::Result<()> {
    let dist = root().join("client/dist");
    if !dist.join("signpost_client_bg.wasm").exists() {
        bail!("the tablet app is not built: run `cargo xtask build-client`");
    }
    let data = root().join("target/bench/client");
    let (scheme, sites, admin_token) = fixture(&data, 1)?;
    let (site, token) = &sites[0];
    let fixture_file = root().join("target/bench/client-fixture.json");
    std::fs::write(&fixture_file, client_fixture(&scheme, site, 100, 50).to_string())?;
    let (server, _) = start_signpost(&data, &["--static-dir", &dist.to_string_lossy()])?;
    let run = Command::new("node")
        .arg("client-bench.mjs")
        .current_dir(root().join("tests/js"))
        .env("SIGNPOST_URL", &server.url())
        .env("TOKEN", token)
        .env("SCHEME", &scheme)
        .env("ADMIN_TOKEN", &admin_token)
        .env("SITE_NAME", "Site 0")
        .env("DIST", &dist)
        .env("FIXTURE", &fixture_file)
        .output()?;
    if !run.status.success() {
        bail!("client-bench.mjs failed: {}", String::from_utf8_lossy(&run.stderr));
    }
    let r: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&run.stdout).lines().last().unwrap_or_default())?;
    eprintln!("client: {r}");
    out.insert("client".into(), r);
    Ok(())
}
