//! Statistical disclosure control for every aggregate a national reviewer sees, on screen, in the
//! API and in CSV alike: one function turns a table of true counts into the published table.
//!
//! The rules, in order:
//! 1. **Primary suppression**: a count from 1 to `threshold − 1` is not published (zeros are).
//!    Totals are cells too: a row, column or grand total below the threshold is suppressed.
//! 2. **Secondary suppression**: every row and column, with its total, is an equation
//!    (cells sum to the total). Wherever an equation has exactly one suppressed member, it could
//!    be solved for it, so the smallest other non-zero member is suppressed as well; repeated
//!    until no equation has exactly one. [`recoverable`] checks the stronger property the tests
//!    prove: no suppressed cell is determined by the published values through any combination of
//!    the equations.
//! 3. **Rounding**: every published count is rounded to the nearest multiple of `round_to`, so that
//!    differences between published figures never give an exact count.
//!
//! 4. **Contributors** (tables of amounts: hours, referrals): a cell is published only if enough
//!    people made it up, however large it is. A cell to which fewer than `min_people` volunteers
//!    contributed, or fewer than `min_schemes` schemes, or whose two largest contributors make up
//!    more than `dominance` of it (the (2, k) dominance rule), is suppressed like a small count,
//!    and secondary suppression then protects it. Forty hours from one volunteer say what that
//!    volunteer did; three volunteers where one did nearly all say nearly as much. What no
//!    volunteer on a roster made up (logged with no volunteer, or by an id on no roster: a
//!    tablet can write any id) counts in the amount but never as people, and may all be one
//!    person's: fifty made-up ids must not make one volunteer's hours publishable.
//!
//! What this cannot do on its own is stop differencing between *different* tables. The national
//! view therefore only publishes fixed breakdowns (never a free filter), for fixed periods, and
//! withholds any group smaller than the threshold as a whole ([`Policy::group_published`]).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The knobs, with the product's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Counts below this are suppressed. Never below [`Policy::MIN_THRESHOLD`].
    pub threshold: u64,
    /// Published counts are rounded to the nearest multiple of this.
    pub round_to: u64,
    /// A characteristic is withheld for a group where fewer than this share declared it.
    pub min_declared: f64,
    /// An amount (hours, referrals) needs at least this many contributing volunteers.
    pub min_people: usize,
    /// An amount needs contributions from at least this many schemes (where a breakdown could
    /// single out one scheme's figures).
    pub min_schemes: usize,
    /// An amount is suppressed when its two largest contributors make up more than this share.
    pub dominance: f64,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy { threshold: 10, round_to: 5, min_declared: 0.6, min_people: 3, min_schemes: 2, dominance: 0.85 }
    }
}

/// Who made up one cell of a table of amounts: what each contributing person gave (referrals,
/// minutes) and which schemes they belong to (by index), and what no known person gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Contributors {
    /// What each volunteer on a scheme's roster gave.
    pub people: Vec<u64>,
    /// The schemes whose volunteers gave something.
    pub schemes: BTreeSet<u32>,
    /// What was given by no volunteer on a roster: counted in the cell, never as a person.
    pub unattributed: u64,
}

impl Contributors {
    fn merge(&mut self, other: &Contributors) {
        self.people.extend_from_slice(&other.people);
        self.schemes.extend(other.schemes.iter().copied());
        self.unattributed += other.unattributed;
    }
}

impl Policy {
    pub const MIN_THRESHOLD: u64 = 5;

    /// A policy with the given threshold, refused below the minimum.
    pub fn with_threshold(threshold: u64) -> Result<Policy, String> {
        if threshold < Self::MIN_THRESHOLD {
            return Err(format!("the suppression threshold must be {} or more", Self::MIN_THRESHOLD));
        }
        Ok(Policy { threshold, ..Policy::default() })
    }

    /// Whether a group (a region, a scheme type) is large enough to be shown on its own at all.
    pub fn group_published(&self, group_total: u64) -> bool {
        group_total >= self.threshold
    }

