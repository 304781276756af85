//! The national view: volunteers, volunteer hours and referrals across every scheme, by region
//! and by kind of scheme, for a calendar quarter against the quarter before. Every figure passes
//! through [`signpost_shared::disclosure`] once, in [`national`]; the page, the JSON API and the
//! CSV all print that one result, so they cannot disagree.
//!
//! Against differencing, the view offers fixed breakdowns for fixed periods only (whole calendar
//! quarters, no free dates or filters), and the region and scheme-type tables of one measure are
//! protected together (they share the national total).

use crate::equality::answers_of_active;
use crate::error::Refusal;
use crate::figures::{per_scheme, Figures, SchemeFigures};
use chrono::{Datelike, NaiveDate};
use rusqlite::Connection;
use serde::Serialize;
use signpost_shared::disclosure::{self, Cell, Policy, Published, Table};
use signpost_shared::vocab::{Region, SchemeType};

/// A calendar quarter, written `2026-Q3`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Quarter {
    pub year: i32,
    pub q: u32,
}

impl Quarter {
    pub fn parse(s: &str) -> Option<Quarter> {
        let (y, q) = s.trim().split_once("-Q")?;
        let (year, q) = (y.parse().ok()?, q.parse().ok()?);
        (1..=4).contains(&q).then_some(Quarter { year, q })
    }

    pub fn containing(d: NaiveDate) -> Quarter {
        Quarter { year: d.year(), q: d.month0() / 3 + 1 }
    }

    pub fn previous(self) -> Quarter {
        if self.q == 1 {
            Quarter { year: self.year - 1, q: 4 }
        } else {
            Quarter { year: self.year, q: self.q - 1 }
        }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, (self.q - 1) * 3 + 1, 1).expect("a quarter's first day")
    }

    pub fn last_day(self) -> NaiveDate {
        let next = if self.q == 4 {
            Quarter { year: self.year + 1, q: 1 }
        } else {
            Quarter { year: self.year, q: self.q + 1 }
        };
        next.first_day().pred_opt().expect("a quarter's last day")
    }

    pub fn code(self) -> String {
        format!("{}-Q{}", self.year, self.q)
    }

    pub fn label(self) -> String {
        format!("{} to {}", self.first_day().format("%-d %B %Y"), self.last_day().format("%-d %B %Y"))
    }
}

const MEASURES: [(&str, &str); 3] =
    [("volunteers", "Active volunteers"), ("hours", "Volunteer hours"), ("referrals", "Referrals")];

fn value(f: &Figures, measure: &str) -> u64 {
    match measure {
        "volunteers" => f.volunteers,
        "hours" => f.hours,
        _ => f.referrals,
    }
}

fn region_label(code: &str) -> String {
    Region::from_code(code).map(|r| r.label().to_owned()).unwrap_or_else(|| "Region not recorded".into())
}

fn kind_label(code: &str) -> String {
    SchemeType::from_code(code).map(|k| k.label().to_owned()).unwrap_or_else(|| "Kind not recorded".into())
}

/// One quarter of one measure: by region and by kind of scheme (protected together: they share
/// the national total).
#[derive(Serialize, Debug, Clone)]
pub struct Breakdowns {
    pub by_region: Published,
    pub by_scheme_type: Published,
}

/// One measure, this quarter and the one before. Each quarter is protected on its own: they are
/// different people and periods, and no figure adds them up.
#[derive(Serialize, Debug, Clone)]
pub struct Measure {
    pub key: &'static str,
    pub name: &'static str,
    pub quarter: Breakdowns,
    pub previous: Breakdowns,
}

#[derive(Serialize, Debug, Clone)]
pub struct National {
    pub quarter: String,
    pub previous_quarter: String,
    pub policy: Policy,
    /// Suppressed counts read `"suppressed"` here and `[c]` on screen and in CSV.
    pub measures: Vec<Measure>,
    /// Volunteers on the rosters now, by equality-monitoring question and kind of scheme.
    pub diversity: Vec<Diversity>,
}

/// One equality question: declared answers by kind of scheme (rows) and answer group (columns),
/// with each row's declaration rate. A row where fewer than `policy.min_declared` of the
/// volunteers declared is withheld; so is the whole table when that holds nationally.
#[derive(Serialize, Debug, Clone)]
pub struct Diversity {
    pub question: &'static str,
    pub text: &'static str,
    pub table: Published,
    /// Per row, then nationally: the share of volunteers who declared, in whole percent;
    /// `None` where the group is smaller than the threshold.
    pub declared_percent: Vec<Option<u32>>,
    pub national_declared_percent: Option<u32>,
    pub withheld: Vec<bool>,
    pub national_withheld: bool,
}

