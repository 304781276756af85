//! Randomized whole-path schedules, in process: several simulated tablets at several desks, each
//! driven by `shared::peer` and persisting its documents in the tablet format (`shared::local`),
//! run schedules no person would script — log, correct, void, start and end shifts with random
//! values in every field, go offline for random lengths with frames lost in flight, crash and
//! restart from their stored bytes, reconnect, cross midnight — while the relay is killed and
//! restarted, a coordinator edits the directory (server-side edits) and erases referrals or
//! redacts their notes (the day rewritten; tablets follow and carry over what they had not
//! synced) at the same time.
//!
//! Among them, hostile and faulty devices (`hostile.rs`): a tablet of another site of the scheme
//! and one of another scheme send random protocol-valid messages — empty and non-empty `sync`
//! and `request` for other sites' well-known days and the directory, squatting drafts, forged
//! headers, changes whose dependencies never come, days outside the relay's window, extreme
//! values, ephemerals, garbage — and have their site closed; honest tablets' clocks jump by days
//! (to 1 January 2000 too); the relay is restored from an earlier backup while tablets hold
//! newer changes.
//!
//! On every delivery: no connection is sent bytes of a document its credential may not read, and
//! every document a write touched loads strictly from the store.
//!
//! After each schedule every tablet comes back online and the network settles; then:
//! - every entry any tablet saved is stored on the relay, and an entry only one tablet wrote
//!   holds exactly what it wrote last;
//! - every tablet holds exactly the relay's copy of each document it has;
//! - the statistics facts equal an independent projection of the final stored documents
//!   (nothing missing, nothing counted twice), and the counted referrals equal a recount;
//! - no erased referral is in any stored document's history or on any tablet;
//! - every stored document loads; a day set aside was dated outside the window and is counted
//!   nowhere; no figure is negative or past its cap, whoever wrote it;
//! - the relay refused no honest tablet anything (a wrong clock's day is set aside, not refused).
//!
//! `SIGNPOST_SCHEDULES=N` runs N schedules (default 1,000) from seed `SIGNPOST_FIRST_SEED` (0); `SIGNPOST_SEED=S` runs one. A failure
//! prints its seed.

mod check;
mod erasure;
mod hostile;
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
    hostile: u32,
    restores: u32,
    deliveries: u64,
    set_aside: usize,
}

/// Runs one schedule; `Err` says what broke.
fn run(seed: u64) -> Result<Summary, String> {
    let mut w = World::new(seed);
    w.add_hostiles();
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
        hostile: w.hostiles.iter().map(|h| h.actions).sum(),
        restores: w.restores,
        deliveries: w.deliveries,
        set_aside: w.store.set_aside.len(),
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
    let (mut hostile, mut restores, mut deliveries, mut set_aside) = (0, 0, 0, 0);
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
                hostile += s.hostile;
                restores += s.restores;
                deliveries += s.deliveries;
                set_aside += s.set_aside;
            }
            Ok(Err(e)) => panic!("schedule failed: {e}\n  {again}"),
            Err(_) => panic!("schedule panicked\n  {again}"),
        }
    }
    println!(
        "{} schedules passed: {entries} entries, {relay_restarts} relay restarts, {restores} restores from a backup, \
         {tablet_restarts} tablet restarts, {edits} roster edits, {rewrites} days rewritten by erasures, {hostile} hostile \
         actions, {set_aside} days set aside, {deliveries} deliveries checked for who may receive them",
        seeds.len()
    );
}