    /// Whether a question's answers may be shown for a group in which `declared` of `people`
    /// gave an answer other than "prefer not to say".
    pub fn declaration_sufficient(&self, declared: u64, people: u64) -> bool {
        people > 0 && (declared as f64) >= self.min_declared * people as f64
    }

    /// Whether an amount made up by these contributors may be published: nothing at all, or
    /// enough people and schemes with no two of them making up nearly all of it. What no known
    /// person gave never counts towards the people, and counts as one more (possibly the
    /// largest) contributor for the dominance rule: it may all be one person's.
    pub fn enough_contributors(&self, c: &Contributors) -> bool {
        let total: u64 = c.people.iter().fold(c.unattributed, |sum, v| sum.saturating_add(*v));
        if total == 0 {
            return true;
        }
        let mut people: Vec<u64> = c.people.iter().copied().filter(|v| *v > 0).collect();
        if people.len() < self.min_people || c.schemes.len() < self.min_schemes {
            return false;
        }
        if c.unattributed > 0 {
            people.push(c.unattributed);
        }
        people.sort_unstable_by(|a, b| b.cmp(a));
        let top_two: u64 = people.iter().take(2).fold(0, |sum, v| sum.saturating_add(*v));
        (top_two as f64) <= self.dominance * total as f64
    }

    /// A share `part / whole` as a published percentage: rounded to the nearest `round_to`.
    pub fn percent(&self, part: u64, whole: u64) -> u64 {
        if whole == 0 {
            return 0;
        }
        self.round((part * 100 + whole / 2) / whole)
    }

    fn round(&self, n: u64) -> u64 {
        let r = self.round_to.max(1);
        (n + r / 2) / r * r
    }
}

/// A published count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cell {
    Count(u64),
    /// Not published: too small, or it would let a small count be worked out.
    Suppressed(Suppressed),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Suppressed {
    #[serde(rename = "suppressed")]
    Marker,
}

impl Cell {
    pub fn count(&self) -> Option<u64> {
        match self {
            Cell::Count(n) => Some(*n),
            Cell::Suppressed(_) => None,
        }
    }

    /// How the cell reads on screen and in CSV: the count, or `[c]` (the Government Statistical
    /// Service's marker for a confidential value).
    pub fn text(&self) -> String {
        match self {
            Cell::Count(n) => n.to_string(),
            Cell::Suppressed(_) => MARKER.to_owned(),
        }
    }
}

/// The shorthand for a suppressed value.
pub const MARKER: &str = "[c]";

/// A two-way table of true counts: `counts[row][col]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

/// The published table, margins included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    pub rows: Vec<String>,
    pub cols: Vec<String>,
    pub cells: Vec<Vec<Cell>>,
    pub row_totals: Vec<Cell>,
    pub col_totals: Vec<Cell>,
    pub total: Cell,
}

/// The full matrix with margins: `m[r][c]`, row `R` the column totals, column `C` the row totals.
fn with_margins(t: &Table) -> Vec<Vec<u64>> {
    let (r, c) = (t.rows.len(), t.cols.len());
    let mut m = vec![vec![0u64; c + 1]; r + 1];
    for i in 0..r {
        for j in 0..c {
            let v = t.counts.get(i).and_then(|row| row.get(j)).copied().unwrap_or(0);
            m[i][j] = v;
            m[i][c] += v;
            m[r][j] += v;
            m[r][c] += v;
        }
    }
    m
}

/// The equations of a table with margins: each a list of (row, col, coefficient) summing to 0.
/// Row `i`: cells − row total; column `j`: cells − column total (the margins' own row and column
/// included, so the grand total takes part).
fn equations(rows: usize, cols: usize) -> Vec<Vec<(usize, usize, i64)>> {
    let mut eqs = Vec::new();
    for i in 0..=rows {
        let mut e: Vec<(usize, usize, i64)> = (0..cols).map(|j| (i, j, 1)).collect();
        e.push((i, cols, -1));
        eqs.push(e);
    }
    for j in 0..=cols {
        let mut e: Vec<(usize, usize, i64)> = (0..rows).map(|i| (i, j, 1)).collect();
        e.push((rows, j, -1));
        eqs.push(e);
    }
    eqs
}

