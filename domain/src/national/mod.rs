//! The national view: volunteers, volunteer hours and referrals across every scheme, by region
//! and by kind of scheme, for a calendar quarter against the quarter before. Every figure passes
//! through [`signpost_shared::disclosure`] once, in [`national`]; the page, the JSON API and the
//! CSV all print that one result, so they cannot disagree.
//!
//! Against differencing, the view offers fixed breakdowns for fixed periods only (whole calendar
//! quarters, no free dates or filters), and the region and scheme-type tables of one measure are
//! protected together (they share the national total).

use crate::equality::answers_of_active;
use crate::figures::{per_scheme, Figures, SchemeFigures};
use crate::sql::Connection;
use crate::stats;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use signpost_shared::disclosure::{self, Cell, Contributors, Policy, Published, Table};
use signpost_shared::vocab::{Region, SchemeType};
use std::collections::HashMap;

mod published;
pub use published::{chosen, next_publication, published, quarters, GRACE_DAYS};

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
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Breakdowns {
    pub by_region: Published,
    pub by_scheme_type: Published,
}

/// One measure, this quarter and the one before. Each quarter is protected on its own: they are
/// different people and periods, and no figure adds them up.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Measure {
    pub key: String,
    pub name: String,
    pub quarter: Breakdowns,
    pub previous: Breakdowns,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct National {
    pub quarter: String,
    pub previous_quarter: String,
    /// When these figures were computed and frozen (ms since the epoch).
    pub published_at: i64,
    pub policy: Policy,
    /// Suppressed counts read `"suppressed"` here and `[c]` on screen and in CSV.
    pub measures: Vec<Measure>,
    /// Volunteers on the rosters now, by equality-monitoring question and kind of scheme.
    pub diversity: Vec<Diversity>,
}

/// One equality question: declared answers by kind of scheme (rows) and answer group (columns),
/// with each row's declaration rate. A row where fewer than `policy.min_declared` of the
/// volunteers declared is withheld; so is the whole table when that holds nationally.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Diversity {
    pub question: String,
    pub text: String,
    pub table: Published,
    /// Per row, then nationally: the share of volunteers who declared, rounded like the counts
    /// (to the nearest 5); `None` where the group's number who declared is not published (too
    /// small, or suppressed to protect another cell).
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
    // A share is published only beside a published number who declared: otherwise the share
    // and the group's size would give the hidden number away.
    let percent = |declared: u64, people: u64, cell: &Cell| {
        (people >= policy.threshold && cell.count().is_some()).then(|| policy.percent(declared, people) as u32)
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
                question: q.key.to_owned(),
                text: q.text.to_owned(),
                declared_percent: declared
                    .iter()
                    .zip(&volunteers)
                    .zip(&table.row_totals)
                    .map(|((d, n), cell)| percent(*d, *n, cell))
                    .collect(),
                national_declared_percent: percent(all_declared, all_people, &table.total),
                table,
                withheld,
                national_withheld,
            }
        })
        .collect())
}

fn breakdowns(
    set: &[SchemeFigures],
    people: &HashMap<String, Contribution>,
    measure: &str,
    column: &str,
    policy: &Policy,
) -> Breakdowns {
    let table = |key: fn(&SchemeFigures) -> &str, codes: &[String], label: fn(&str) -> String| {
        let mut counts: Vec<Vec<u64>> = vec![vec![0]; codes.len()];
        let mut who: Vec<Vec<Contributors>> = vec![vec![Contributors::default()]; codes.len()];
        for (n, s) in set.iter().enumerate() {
            if let Some(i) = codes.iter().position(|c| c == key(s)) {
                counts[i][0] += value(&s.figures, measure);
                if let Some(c) = people.get(&s.scheme) {
                    let (gave, unattributed) = match measure {
                        "hours" => (&c.minutes, c.unattributed_minutes),
                        _ => (&c.referrals, c.unattributed_referrals),
                    };
                    // A scheme counts as a contributor through its volunteers only.
                    if gave.iter().any(|v| *v > 0) {
                        who[i][0].schemes.insert(n as u32);
                    }
                    who[i][0].people.extend(gave);
                    who[i][0].unattributed += unattributed;
                }
            }
        }
        (Table { rows: codes.iter().map(|c| label(c)).collect(), cols: vec![column.to_owned()], counts }, who)
    };
    let regions: Vec<String> = Region::ALL.iter().map(|r| r.code().to_owned()).chain(["not-set".to_owned()]).collect();
    let kinds: Vec<String> =
        SchemeType::ALL.iter().map(|k| k.code().to_owned()).chain(["not-set".to_owned()]).collect();
    let (by_region, region_people) = table(|s| &s.region, &regions, region_label);
    let (by_type, type_people) = table(|s| &s.kind, &kinds, kind_label);
    let tables = [by_region, by_type];
    let mut p = if measure == "volunteers" {
        // A count of people: the threshold is the rule.
        disclosure::protect_linked(&tables, policy)
    } else {
        // Amounts: enough people and schemes must make them up, however large.
        disclosure::protect_linked_amounts(&tables, &[region_people, type_people], policy)
    }
    .into_iter();
    Breakdowns { by_region: p.next().expect("two tables"), by_scheme_type: p.next().expect("two tables") }
}

