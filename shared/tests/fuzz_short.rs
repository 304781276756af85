//! The short fuzz run of the normal test suite, on stable: each fuzz target
//! (`signpost_shared::fuzzing`) over its saved corpus (`fuzz/corpus/<target>/`, what the
//! coverage-guided runs kept) and then over seeded mutations of it. A failure prints the seed and
//! the input, which replays with `cargo xtask fuzz <target>` or in this test.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

/// The target's seeds and its saved corpus.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.expect("a corpus entry").path()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    files.sort();
    let mut all = signpost_shared::fuzzing::seeds(target);
    all.extend(files.into_iter().map(|p| std::fs::read(p).expect("a corpus file")));
    all
}

/// One input changed the ways libFuzzer changes them: bytes flipped, inserted, removed, a run
/// copied from another input.
fn mutate(rng: &mut StdRng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..rng.random_range(1..=8) {
        match rng.random_range(0..5) {
            0 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let i = rng.random_range(0..=v.len());
                v.insert(i, rng.random());
            }
            2 if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v.remove(i);
            }
            3 if !other.is_empty() => {
                let from = rng.random_range(0..other.len());
                let n = rng.random_range(1..=(other.len() - from).min(64));
                let at = rng.random_range(0..=v.len());
                v.splice(at..at, other[from..from + n].iter().copied());
            }
            _ if !v.is_empty() => {
                let i = rng.random_range(0..v.len());
                v[i] = [0, 0xff, 0x7f, 0x80, 0x18, 0x19, 0x1a, 0x1b][rng.random_range(0..8)];
            }
            _ => v.push(rng.random()),
        }
    }
    v
}

fn run(target: &str, f: fn(&[u8]), mutations: usize) {
    let seed: u64 = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5167_9057);
    let corpus = corpus(target);
    assert!(!corpus.is_empty(), "the {target} corpus is empty");
    let check = |input: &[u8], what: &str| {
        if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
            panic!("fuzz target {target} failed on {what} (FUZZ_SEED={seed}); input (hex): {}", hex(input));
        }
    };
    for (i, input) in corpus.iter().enumerate() {
        check(input, &format!("corpus entry {i}"));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..mutations {
        let base = &corpus[rng.random_range(0..corpus.len())];
        let other = &corpus[rng.random_range(0..corpus.len())];
        let input = mutate(&mut rng, base, other);
        check(&input, &format!("mutation {i}"));
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn wire_decoder() {
    run("wire", signpost_shared::fuzzing::wire, 50_000);
}

#[test]
fn relay_core() {
    run("relay", signpost_shared::fuzzing::relay, 1_500);
}