/// Which cells (margins included) to suppress; `forced` cells are suppressed whatever their size
/// (a linked table suppressed them, or they were added to stop a cell being worked out).
fn suppression(m: &[Vec<u64>], policy: &Policy, forced: &[Vec<bool>]) -> Vec<Vec<bool>> {
    let rows = m.len() - 1;
    let cols = m[0].len() - 1;
    let mut s: Vec<Vec<bool>> = m
        .iter()
        .zip(forced)
        .map(|(r, f)| r.iter().zip(f).map(|(&v, &f)| f || (v > 0 && v < policy.threshold)).collect())
        .collect();
    let eqs = equations(rows, cols);
    loop {
        let mut changed = false;
        for e in &eqs {
            let hidden = e.iter().filter(|(i, j, _)| s[*i][*j]).count();
            if hidden != 1 {
                continue;
            }
            // The smallest other non-zero member, preferring inner cells to totals.
            let pick = e
                .iter()
                .filter(|(i, j, _)| !s[*i][*j] && m[*i][*j] > 0)
                .min_by_key(|(i, j, _)| (*i == rows || *j == cols, m[*i][*j]));
            if let Some((i, j, _)) = pick {
                s[*i][*j] = true;
                changed = true;
            }
        }
        if !changed {
            return s;
        }
    }
}

/// Applies the policy to a table.
pub fn protect(t: &Table, policy: &Policy) -> Published {
    protect_linked(std::slice::from_ref(t), policy).remove(0)
}

/// Applies the policy to tables that break the same population down in different ways (by
/// region, by scheme type …) over the same columns: their column totals are the same figures, so
/// a total suppressed in one is suppressed in all. Otherwise one table would publish what
/// another hides and the difference would give the hidden cells away.
pub fn protect_linked(tables: &[Table], policy: &Policy) -> Vec<Published> {
    let forced: Vec<Vec<Vec<bool>>> =
        tables.iter().map(|t| vec![vec![false; t.cols.len() + 1]; t.rows.len() + 1]).collect();
    protect_forced(tables, policy, forced)
}

/// [`protect_linked`] for tables of amounts whose contributors are known (`contributors[t][row][col]`):
/// every cell, margins included, whose contributors are not enough ([`Policy::enough_contributors`])
/// is suppressed however large, and the rest protected so that it cannot be worked out.
pub fn protect_linked_amounts(
    tables: &[Table],
    contributors: &[Vec<Vec<Contributors>>],
    policy: &Policy,
) -> Vec<Published> {
    let forced = tables
        .iter()
        .zip(contributors)
        .map(|(t, c)| {
            let (r, k) = (t.rows.len(), t.cols.len());
            let mut m = vec![vec![Contributors::default(); k + 1]; r + 1];
            for i in 0..r {
                for j in 0..k {
                    let Some(cell) = c.get(i).and_then(|row| row.get(j)) else { continue };
                    for (a, b) in [(i, j), (i, k), (r, j), (r, k)] {
                        m[a][b].merge(cell);
                    }
                }
            }
            m.iter().map(|row| row.iter().map(|c| !policy.enough_contributors(c)).collect()).collect()
        })
        .collect();
    protect_forced(tables, policy, forced)
}

/// [`protect`] with some rows withheld outright (their cells and total suppressed whatever their
/// size: a group where too few declared an answer). The rest of the table is then protected so
/// that the withheld rows cannot be worked out from it either.
pub fn protect_withholding(t: &Table, policy: &Policy, withheld: &[bool]) -> Published {
    let forced =
        (0..=t.rows.len()).map(|i| vec![withheld.get(i).copied().unwrap_or(false); t.cols.len() + 1]).collect();
    protect_forced(std::slice::from_ref(t), policy, vec![forced]).remove(0)
}