/// What each volunteer of a scheme gave in a quarter: referrals, and minutes on shift (each
/// volunteer's day counted for at most [`stats::MAX_DAY_MINUTES`], as on the dashboard), one
/// entry per volunteer on the scheme's roster. What was logged with no volunteer, or under an id
/// on no roster (a tablet can write any id), is counted apart: it is in the figures, but no one
/// known made it up, so it never makes an amount publishable.
#[derive(Default, Debug)]
struct Contribution {
    referrals: Vec<u64>,
    minutes: Vec<u64>,
    unattributed_referrals: u64,
    unattributed_minutes: u64,
}

impl Contribution {
    fn minutes(&self) -> u64 {
        self.minutes.iter().sum::<u64>() + self.unattributed_minutes
    }
}

fn contributions(conn: &Connection, quarter: Quarter) -> anyhow::Result<HashMap<String, Contribution>> {
    // One row per scheme, person and day of shifts (referrals under the day ''), with whether
    // the person is on the scheme's roster.
    let mut stmt = conn.prepare(
        "SELECT c.scheme_id, c.who, CASE WHEN r.volunteer_id IS NULL THEN 0 ELSE 1 END, SUM(c.n), SUM(c.m) FROM (
             SELECT scheme_id, COALESCE(volunteer, '') AS who, '' AS day, 1 AS n, 0 AS m FROM referral_facts
                 WHERE voided = 0 AND day BETWEEN ?1 AND ?2
             UNION ALL
             SELECT scheme_id, volunteer, day, 0, minutes FROM shift_facts WHERE day BETWEEN ?1 AND ?2
         ) c LEFT JOIN roster_facts r ON r.scheme_id = c.scheme_id AND r.volunteer_id = c.who
         GROUP BY c.scheme_id, c.who, c.day, r.volunteer_id",
    )?;
    let (from, to) = (quarter.first_day().to_string(), quarter.last_day().to_string());
    let rows = stmt.query_map([from, to], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, bool>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
        ))
    })?;
    let mut people: HashMap<(String, String), (bool, u64, u64)> = HashMap::new();
    for row in rows {
        let (scheme, who, on_roster, n, m) = row?;
        let p = people.entry((scheme, who)).or_insert((on_roster, 0, 0));
        p.1 += n.max(0) as u64;
        p.2 += stats::day_minutes(m) as u64;
    }
    let mut out: HashMap<String, Contribution> = HashMap::new();
    for ((scheme, _), (on_roster, n, m)) in people {
        let c = out.entry(scheme).or_default();
        if on_roster {
            c.referrals.push(n);
            c.minutes.push(m);
        } else {
            c.unattributed_referrals += n;
            c.unattributed_minutes += m;
        }
    }
    Ok(out)
}

/// Each scheme's hours as its contributions count them: each volunteer's day capped, which the
/// quarter's kept sum of minutes cannot do.
fn capped_hours(set: &mut [SchemeFigures], people: &HashMap<String, Contribution>) {
    for s in set {
        s.figures.hours = people.get(&s.scheme).map_or(0, |c| c.minutes() / 60);
    }
}

