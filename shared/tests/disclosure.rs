//! Property tests of disclosure control over random tables: no published count below the
//! threshold, none off its true value by more than the rounding, no suppressed cell recoverable
//! from what is published, and no differencing between tables that split the same population
//! two ways.

use proptest::prelude::*;
use signpost_shared::disclosure::{
    protect, protect_linked, protect_linked_amounts, recoverable, recoverable_linked, Cell, Contributors, Policy, Table,
};

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

/// A table of amounts made up by people of a few schemes: each cell's people and what each gave,
/// and what no known person gave (ids on no roster).
fn amounts(max_rows: usize) -> impl Strategy<Value = (Table, Vec<Vec<Contributors>>)> {
    let person = (0u32..4, prop_oneof![1 => Just(0u64), 3 => 1u64..10, 1 => 10u64..400]);
    let cell = (proptest::collection::vec(person, 0..7), prop_oneof![3 => Just(0u64), 1 => 1u64..500]);
    (1..=max_rows).prop_flat_map(move |r| {
        proptest::collection::vec(cell.clone(), r).prop_map(move |rows| {
            let contributors: Vec<Vec<Contributors>> = rows
                .iter()
                .map(|(people, unattributed)| {
                    vec![Contributors {
                        people: people.iter().map(|(_, v)| *v).collect(),
                        schemes: people.iter().filter(|(_, v)| *v > 0).map(|(s, _)| *s).collect(),
                        unattributed: *unattributed,
                    }]
                })
                .collect();
            let counts =
                contributors.iter().map(|c| vec![c[0].people.iter().sum::<u64>() + c[0].unattributed]).collect();
            let table =
                Table { rows: (0..r).map(|i| format!("region {i}")).collect(), cols: vec!["hours".into()], counts };
            (table, contributors)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// However large an amount, it is published only if enough people and schemes made it up and
    /// no two of them made up nearly all of it; and nothing suppressed can be worked out.
    #[test]
    fn no_published_amount_has_too_few_contributors((t, c) in amounts(6)) {
        let policy = Policy::default();
        let p = protect_linked_amounts(std::slice::from_ref(&t), std::slice::from_ref(&c), &policy).remove(0);
        let mut all = Contributors::default();
        for (i, row) in c.iter().enumerate() {
            all.people.extend(&row[0].people);
            all.schemes.extend(&row[0].schemes);
            all.unattributed += row[0].unattributed;
            let published = [p.cells[i][0], p.row_totals[i]];
            for cell in published {
                if let Cell::Count(n) = cell {
                    prop_assert!(policy.enough_contributors(&row[0]), "row {i} published as {n}: {:?}", row[0]);
                }
            }
        }
        for cell in [p.col_totals[0], p.total] {
            if let Cell::Count(n) = cell {
                prop_assert!(policy.enough_contributors(&all), "total published as {n}: {all:?}");
            }
        }
        prop_assert_eq!(recoverable(&p), None);
    }
}

/// The single-volunteer attack, as it was found: one volunteer's quarter in Wales (40 hours, 25
/// referrals) was published because the figures were large, though one person made them.
#[test]
fn one_volunteers_quarter_is_never_published_however_large() {
    let policy = Policy::default();
    let one = |v: u64| Contributors { people: vec![v], schemes: [0].into(), unattributed: 0 };
    let many = |v: u64| Contributors { people: vec![v / 4; 4], schemes: [1, 2].into(), unattributed: 0 };
    for (wales, elsewhere) in [(40u64, 400u64), (25, 300)] {
        let t = Table {
            rows: vec!["Wales".into(), "London".into()],
            cols: vec!["amount".into()],
            counts: vec![vec![wales], vec![elsewhere]],
        };
        let c = vec![vec![one(wales)], vec![many(elsewhere)]];
        let p = protect_linked_amounts(&[t], &[c], &policy).remove(0);
        assert_eq!(p.cells[0][0].text(), "[c]", "Wales");
        assert_eq!(p.cells[1][0].text(), "[c]", "London too, or Wales = total − London");
    }
    // Three volunteers where two did nearly everything: dominated, suppressed.
    let dominated = Contributors { people: vec![50, 45, 2], schemes: [0, 1].into(), unattributed: 0 };
    assert!(!policy.enough_contributors(&dominated));
    let spread = Contributors { people: vec![20, 20, 20], schemes: [0, 1].into(), unattributed: 0 };
    assert!(policy.enough_contributors(&spread));
    let one_scheme = Contributors { schemes: [0].into(), ..spread.clone() };
    assert!(!policy.enough_contributors(&one_scheme), "one scheme");
}

/// Fake contributors: hours logged under ids on no roster (or under none) are counted but are
/// nobody. A cell made only of them, or of one volunteer and them, is never published; what
/// they add may all be one person's, so it takes part in the dominance rule.
#[test]
fn what_no_known_volunteer_gave_never_makes_an_amount_publishable() {
    let policy = Policy::default();
    let only_them = Contributors { people: vec![], schemes: [0, 1].into(), unattributed: 500 };
    assert!(!policy.enough_contributors(&only_them));
    let one_and_them = Contributors { people: vec![40], schemes: [0, 1].into(), unattributed: 500 };
    assert!(!policy.enough_contributors(&one_and_them));
    let spread = Contributors { people: vec![20, 20, 20], schemes: [0, 1].into(), unattributed: 0 };
    assert!(policy.enough_contributors(&Contributors { unattributed: 10, ..spread.clone() }));
    assert!(
        !policy.enough_contributors(&Contributors { unattributed: 1_000, ..spread }),
        "one unknown contributor making up nearly all of it"
    );
    // A table whose Wales row is one volunteer's hours and fifty made-up ids' hours.
    let t = Table {
        rows: vec!["Wales".into(), "London".into()],
        cols: vec!["hours".into()],
        counts: vec![vec![540], vec![400]],
    };
    let london = Contributors { people: vec![100; 4], schemes: [1, 2].into(), unattributed: 0 };
    let c = vec![vec![one_and_them], vec![london]];
    let p = protect_linked_amounts(&[t], &[c], &policy).remove(0);
    assert_eq!(p.cells[0][0].text(), "[c]", "Wales");
}
