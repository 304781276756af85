//! Randomized whole-path schedules, in process: several simulated tablets at several desks, each
//! driven by `shared::peer` and persisting its documents in the tablet format (`shared::local`),
//! run schedules no person would script — log, correct, void, start and end shifts with random
//! values in every field, go offline for random lengths with frames lost in flight, crash and
//! restart from their stored bytes, reconnect, cross midnight — while the relay is killed and
//! restarted, a coordinator edits the directory (server-side edits) and erases referrals or
//! redacts their notes (the day rewritten; tablets follow and carry over what they had not
//! synced) at the same time.
//!
//! After each schedule every tablet comes back online and the network settles; then:
//! - every entry any tablet saved is stored on the relay, and an entry only one tablet wrote
//!   holds exactly what it wrote last;
//! - every tablet holds exactly the relay's copy of each document it has;
//! - the statistics facts equal an independent projection of the final stored documents
//!   (nothing missing, nothing counted twice), and the counted referrals equal a recount;
//! - no erased referral is in any stored document's history or on any tablet;
//! - the relay refused nobody.
//!
//! `SIGNPOST_SCHEDULES=N` runs N schedules (default 1,000) from seed `SIGNPOST_FIRST_SEED` (0); `SIGNPOST_SEED=S` runs one. A failure
//! prints its seed.

mod check;
mod erasure;
mod schedule;
mod world;

use rand::Rng;
use world::World;

/// What one schedule did.
struct Summary {
    tablets: usize,
    entries: usize,
    relay_restarts: u32,
    tablet_restarts: u32,
    edits: u32,
    rewrites: usize,
}

/// Runs one schedule; `Err` says what broke.
fn run(seed: u64) -> Result<Summary, String> {
    let mut w = World::new(seed);
    let steps = w.rng.random_range(20..120);
    for _ in 0..steps {
        w.step();
    }
    w.heal_and_check()?;
    Ok(Summary {
        tablets: w.tablets.len(),
        entries: w.ledger.entries.len(),
        relay_restarts: w.relay_restarts,
        tablet_restarts: w.tablets.iter().map(|t| t.restarts).sum(),
        edits: w.edits_ok,
        rewrites: w.rewritten.len(),
    })
}

#[test]
fn random_schedules_lose_nothing_count_once_and_converge() {
    let seeds: Vec<u64> = match std::env::var("SIGNPOST_SEED") {
        Ok(s) => vec![s.parse().expect("SIGNPOST_SEED is a number")],
        Err(_) => {
            let var = |k: &str, default: u64| std::env::var(k).ok().and_then(|n| n.parse().ok()).unwrap_or(default);
            let first = var("SIGNPOST_FIRST_SEED", 0);
            (first..first + var("SIGNPOST_SCHEDULES", 1_000)).collect()
        }
    };
    let (mut entries, mut relay_restarts, mut tablet_restarts, mut edits, mut rewrites) = (0, 0, 0, 0, 0);
    for seed in &seeds {
        let again = format!("re-run alone: SIGNPOST_SEED={seed} cargo test -p signpost-sim --test whole_path");
        match std::panic::catch_unwind(|| run(*seed)) {
            Ok(Ok(s)) => {
                if seeds.len() == 1 {
                    println!("seed {seed}: {} tablets, {} entries", s.tablets, s.entries);
                }
                entries += s.entries;
                relay_restarts += s.relay_restarts;
                tablet_restarts += s.tablet_restarts;
                edits += s.edits;
                rewrites += s.rewrites;
            }
            Ok(Err(e)) => panic!("schedule failed: {e}\n  {again}"),
            Err(_) => panic!("schedule panicked\n  {again}"),
        }
    }
    println!(
        "{} schedules passed: {entries} entries, {relay_restarts} relay restarts, {tablet_restarts} tablet restarts, {edits} roster edits, {rewrites} days rewritten by erasures",
        seeds.len()
    );
}