/// Protects tables whose cells in `forced` (margins included) are suppressed from the start.
fn protect_forced(tables: &[Table], policy: &Policy, mut forced: Vec<Vec<Vec<bool>>>) -> Vec<Published> {
    let ms: Vec<Vec<Vec<u64>>> = tables.iter().map(with_margins).collect();
    loop {
        // Suppress, then share the column totals' suppression between the tables, until stable.
        let masks = loop {
            let masks: Vec<Vec<Vec<bool>>> = ms.iter().zip(&forced).map(|(m, f)| suppression(m, policy, f)).collect();
            let width = masks.first().map_or(0, |s| s[s.len() - 1].len());
            let shared: Vec<bool> = (0..width).map(|j| masks.iter().any(|s| s[s.len() - 1][j])).collect();
            let mut changed = false;
            for f in forced.iter_mut() {
                let last = f.len() - 1;
                for (j, &hide) in shared.iter().enumerate() {
                    if hide && !f[last][j] {
                        f[last][j] = true;
                        changed = true;
                    }
                }
            }
            if !changed {
                break masks;
            }
        };
        let published: Vec<Published> =
            tables.iter().zip(ms.iter().zip(&masks)).map(|(t, (m, s))| publish(t, m, s, policy)).collect();
        // The pairwise rule is not always enough: several equations together can pin a cell.
        // Hide one more cell beside it and try again (hiding every non-zero cell always works).
        let Some((t, i, j)) = recoverable_linked(&published) else { return published };
        let (m, s) = (&ms[t], &masks[t]);
        let (rows, cols) = (m.len() - 1, m[0].len() - 1);
        let open = |a: usize, b: usize| !s[a][b] && m[a][b] > 0;
        let beside = (0..=cols).map(|b| (i, b)).chain((0..=rows).map(|a| (a, j))).filter(|&(a, b)| open(a, b));
        let anywhere = (0..=rows).flat_map(|a| (0..=cols).map(move |b| (a, b))).filter(|&(a, b)| open(a, b));
        let by_size = |&(a, b): &(usize, usize)| (a == rows || b == cols, m[a][b]);
        match beside.min_by_key(by_size).or_else(|| anywhere.min_by_key(by_size)) {
            Some((a, b)) => forced[t][a][b] = true,
            None => return published,
        }
    }
}

fn publish(t: &Table, m: &[Vec<u64>], s: &[Vec<bool>], policy: &Policy) -> Published {
    let (r, c) = (t.rows.len(), t.cols.len());
    let cell = |i: usize, j: usize| {
        if s[i][j] {
            Cell::Suppressed(Suppressed::Marker)
        } else {
            Cell::Count(policy.round(m[i][j]))
        }
    };
    Published {
        rows: t.rows.clone(),
        cols: t.cols.clone(),
        cells: (0..r).map(|i| (0..c).map(|j| cell(i, j)).collect()).collect(),
        row_totals: (0..r).map(|i| cell(i, c)).collect(),
        col_totals: (0..c).map(|j| cell(r, j)).collect(),
        total: cell(r, c),
    }
}

/// A one-way breakdown (a single column of counts) as a table.
pub fn one_way(rows: Vec<(String, u64)>, label: &str) -> Table {
    let (names, counts) = rows.into_iter().map(|(k, v)| (k, vec![v])).unzip();
    Table { rows: names, cols: vec![label.to_owned()], counts }
}

/// Whether some suppressed cell of a published table is determined exactly by its equations and
/// the other cells' values (taken as exact, to be strict: rounding only blurs them further).
/// Returns the first such cell as (row, column), margins at index `rows` / `cols`.
pub fn recoverable(p: &Published) -> Option<(usize, usize)> {
    recoverable_linked(std::slice::from_ref(p)).map(|(_, i, j)| (i, j))
}