/// Active roster volunteers and their answers, per kind of scheme.
fn diversity(conn: &Connection, policy: &Policy) -> anyhow::Result<Vec<Diversity>> {
    use signpost_shared::equality::{self, Answers, QUESTIONS};
    let kinds: Vec<String> =
        SchemeType::ALL.iter().map(|k| k.code().to_owned()).chain(["not-set".to_owned()]).collect();
    let mut volunteers = vec![0u64; kinds.len()];
    let mut answers: Vec<(usize, Answers)> = Vec::new();
    for (kind, given) in answers_of_active(conn)? {
        let k = kinds.iter().position(|c| *c == kind).unwrap_or(kinds.len() - 1);
        volunteers[k] += 1;
        if let Some(a) = given {
            answers.push((k, a));
        }
    }
    let percent = |declared: u64, people: u64| {
        (people >= policy.threshold).then(|| ((declared as f64 / people as f64) * 100.0).round() as u32)
    };
    Ok(QUESTIONS
        .iter()
        .map(|q| {
            let groups = equality::groups(q.key);
            let mut counts = vec![vec![0u64; groups.len()]; kinds.len()];
            for (k, a) in &answers {
                if let Some(g) = a.declared(q.key).and_then(|v| equality::group_of(q.key, v)) {
                    if let Some(j) = groups.iter().position(|x| *x == g) {
                        counts[*k][j] += 1;
                    }
                }
            }
            let declared: Vec<u64> = counts.iter().map(|r| r.iter().sum()).collect();
            let (all_declared, all_people) = (declared.iter().sum::<u64>(), volunteers.iter().sum::<u64>());
            let national_withheld = !policy.declaration_sufficient(all_declared, all_people);
            // Withheld: too few declared, or a group so small that even its zeros would say
            // something about the few people in it.
            let withheld: Vec<bool> = declared
                .iter()
                .zip(&volunteers)
                .map(|(d, n)| {
                    national_withheld
                        || (*n > 0 && (!policy.group_published(*n) || !policy.declaration_sufficient(*d, *n)))
                })
                .collect();
            let table = Table {
                rows: kinds.iter().map(|c| kind_label(c)).collect(),
                cols: groups.iter().map(|g| g.to_string()).collect(),
                counts,
            };
            let mut table = disclosure::protect_withholding(&table, policy, &withheld);
            if national_withheld {
                for c in table.col_totals.iter_mut().chain([&mut table.total]) {
                    *c = Cell::Suppressed(disclosure::Suppressed::Marker);
                }
            }
            Diversity {
                question: q.key,
                text: q.text,
                table,
                declared_percent: declared.iter().zip(&volunteers).map(|(d, n)| percent(*d, *n)).collect(),
                national_declared_percent: percent(all_declared, all_people),
                withheld,
                national_withheld,
            }
        })
        .collect())
}

fn breakdowns(set: &[SchemeFigures], measure: &str, column: &str, policy: &Policy) -> Breakdowns {
    let table = |key: fn(&SchemeFigures) -> &str, codes: Vec<String>, label: fn(&str) -> String| {
        let mut counts: Vec<Vec<u64>> = vec![vec![0]; codes.len()];
        for s in set {
            if let Some(i) = codes.iter().position(|c| c == key(s)) {
                counts[i][0] += value(&s.figures, measure);
            }
        }
        Table { rows: codes.iter().map(|c| label(c)).collect(), cols: vec![column.to_owned()], counts }
    };
    let regions = Region::ALL.iter().map(|r| r.code().to_owned()).chain(["not-set".to_owned()]).collect();
    let kinds = SchemeType::ALL.iter().map(|k| k.code().to_owned()).chain(["not-set".to_owned()]).collect();
    let by_region = table(|s| &s.region, regions, region_label);
    let by_type = table(|s| &s.kind, kinds, kind_label);
    let mut p = disclosure::protect_linked(&[by_region, by_type], policy).into_iter();
    Breakdowns { by_region: p.next().expect("two tables"), by_scheme_type: p.next().expect("two tables") }
}

/// The national figures for a quarter, disclosure control applied.
pub fn national(conn: &Connection, quarter: Quarter, policy: &Policy) -> anyhow::Result<National> {
    let prev = quarter.previous();
    let now = per_scheme(conn, &quarter.code())?;
    let before = per_scheme(conn, &prev.code())?;
    let measures = MEASURES
        .iter()
        .map(|&(key, name)| Measure {
            key,
            name,
            quarter: breakdowns(&now, key, &quarter.code(), policy),
            previous: breakdowns(&before, key, &prev.code(), policy),
        })
        .collect();
    Ok(National {
        quarter: quarter.code(),
        previous_quarter: prev.code(),
        policy: *policy,
        measures,
        diversity: diversity(conn, policy)?,
    })
}
/// The quarters on offer: the last eight complete ones, newest first.
pub fn quarters(today: NaiveDate) -> Vec<Quarter> {
    let mut q = Quarter::containing(today).previous();
    (0..8)
        .map(|_| {
            let out = q;
            q = q.previous();
            out
        })
        .collect()
}
/// The quarter asked for (`2026-Q3`), which must be one of [`quarters`] on `today`; none asked
/// for is the last complete one.
pub fn chosen(asked: Option<&str>, today: NaiveDate) -> Result<Quarter, Refusal> {
    let offered = quarters(today);
    match asked.filter(|s| !s.is_empty()) {
        None => Ok(offered[0]),
        Some(s) => Quarter::parse(s).filter(|q| offered.contains(q)).ok_or_else(|| {
            Refusal(format!("Choose one of the last eight complete quarters, like {}", offered[0].code()))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarters_parse_and_step_back() {
        let q = Quarter::parse("2026-Q1").unwrap();
        assert_eq!(q.first_day().to_string(), "2026-01-01");
        assert_eq!(q.last_day().to_string(), "2026-03-31");
        assert_eq!(q.previous().code(), "2025-Q4");
        assert_eq!(Quarter::parse("2026-Q5"), None);
        assert_eq!(Quarter::containing(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()).code(), "2026-Q4");
        let offered = quarters(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
        assert_eq!(offered.len(), 8);
        assert_eq!(offered[0].code(), "2026-Q3", "complete quarters only");
    }
}