/// A quarter's figures as computed now, disclosure control applied; `previous` is the quarter
/// before as it was published, when it was (so that no figure appears two ways).
pub(super) fn compute(
    conn: &Connection,
    quarter: Quarter,
    previous: Option<National>,
    policy: &Policy,
) -> anyhow::Result<National> {
    let prev = quarter.previous();
    let (mut now, now_people) = (per_scheme(conn, &quarter.code())?, contributions(conn, quarter)?);
    capped_hours(&mut now, &now_people);
    let mut before = per_scheme(conn, &prev.code())?;
    let before_people = if previous.is_none() { contributions(conn, prev)? } else { HashMap::new() };
    capped_hours(&mut before, &before_people);
    let measures = MEASURES
        .iter()
        .map(|&(key, name)| {
            let frozen =
                previous.as_ref().and_then(|p| p.measures.iter().find(|m| m.key == key)).map(|m| m.quarter.clone());
            Measure {
                key: key.to_owned(),
                name: name.to_owned(),
                quarter: breakdowns(&now, &now_people, key, &quarter.code(), policy),
                previous: frozen.unwrap_or_else(|| breakdowns(&before, &before_people, key, &prev.code(), policy)),
            }
        })
        .collect();
    Ok(National {
        quarter: quarter.code(),
        previous_quarter: prev.code(),
        published_at: crate::util::now_ms(),
        policy: *policy,
        measures,
        diversity: diversity(conn, policy)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::documents;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use signpost_shared::projection::{Fact, Projection, ReferralFact};
    use signpost_shared::relay::Write;
    use signpost_shared::schema::AgencyRef;
    use signpost_shared::vocab::{Category, HelpKind, Helped};

    /// Random referrals of random volunteers on random days of the quarter, at random sites.
    fn arrive(conn: &Connection, rng: &mut StdRng, sites: &[(String, String)], q: Quarter, n: usize) {
        for _ in 0..n {
            let (scheme, site) = &sites[rng.random_range(0..sites.len())];
            let date = q.first_day() + chrono::Duration::days(rng.random_range(0..90));
            let fact = ReferralFact {
                id: format!("r{}", rng.random::<u64>()),
                date,
                recorded_at_ms: 0,
                volunteer: Some(format!("vol-{}", rng.random_range(0..6))),
                helped: Helped::Victim,
                age_band: None,
                categories: vec![Category::Housing],
                agency: AgencyRef::Other("Food bank".into()),
                help: HelpKind::Information,
                follow_up: false,
                follow_up_closed: None,
                voided: rng.random_bool(0.1),
            };
            let projection =
                Projection { scheme: scheme.clone(), site: site.clone(), date, facts: vec![Fact::Referral(fact)] };
            let doc = signpost_shared::schema::desk_day_id(site, date);
            documents::apply_write(conn, &Write::Project { doc, projection }).unwrap();
        }
    }

    /// The same quarter asked for twice, with any amount of data arriving in between (late
    /// entries, other schemes), is byte for byte the same: no two views of it can be differenced.
    #[test]
    fn a_published_quarter_never_changes_whatever_arrives_later() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let q = Quarter::parse("2026-Q2").unwrap();
        for seed in 0..12u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let conn = crate::db::memory().unwrap();
            let regions = [Region::London, Region::Wales, Region::SouthWest];
            let sites: Vec<(String, String)> = (0..4)
                .map(|i| {
                    let region = Some(regions[i % regions.len()]);
                    let scheme = crate::schemes::create_scheme(&conn, &format!("S{i}"), region, None).unwrap();
                    let site = crate::schemes::create_site(&conn, &scheme, "Desk").unwrap();
                    (scheme, site)
                })
                .collect();
            let first_batch = rng.random_range(0..300);
            arrive(&conn, &mut rng, &sites, q, first_batch);
            let policy = Policy::default();
            let first = serde_json::to_string(&published(&conn, q, &policy, today).unwrap()).unwrap();
            let later = rng.random_range(1..300);
            arrive(&conn, &mut rng, &sites, q, later);
            let second = serde_json::to_string(&published(&conn, q, &policy, today).unwrap()).unwrap();
            assert_eq!(first, second, "seed {seed}: {first_batch} then {later} referrals");
            // Before its publication day a quarter is refused.
            let current = Quarter::containing(today);
            assert!(published(&conn, current, &policy, today).is_err(), "seed {seed}");
        }
    }

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
        // Within the grace period after a quarter, the one before is the newest on offer.
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(quarters(day("2026-10-14"))[0].code(), "2026-Q2");
        assert_eq!(next_publication(day("2026-10-14")), (Quarter::parse("2026-Q3").unwrap(), day("2026-10-15")));
        assert_eq!(quarters(day("2026-10-15"))[0].code(), "2026-Q3");
        assert_eq!(next_publication(day("2026-10-15")), (Quarter::parse("2026-Q4").unwrap(), day("2027-01-15")));
    }
}