/// [`recoverable`] for tables published together by [`protect_linked`]: their column totals are
/// one and the same figure, so an attacker may combine every table's equations. Returns the first
/// determined cell as (table, row, column).
///
/// A suppressed cell is determined when its unit vector lies in the row space of the equations
/// restricted to the suppressed cells; checked by Gaussian elimination over rationals.
pub fn recoverable_linked(tables: &[Published]) -> Option<(usize, usize, usize)> {
    // A cell's identity: column totals (and the grand total) are shared between the tables.
    #[derive(Clone, Copy, PartialEq)]
    enum Key {
        Inner(usize, usize, usize),
        Shared(usize),
    }
    let key = |t: usize, i: usize, j: usize| {
        if i == tables[t].rows.len() {
            Key::Shared(j)
        } else {
            Key::Inner(t, i, j)
        }
    };
    let cell = |t: usize, i: usize, j: usize| -> &Cell {
        let p = &tables[t];
        match (i == p.rows.len(), j == p.cols.len()) {
            (false, false) => &p.cells[i][j],
            (false, true) => &p.row_totals[i],
            (true, false) => &p.col_totals[j],
            (true, true) => &p.total,
        }
    };
    let mut unknowns: Vec<(Key, (usize, usize, usize))> = Vec::new();
    for (t, p) in tables.iter().enumerate() {
        for i in 0..=p.rows.len() {
            for j in 0..=p.cols.len() {
                let k = key(t, i, j);
                if matches!(cell(t, i, j), Cell::Suppressed(_)) && !unknowns.iter().any(|(u, _)| *u == k) {
                    unknowns.push((k, (t, i, j)));
                }
            }
        }
    }
    if unknowns.is_empty() {
        return None;
    }
    let index = |k: Key| unknowns.iter().position(|(u, _)| *u == k);
    let mut matrix: Vec<Vec<Frac>> = Vec::new();
    for (t, p) in tables.iter().enumerate() {
        for e in equations(p.rows.len(), p.cols.len()) {
            let mut row = vec![Frac::ZERO; unknowns.len()];
            for (i, j, k) in e {
                if let Some(x) = index(key(t, i, j)) {
                    row[x] = Frac::int(k);
                }
            }
            if row.iter().any(|f| !f.is_zero()) {
                matrix.push(row);
            }
        }
    }
    let basis = row_echelon(&mut matrix);
    // Unit vector e_x is in the row space iff reducing it against the basis leaves zero.
    for (x, (_, at)) in unknowns.iter().enumerate() {
        let mut v = vec![Frac::ZERO; unknowns.len()];
        v[x] = Frac::ONE;
        for (pivot_col, b) in &basis {
            let f = v[*pivot_col];
            if !f.is_zero() {
                for (k, bk) in b.iter().enumerate() {
                    v[k] = v[k].sub(f.mul(*bk));
                }
            }
        }
        if v.iter().all(Frac::is_zero) {
            return Some(*at);
        }
    }
    None
}

/// Reduced row echelon form; returns (pivot column, normalised row) pairs.
fn row_echelon(m: &mut [Vec<Frac>]) -> Vec<(usize, Vec<Frac>)> {
    let n = m.first().map_or(0, Vec::len);
    let mut basis: Vec<(usize, Vec<Frac>)> = Vec::new();
    let mut r = 0;
    for col in 0..n {
        let Some(p) = (r..m.len()).find(|&k| !m[k][col].is_zero()) else { continue };
        m.swap(r, p);
        let inv = Frac::ONE.div(m[r][col]);
        let pivot: Vec<Frac> = m[r].iter().map(|v| v.mul(inv)).collect();
        for (k, row) in m.iter_mut().enumerate() {
            if k != r && !row[col].is_zero() {
                let f = row[col];
                for (c, v) in row.iter_mut().enumerate() {
                    *v = v.sub(f.mul(pivot[c]));
                }
            }
        }
        m[r] = pivot.clone();
        for (_, b) in basis.iter_mut() {
            let f = b[col];
            if !f.is_zero() {
                for (c, v) in b.iter_mut().enumerate() {
                    *v = v.sub(f.mul(pivot[c]));
                }
            }
        }
        basis.push((col, pivot));
        r += 1;
        if r == m.len() {
            break;
        }
    }
    basis
}

/// A small exact fraction for the elimination (coefficients stay in {−1, 0, 1} combinations).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Frac {
    n: i128,
    d: i128,
}

impl Frac {
    const ZERO: Frac = Frac { n: 0, d: 1 };
    const ONE: Frac = Frac { n: 1, d: 1 };

    fn int(n: i64) -> Frac {
        Frac { n: n as i128, d: 1 }
    }

    fn norm(n: i128, d: i128) -> Frac {
        fn gcd(a: i128, b: i128) -> i128 {
            if b == 0 {
                a.abs().max(1)
            } else {
                gcd(b, a % b)
            }
        }
        let g = gcd(n, d);
        let (n, d) = (n / g, d / g);
        if d < 0 {
            Frac { n: -n, d: -d }
        } else {
            Frac { n, d }
        }
    }

