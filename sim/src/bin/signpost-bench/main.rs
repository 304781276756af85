//! `signpost-bench`: the benchmarks behind `cargo xtask bench`. Results go to stdout (Markdown)
//! and `target/bench/results.json`; BENCHMARKS.md records them with the command.
//!
//! - `model`: the document-granularity decision, in process (no sockets): one document per desk
//!   per day vs one document per referral, on the ingest and catch-up workloads, plus the raw
//!   speed of the automerge version in use.
//! - `ingest`: N simulated tablets on concurrent WebSockets each push M referrals, closed loop,
//!   to a fresh Signpost relay and then, in the same run, to the JavaScript
//!   `@automerge/automerge-repo-sync-server` (bound to 127.0.0.1).
//! - `catchup`: a tablet reconnects holding K offline referrals.
//! - `coldstart`: restart with D stored documents: time to serving and memory.
//! - `client`: the tablet app in headless Chromium: bytes downloaded, save → durable in
//!   IndexedDB, cold start offline with 5,000 stored referrals.
//! - `stats`: 500 schemes, 10,000 volunteers, 1,000,000 referrals: dashboard and national query
//!   times, and the CSV export of 1,000,000 referrals (time, memory).

mod catchup;
mod client;
mod coldstart;
mod erasure;
mod ingest;
mod model;
mod procs;
mod scale;
mod stats;

use catchup::*;
use client::*;
use coldstart::*;
use ingest::*;
use model::*;
use procs::*;

use anyhow::{bail, Context};
use automerge::Automerge;
use chrono::NaiveDate;
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::json;
use signpost_harness::process::{Log, Relay};
use signpost_shared::ids::DocumentId;
use signpost_shared::relay::{Config, Principal};
use signpost_shared::schema::{self, AgencyRef, Header, Referral};
use signpost_shared::testkit::Net;
use signpost_shared::vocab::{Category, HelpKind, Helped};
use signpost_sim::Tablet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Which benchmarks: model, ingest, catchup, coldstart, client, erasure, stats, or all; or
    /// scale (SQLite and PostgreSQL, one and two relays).
    #[arg(default_value = "all")]
    which: String,
    #[arg(long, default_value_t = 1000)]
    tablets: usize,
    #[arg(long, default_value_t = 50)]
    referrals: usize,
    #[arg(long, default_value_t = 500)]
    offline: usize,
    #[arg(long, default_value_t = 100_000)]
    cold_docs: usize,
    /// Skip the JavaScript sync server comparison.
    #[arg(long)]
    no_js: bool,
}

fn root() -> PathBuf {
    std::env::current_dir().expect("cwd")
}

fn day() -> NaiveDate {
    chrono::Utc::now().date_naive() - chrono::Days::new(7)
}

fn referral(id: String) -> Referral {
    Referral {
        id,
        recorded_at_ms: 1_764_000_000_000,
        volunteer: Some("vol-0001".into()),
        helped: Helped::Defendant,
        age_band: None,
        categories: [Category::Housing, Category::DebtBenefitsFinance].into(),
        agency: AgencyRef::Directory("citizens-advice".into()),
        help: HelpKind::Signposted,
        follow_up: false,
        follow_up_closed: None,
        notes: Some("Short note about the next hearing date.".into()),
        void: None,
    }
}

/// A day's document with `n` referrals, each its own change, as a tablet writes them.
fn day_doc(header: &Header, n: usize, id_prefix: &str) -> Automerge {
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    schema::write_header(&mut tx, header).unwrap();
    tx.commit();
    for i in 0..n {
        let mut tx = doc.transaction();
        schema::write_referral(&mut tx, &referral(format!("{id_prefix}{i}"))).unwrap();
        tx.commit();
    }
    doc
}

fn raw_change_bytes(doc: &Automerge) -> usize {
    doc.get_changes(&[]).iter().map(|c| c.raw_bytes().len()).sum()
}

fn nanos() -> u128 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos()
}

fn rand16() -> [u8; 16] {
    let mut b = [0u8; 16];
    rand::fill(&mut b);
    b
}

fn main() -> anyhow::Result<()> {
    if std::env::args().nth(1).as_deref() == Some("client-fixture") {
        let a: Vec<String> = std::env::args().skip(2).collect();
        let (scheme, site) = (a.first().context("scheme")?, a.get(1).context("site")?);
        println!("{}", client_fixture(scheme, site, 100, 50));
        return Ok(());
    }
    let args = Args::parse();
    let mut out = serde_json::Map::new();
    let all = args.which == "all";
    out.insert("machine".into(), json!({"cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)}));
    if all || args.which == "model" {
        eprintln!("model: document granularity, in process");
        let m = model_bench(args.tablets.min(200), args.referrals, args.offline);
        eprintln!("model: {m}");
        out.insert("model".into(), m);
    }
    if all || args.which == "ingest" {
        ingest_bench(&args, &mut out)?;
    }
    // Not in `all`: it starts its own PostgreSQL cluster and runs the ingest three times.
    if args.which == "scale" {
        scale::scale_bench(&args, &mut out)?;
    }
    if all || args.which == "catchup" {
        catchup_bench(&args, &mut out)?;
    }
    if all || args.which == "coldstart" {
        coldstart_bench(&args, &mut out)?;
    }
    if all || args.which == "client" {
        client_bench(&mut out)?;
    }
    if all || args.which == "erasure" {
        erasure::erasure_bench(&mut out)?;
    }
    if all || args.which == "stats" {
        stats::stats_bench(&mut out)?;
    }
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("results-{}.json", args.which));
    std::fs::write(&path, serde_json::to_string_pretty(&serde_json::Value::Object(out.clone()))?)?;
    println!("{}", serde_json::to_string_pretty(&serde_json::Value::Object(out))?);
    eprintln!("results written to {}", path.display());
    Ok(())
}
