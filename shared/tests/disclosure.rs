//! Property tests of disclosure control over random tables: no published count below the
//! threshold, none off its true value by more than the rounding, no suppressed cell recoverable
//! from what is published, and no differencing between tables that split the same population
//! two ways.

use proptest::prelude::*;
use signpost_shared::disclosure::{protect, protect_linked, recoverable, recoverable_linked, Cell, Policy, Table};

/// Counts as they come: many zeros and small numbers, some large.
fn count() -> impl Strategy<Value = u64> {
    prop_oneof![3 => Just(0u64), 4 => 1u64..15, 3 => 15u64..200]
}

fn table(max_rows: usize, max_cols: usize) -> impl Strategy<Value = Table> {
    (1..=max_rows, 1..=max_cols).prop_flat_map(|(r, c)| {
        proptest::collection::vec(proptest::collection::vec(count(), c), r).prop_map(move |counts| Table {
            rows: (0..r).map(|i| format!("row {i}")).collect(),
            cols: (0..c).map(|j| format!("col {j}")).collect(),
            counts,
        })
    })
}

/// Every (true value, published cell) pair of a table, margins included.
fn pairs(t: &Table, p: &signpost_shared::disclosure::Published) -> Vec<(u64, Cell)> {
    let (r, c) = (t.rows.len(), t.cols.len());
    let mut out = Vec::new();
    let row_sum = |i: usize| t.counts[i].iter().sum::<u64>();
    let col_sum = |j: usize| t.counts.iter().map(|row| row[j]).sum::<u64>();
    for i in 0..r {
        for j in 0..c {
            out.push((t.counts[i][j], p.cells[i][j]));
        }
        out.push((row_sum(i), p.row_totals[i]));
    }
    for j in 0..c {
        out.push((col_sum(j), p.col_totals[j]));
    }
    out.push(((0..r).map(row_sum).sum(), p.total));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn nothing_small_is_published_and_nothing_suppressed_can_be_recovered(t in table(6, 6), threshold in 5u64..=15) {
        let policy = Policy::with_threshold(threshold).unwrap();
        let p = protect(&t, &policy);
        for (truth, cell) in pairs(&t, &p) {
            match cell {
                Cell::Count(n) => {
                    prop_assert!(truth == 0 || truth >= threshold, "{truth} published as {n}");
                    prop_assert_eq!(n % policy.round_to, 0);
                    prop_assert!(n.abs_diff(truth) <= policy.round_to / 2, "{truth} published as {n}");
                }
                Cell::Suppressed(_) => prop_assert!(truth > 0, "a zero was suppressed"),
            }
        }
        prop_assert_eq!(recoverable(&p), None);
    }

    /// The same volunteers by region and by scheme type: the two tables share their column totals.
    /// An attacker holding both must not be able to work out any suppressed cell of either.
    #[test]
    fn two_breakdowns_of_one_population_cannot_be_differenced(
        cube in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(count(), 4), 3), 1..5),
    ) {
        let regions = cube.len();
        let (types, cols) = (3, 4);
        let by_region = Table {
            rows: (0..regions).map(|r| format!("region {r}")).collect(),
            cols: (0..cols).map(|c| format!("answer {c}")).collect(),
            counts: cube.iter().map(|r| (0..cols).map(|c| r.iter().map(|t| t[c]).sum()).collect()).collect(),
        };
        let by_type = Table {
            rows: (0..types).map(|t| format!("type {t}")).collect(),
            cols: by_region.cols.clone(),
            counts: (0..types).map(|t| (0..cols).map(|c| cube.iter().map(|r| r[t][c]).sum()).collect()).collect(),
        };
        let policy = Policy::default();
        let published = protect_linked(&[by_region.clone(), by_type.clone()], &policy);
        prop_assert_eq!(&published[0].col_totals, &published[1].col_totals, "one figure, one value");
        prop_assert_eq!(published[0].total, published[1].total);
        prop_assert_eq!(recoverable_linked(&published), None);
        for (t, p) in [&by_region, &by_type].into_iter().zip(&published) {
            for (truth, cell) in pairs(t, p) {
                if let Cell::Count(_) = cell {
                    prop_assert!(truth == 0 || truth >= policy.threshold);
                }
            }
        }
    }
}

/// The attack the linked protection stops: a column total hidden in one breakdown but published
/// in another gives the hidden cells away.
#[test]
fn protecting_breakdowns_separately_would_leak() {
    let by_region = Table {
        rows: vec!["north".into(), "south".into()],
        cols: vec!["yes".into(), "no".into()],
        counts: vec![vec![0, 27], vec![46, 0]],
    };
    // The 6 forces its row and column to hide more, down to the "yes" total, which the
    // by-region table has no reason to hide.
    let by_type = Table {
        rows: vec!["court".into(), "prison".into()],
        cols: vec!["yes".into(), "no".into()],
        counts: vec![vec![0, 21], vec![46, 6]],
    };
    let policy = Policy::default();
    let apart = [protect(&by_region, &policy), protect(&by_type, &policy)];
    assert!(recoverable_linked(&apart).is_some(), "separately, the second table publishes the first's hidden total");
    let together = protect_linked(&[by_region, by_type], &policy);
    assert_eq!(recoverable_linked(&together), None);
}