    fn is_zero(&self) -> bool {
        self.n == 0
    }

    fn mul(self, o: Frac) -> Frac {
        Frac::norm(self.n * o.n, self.d * o.d)
    }

    fn div(self, o: Frac) -> Frac {
        Frac::norm(self.n * o.d, self.d * o.n)
    }

    fn sub(self, o: Frac) -> Frac {
        Frac::norm(self.n * o.d - o.n * self.d, self.d * o.d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(counts: Vec<Vec<u64>>) -> Table {
        Table {
            rows: (0..counts.len()).map(|i| format!("r{i}")).collect(),
            cols: (0..counts[0].len()).map(|j| format!("c{j}")).collect(),
            counts,
        }
    }

    #[test]
    fn small_counts_are_suppressed_others_rounded() {
        let p = protect(&table(vec![vec![12, 40, 27], vec![30, 3, 52], vec![21, 22, 61]]), &Policy::default());
        assert_eq!(p.cells[1][1].text(), MARKER);
        assert_eq!(p.cells[2][2], Cell::Count(60), "rounded to the nearest 5");
        assert_eq!(p.total, Cell::Count(270), "268 rounded");
        // 3 cannot stand alone in its row or its column.
        for line in [p.cells[1].clone(), p.cells.iter().map(|r| r[1]).collect()] {
            assert!(line.iter().filter(|c| c.count().is_none()).count() >= 2, "{line:?}");
        }
        assert_eq!(recoverable(&p), None);
        // In a 2 × 2 table one small cell takes all four inner cells with it.
        let p = protect(&table(vec![vec![12, 40], vec![30, 3]]), &Policy::default());
        assert!(p.cells.iter().flatten().all(|c| c.count().is_none()));
        assert_eq!(p.total, Cell::Count(85));
    }

    #[test]
    fn zeros_are_published_and_a_lone_small_count_takes_its_total_with_it() {
        let p = protect(&one_way(vec![("a".into(), 0), ("b".into(), 4), ("c".into(), 0)], "n"), &Policy::default());
        assert_eq!(p.cells[0][0], Cell::Count(0));
        assert_eq!(p.cells[1][0].count(), None);
        assert_eq!(p.total.count(), None, "the total equals the small count");
        assert_eq!(recoverable(&p), None);
    }

    #[test]
    fn withheld_rows_are_hidden_and_cannot_be_worked_out_from_the_totals() {
        let t = table(vec![vec![30, 40], vec![25, 35], vec![50, 60]]);
        let p = protect_withholding(&t, &Policy::default(), &[false, true, false]);
        assert!(p.cells[1].iter().all(|c| c.count().is_none()));
        assert_eq!(p.row_totals[1].count(), None);
        assert_eq!(recoverable(&p), None, "the column totals do not give the withheld row away");
    }

    #[test]
    fn the_threshold_cannot_go_below_five() {
        assert!(Policy::with_threshold(4).is_err());
        assert_eq!(Policy::with_threshold(5).unwrap().threshold, 5);
    }

    #[test]
    fn declaration_rates_and_group_sizes() {
        let p = Policy::default();
        assert!(p.declaration_sufficient(60, 100));
        assert!(!p.declaration_sufficient(59, 100));
        assert!(!p.declaration_sufficient(0, 0));
        assert!(p.group_published(10) && !p.group_published(9));
    }

    #[test]
    fn a_derivable_cell_is_found_by_the_checker() {
        // Only one suppressed cell in a row: its row equation gives it away.
        let p = Published {
            rows: vec!["a".into()],
            cols: vec!["x".into(), "y".into()],
            cells: vec![vec![Cell::Suppressed(Suppressed::Marker), Cell::Count(20)]],
            row_totals: vec![Cell::Count(23)],
            col_totals: vec![Cell::Suppressed(Suppressed::Marker), Cell::Count(20)],
            total: Cell::Count(23),
        };
        assert!(recoverable(&p).is_some());
    }
}
