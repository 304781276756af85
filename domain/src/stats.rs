//! Statistics read from the projected facts. Only aggregates leave here.

use crate::error::Refusal;
use crate::sql::{params, Connection};
use chrono::NaiveDate;
use serde::Serialize;
use signpost_shared::vocab::{Category, FollowUpOutcome, HelpKind, Helped, Pathway};
use std::collections::HashSet;
use utoipa::ToSchema;

/// The longest period one summary may cover.
pub const MAX_RANGE_DAYS: i64 = 3_700;

#[derive(Serialize, ToSchema, Debug, PartialEq)]
pub struct Count {
    /// Stable code (vocabulary code, site id or agency id).
    pub key: String,
    /// Human-readable name.
    pub label: String,
    pub count: i64,
}

#[derive(Serialize, ToSchema, Debug)]
pub struct Summary {
    pub scheme: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Referrals in the period, voided ones excluded.
    pub referrals: i64,
    /// Voided referrals in the period (kept for audit, not counted anywhere else).
    pub voided: i64,
    /// Entries in the scheme's documents that do not follow the schema and are not counted.
    pub invalid_entries: i64,
    pub by_day: Vec<Count>,
    pub by_site: Vec<Count>,
    /// A referral with several categories counts once under each.
    pub by_issue_category: Vec<Count>,
    /// A referral counts once per pathway its categories map to.
    pub by_pathway: Vec<Count>,
    pub by_agency: Vec<Count>,
    pub by_kind_of_help: Vec<Count>,
    pub by_who_helped: Vec<Count>,
    pub shifts: i64,
    /// Minutes on shift: each shift capped at 16 hours, and each volunteer's day at 24.
    pub volunteer_minutes: i64,
    pub volunteer_hours: f64,
    /// Volunteers on the scheme's roster (active or not) with a shift or a referral in the
    /// period.
    pub active_volunteers: i64,
    /// Referrals and shifts of the period naming a volunteer who is not on the scheme's roster:
    /// counted in the totals (the work was done), but attributed to no volunteer, so the
    /// coordinator can put the roster right.
    pub entries_off_roster: i64,
    pub referrals_per_volunteer_hour: Option<f64>,
    /// The period's referrals that needed a follow-up, voided ones excluded.
    pub follow_ups: FollowUps,
}

/// Follow-ups of the referrals of a period: how many are still open, how each closed one ended,
/// and how long closing took.
#[derive(Debug, Default, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct FollowUps {
    pub needed: i64,
    pub open: i64,
    pub closed: i64,
    /// Closed follow-ups by outcome.
    pub by_outcome: Vec<Count>,
    /// The median time from the referral to its follow-up's closing, in hours.
    pub median_hours_to_close: Option<f64>,
}

pub fn parse_period(from: &str, to: &str) -> Result<(NaiveDate, NaiveDate), Refusal> {
    let parse = |name: &str, v: &str| {
        NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
            Refusal::new(
                format!("`{name}` must be a date written YYYY-MM-DD, not {v:?}"),
                format!("Rhaid i `{name}` fod yn ddyddiad ar y ffurf BBBB-MM-DD, nid {v:?}"),
            )
        })
    };
    let (from, to) = (parse("from", from)?, parse("to", to)?);
    if from > to {
        return Err(Refusal::new("`from` must not be after `to`", "Ni chaiff `from` fod ar ôl `to`"));
    }
    if (to - from).num_days() > MAX_RANGE_DAYS {
        return Err(Refusal::new(
            format!("a period may cover at most {MAX_RANGE_DAYS} days"),
            format!("ni chaiff cyfnod fod yn hwy na {MAX_RANGE_DAYS} diwrnod"),
        ));
    }
    Ok((from, to))
}

/// Tallies keyed by code, turned into [`Count`]s sorted by count (then key), or by key.
#[derive(Default)]
struct Tally(std::collections::HashMap<String, i64>);

impl Tally {
    fn add(&mut self, key: &str) {
        match self.0.get_mut(key) {
            Some(n) => *n += 1,
            None => {
                self.0.insert(key.to_owned(), 1);
            }
        }
    }

    fn counts(self, label: impl Fn(&str) -> String, by_key: bool) -> Vec<Count> {
        let mut v: Vec<Count> =
            self.0.into_iter().map(|(key, count)| Count { label: label(&key), key, count }).collect();
        if by_key {
            v.sort_by(|a, b| a.key.cmp(&b.key));
        } else {
            v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        }
        v
    }
}

fn vocab_label<T: Copy>(from_code: fn(&str) -> Option<T>, label: fn(T) -> &'static str) -> impl Fn(&str) -> String {
    move |k| from_code(k).map(label).unwrap_or(k).to_owned()
}

/// One scan of the period's referrals and one of their categories, aggregated here: cheaper than
/// a GROUP BY query per breakdown, which would read the same rows once per breakdown.
pub fn summary(conn: &Connection, scheme: &str, from: NaiveDate, to: NaiveDate) -> anyhow::Result<Summary> {
    summary_of(conn, scheme, None, from, to)
}

/// [`summary`] for one site of the scheme, or all of them.
///
/// Its queries read one snapshot (a read transaction): a batch the relay commits meanwhile
/// shows in every figure or in none, so the breakdowns always add up to the totals.
pub fn summary_of(
    conn: &Connection,
    scheme: &str,
    site: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<Summary> {
    let snapshot = conn.unchecked_transaction()?;
    let summary = read_summary(&snapshot, scheme, site, from, to)?;
    snapshot.commit()?;
    Ok(summary)
}

fn read_summary(
    conn: &Connection,
    scheme: &str,
    site: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<Summary> {
    let (f, t) = (from.format("%Y-%m-%d").to_string(), to.format("%Y-%m-%d").to_string());
    let args = params![scheme, f, t, site];
    let (mut referrals, mut voided) = (0i64, 0i64);
    let (mut by_day, mut by_site, mut by_agency, mut by_help, mut by_helped) =
        (Tally::default(), Tally::default(), Tally::default(), Tally::default(), Tally::default());
    let roster = roster_of(conn, scheme)?;
    let mut volunteers: HashSet<String> = Default::default();
    let mut entries_off_roster = 0i64;
    {
        let mut stmt = conn.prepare_cached(
            "SELECT day, site_id, agency_kind, agency, help, helped, voided, volunteer FROM referral_facts
             WHERE scheme_id = ?1 AND day BETWEEN ?2 AND ?3 AND (CAST(?4 AS TEXT) IS NULL OR site_id = ?4)",
        )?;
        let mut rows = stmt.query(args)?;
        while let Some(r) = rows.next()? {
            if r.get::<_, bool>(6)? {
                voided += 1;
                continue;
            }
            referrals += 1;
            by_day.add(r.get_ref(0)?.as_str()?);
            by_site.add(r.get_ref(1)?.as_str()?);
            if r.get_ref(2)?.as_str()? == "other" {
                by_agency.add("other");
            } else {
                by_agency.add(r.get_ref(3)?.as_str()?);
            }
            by_help.add(r.get_ref(4)?.as_str()?);
            by_helped.add(r.get_ref(5)?.as_str()?);
            if let Some(v) = r.get_ref(7)?.as_str_or_null()? {
                if !roster.contains(v) {
                    entries_off_roster += 1;
                } else if !volunteers.contains(v) {
                    volunteers.insert(v.to_owned());
                }
            }
        }
    }
    let (mut by_category, mut by_pathway) = (Tally::default(), Tally::default());
    {
        // Categories of one referral come together (primary key order), so a referral counts once
        // per pathway by remembering the pathways seen for the current referral.
        let mut stmt = conn.prepare_cached(
            "SELECT c.doc_id, c.id, c.category, c.pathway FROM referral_facts r
             JOIN referral_categories c ON c.doc_id = r.doc_id AND c.id = r.id
             WHERE r.scheme_id = ?1 AND r.day BETWEEN ?2 AND ?3 AND (CAST(?4 AS TEXT) IS NULL OR r.site_id = ?4) AND r.voided = 0",
        )?;
        let mut rows = stmt.query(args)?;
        let mut current: (String, String) = Default::default();
        let mut seen: Vec<String> = Vec::new();
        while let Some(r) = rows.next()? {
            let (doc, id) = (r.get_ref(0)?.as_str()?, r.get_ref(1)?.as_str()?);
            if doc != current.0 || id != current.1 {
                current = (doc.to_owned(), id.to_owned());
                seen.clear();
            }
            by_category.add(r.get_ref(2)?.as_str()?);
            let pathway = r.get_ref(3)?.as_str()?;
            if !seen.iter().any(|p| p == pathway) {
                seen.push(pathway.to_owned());
                by_pathway.add(pathway);
            }
        }
    }
    let follow_ups = {
        // The difference is taken here rather than in SQL: facts stored by an earlier release
        // may hold times whose difference overflows 64 bits.
        let mut stmt = conn.prepare_cached(
            "SELECT follow_up_outcome, follow_up_closed_at, recorded_at FROM referral_facts
             WHERE scheme_id = ?1 AND day BETWEEN ?2 AND ?3 AND (CAST(?4 AS TEXT) IS NULL OR site_id = ?4)
               AND follow_up = 1 AND voided = 0",
        )?;
        let mut rows = stmt.query(args)?;
        let (mut f, mut outcomes, mut took) = (FollowUps::default(), Tally::default(), Vec::<i64>::new());
        while let Some(r) = rows.next()? {
            f.needed += 1;
            match r.get_ref(0)?.as_str_or_null()? {
                None => f.open += 1,
                Some(outcome) => {
                    f.closed += 1;
                    outcomes.add(outcome);
                    let (closed_at, recorded_at) = (r.get::<_, Option<i64>>(1)?, r.get::<_, i64>(2)?);
                    took.push(closed_at.map_or(0, |at| at.saturating_sub(recorded_at).max(0)));
                }
            }
        }
        took.sort_unstable();
        f.median_hours_to_close = match took.len() {
            0 => None,
            n if n % 2 == 1 => Some(took[n / 2] as f64 / 3_600_000.0),
            n => Some((took[n / 2 - 1] as f64 + took[n / 2] as f64) / 2.0 / 3_600_000.0),
        };
        f.by_outcome = outcomes.counts(vocab_label(FollowUpOutcome::from_code, FollowUpOutcome::label), false);
        f
    };
    let invalid_entries: i64 =
        conn.query_row("SELECT COUNT(*) FROM invalid_entries WHERE scheme_id = ?1", [scheme], |r| r.get(0))?;
    let (mut shifts, mut volunteer_minutes) = (0i64, 0i64);
    {
        let mut stmt = conn.prepare_cached(
            "SELECT volunteer, COUNT(*), COALESCE(SUM(minutes), 0) FROM shift_facts
             WHERE scheme_id = ?1 AND day BETWEEN ?2 AND ?3 AND (CAST(?4 AS TEXT) IS NULL OR site_id = ?4)
             GROUP BY volunteer, day",
        )?;
        let mut rows = stmt.query(args)?;
        while let Some(r) = rows.next()? {
            let (volunteer, n, minutes): (String, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            shifts += n;
            volunteer_minutes += day_minutes(minutes);
            if !roster.contains(&volunteer) {
                entries_off_roster += n;
            } else {
                volunteers.insert(volunteer);
            }
        }
    }
    let site_names: std::collections::HashMap<String, String> =
        crate::schemes::sites_of(conn, scheme)?.into_iter().collect();
    let volunteer_hours = volunteer_minutes as f64 / 60.0;
    Ok(Summary {
        scheme: scheme.to_owned(),
        from,
        to,
        referrals,
        voided,
        invalid_entries,
        by_day: by_day.counts(|k| k.to_owned(), true),
        by_site: by_site.counts(|k| site_names.get(k).cloned().unwrap_or_else(|| k.to_owned()), false),
        by_issue_category: by_category.counts(vocab_label(Category::from_code, Category::label), false),
        by_pathway: by_pathway.counts(vocab_label(Pathway::from_code, Pathway::label), false),
        by_agency: by_agency
            .counts(|k| if k == "other" { "Other (not in the directory)".to_owned() } else { k.to_owned() }, false),
        by_kind_of_help: by_help.counts(vocab_label(HelpKind::from_code, HelpKind::label), false),
        by_who_helped: by_helped.counts(vocab_label(Helped::from_code, Helped::label), false),
        shifts,
        volunteer_minutes,
        volunteer_hours,
        active_volunteers: volunteers.len() as i64,
        entries_off_roster,
        referrals_per_volunteer_hour: (volunteer_minutes > 0).then(|| referrals as f64 / volunteer_hours),
        follow_ups,
    })
}

/// The most minutes one volunteer's shifts of one day count for: overlapping or repeated shifts
/// (a faulty tablet, or a hostile one) never make a day longer than it is.
pub const MAX_DAY_MINUTES: i64 = 24 * 60;

/// What one volunteer's shifts of one day (`minutes`, each shift already capped) count for.
pub fn day_minutes(minutes: i64) -> i64 {
    minutes.clamp(0, MAX_DAY_MINUTES)
}

/// The volunteer ids on the scheme's roster as last projected (active or not): only they count
/// as volunteers; an entry naming anyone else is counted but attributed to no one.
pub fn roster_of(conn: &Connection, scheme: &str) -> anyhow::Result<HashSet<String>> {
    let mut stmt = conn.prepare_cached("SELECT volunteer_id FROM roster_facts WHERE scheme_id = ?1")?;
    let rows = stmt.query_map([scheme], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The desk-day documents of a site that hold an open follow-up (needed, not closed, not
/// voided), oldest first.
pub fn open_follow_up_days(conn: &Connection, site: &str) -> anyhow::Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT doc_id FROM referral_facts
         WHERE site_id = ?1 AND follow_up = 1 AND follow_up_outcome IS NULL AND voided = 0
         GROUP BY doc_id ORDER BY min(day)",
    )?;
    let rows = stmt.query_map([site], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{self, documents, Store};
    use crate::schemes;
    use rand::{Rng, SeedableRng};
    use signpost_shared::projection::{Fact, Projection, ReferralFact, ShiftFact};
    use signpost_shared::relay::Write;
    use signpost_shared::schema::AgencyRef;
    use std::collections::{BTreeMap, BTreeSet};

    /// The relay commits referrals (one category each) while summaries are read on another
    /// connection: every summary's breakdown by category adds up to its total.
    #[test]
    fn a_summary_reads_one_snapshot_while_the_relay_commits() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let st = Store::open(&dir, db::Sync::Normal).unwrap();
        let conn = st.connect().unwrap();
        let scheme = schemes::create_scheme(&conn, "S", None, None).unwrap();
        let site = schemes::create_site(&conn, &scheme, "Site").unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 3, 27).unwrap();
        let doc = signpost_shared::schema::desk_day_id(&site, date);
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (stop, scheme) = (stop.clone(), scheme.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 20_000 {
                    n += 1;
                    let fact = ReferralFact {
                        id: format!("r{n}"),
                        date,
                        recorded_at_ms: 0,
                        volunteer: None,
                        helped: Helped::Victim,
                        age_band: None,
                        categories: vec![Category::Housing],
                        agency: AgencyRef::Other("Food bank".into()),
                        help: HelpKind::Information,
                        follow_up: false,
                        follow_up_closed: None,
                        voided: false,
                    };
                    let p = Projection {
                        scheme: scheme.clone(),
                        site: site.clone(),
                        date,
                        facts: vec![Fact::Referral(fact)],
                    };
                    let tx = conn.transaction().unwrap();
                    documents::apply_write(&tx, &Write::Project { doc, projection: p }).unwrap();
                    tx.commit().unwrap();
                }
                n
            })
        };
        let reader = st.connect().unwrap();
        let mut reads = 0;
        while reads < 300 {
            let s = summary(&reader, &scheme, date, date).unwrap();
            let by_category: i64 = s.by_issue_category.iter().map(|c| c.count).sum();
            if by_category != s.referrals {
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                panic!("read {reads}: {} referrals but {by_category} by category", s.referrals);
            }
            reads += 1;
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(writer.join().unwrap() > 10, "the relay committed while summaries were read");
    }

    /// Random referrals and shifts (with re-projections, edits and voids) go through the real
    /// write path; every figure of the summary must equal a count made independently here.
    #[test]
    fn summary_matches_an_independent_count() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let st = Store::open(&dir, db::Sync::Normal).unwrap();
        let conn = st.connect().unwrap();
        let scheme = schemes::create_scheme(&conn, "S", None, None).unwrap();
        let sites: Vec<String> =
            (0..3).map(|i| schemes::create_site(&conn, &scheme, &format!("Site {i}")).unwrap()).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        // On the roster: v0 to v24, some of them no longer active; v25 to v29 are on none.
        let roster: BTreeSet<String> = (0..25).map(|i| format!("v{i}")).collect();
        let volunteers = roster.iter().map(|v| (v.clone(), v.len() % 2 == 0)).collect();
        let r = signpost_shared::projection::Roster { scheme: scheme.clone(), volunteers };
        let directory = signpost_shared::schema::directory_id(&scheme);
        documents::apply_write(&conn, &Write::Roster { doc: directory, roster: r }).unwrap();
        // Ten days across the end of a quarter.
        let day0 = NaiveDate::from_ymd_opt(2026, 3, 27).unwrap();
        // Truth: the latest version of every referral, keyed as the store keys them.
        let mut truth: BTreeMap<(String, String), ReferralFact> = BTreeMap::new();
        let mut shifts: BTreeMap<(String, String), ShiftFact> = BTreeMap::new();
        for round in 0..400 {
            let site = &sites[rng.random_range(0..sites.len())];
            let date = day0 + chrono::Days::new(rng.random_range(0..10));
            let doc = signpost_shared::schema::desk_day_id(site, date);
            let id = format!("r{}", rng.random_range(0..300)); // collisions = edits of an entry
            let cats: BTreeSet<Category> =
                (0..rng.random_range(1..4)).map(|_| Category::ALL[rng.random_range(0..Category::ALL.len())]).collect();
            let fact = ReferralFact {
                id: id.clone(),
                date,
                recorded_at_ms: 0,
                volunteer: Some(format!("v{}", rng.random_range(0..20))),
                helped: Helped::ALL[rng.random_range(0..Helped::ALL.len())],
                age_band: None,
                categories: cats.into_iter().collect(),
                agency: if rng.random_bool(0.3) {
                    AgencyRef::Other("Food bank".into())
                } else {
                    AgencyRef::Directory(format!("a{}", rng.random_range(0..5)))
                },
                help: HelpKind::ALL[rng.random_range(0..HelpKind::ALL.len())],
                follow_up: rng.random_bool(0.4),
                follow_up_closed: None,
                voided: rng.random_bool(0.1),
            };
            let fact = match rng.random_bool(0.5) {
                // Some follow-ups closed, after up to two days.
                true if fact.follow_up => ReferralFact {
                    follow_up_closed: Some((
                        signpost_shared::vocab::FollowUpOutcome::ALL[rng.random_range(0..4)],
                        rng.random_range(0..48) * 3_600_000,
                    )),
                    ..fact
                },
                _ => fact,
            };
            let mut facts = vec![Fact::Referral(fact.clone())];
            if round % 7 == 0 {
                let s = ShiftFact {
                    id: format!("s{round}"),
                    date,
                    volunteer: format!("v{}", rng.random_range(0..30)),
                    start_ms: 0,
                    end_ms: Some(rng.random_range(0..20) * 3_600_000),
                };
                shifts.insert((doc.to_string(), s.id.clone()), s.clone());
                if round % 21 == 0 {
                    // The same volunteer twice more that day, sixteen hours each.
                    for again in ["b", "c"] {
                        let more =
                            ShiftFact { id: format!("s{round}{again}"), end_ms: Some(16 * 3_600_000), ..s.clone() };
                        shifts.insert((doc.to_string(), more.id.clone()), more.clone());
                        facts.push(Fact::Shift(more));
                    }
                }
                facts.push(Fact::Shift(s));
            }
            let p = Projection { scheme: scheme.clone(), site: site.clone(), date, facts };
            let tx = conn.transaction().unwrap();
            // Twice: replaying a projection must not change anything.
            documents::apply_write(&tx, &Write::Project { doc, projection: p.clone() }).unwrap();
            documents::apply_write(&tx, &Write::Project { doc, projection: p }).unwrap();
            tx.commit().unwrap();
            truth.insert((doc.to_string(), id), fact);
        }
        let (from, to) = (day0 + chrono::Days::new(2), day0 + chrono::Days::new(7));
        let s = summary(&conn, &scheme, from, to).unwrap();
        let live: Vec<&ReferralFact> = truth.values().filter(|r| r.date >= from && r.date <= to && !r.voided).collect();
        assert_eq!(s.referrals, live.len() as i64);
        assert_eq!(s.voided, truth.values().filter(|r| r.date >= from && r.date <= to && r.voided).count() as i64);
        let tally = |f: &dyn Fn(&ReferralFact) -> Vec<String>| {
            let mut m: BTreeMap<String, i64> = BTreeMap::new();
            for r in &live {
                for k in f(r) {
                    *m.entry(k).or_default() += 1;
                }
            }
            m
        };
        let got = |v: &[Count]| v.iter().map(|c| (c.key.clone(), c.count)).collect::<BTreeMap<_, _>>();
        assert_eq!(got(&s.by_day), tally(&|r| vec![r.date.format("%Y-%m-%d").to_string()]));
        assert_eq!(got(&s.by_kind_of_help), tally(&|r| vec![r.help.code().into()]));
        assert_eq!(got(&s.by_who_helped), tally(&|r| vec![r.helped.code().into()]));
        assert_eq!(
            got(&s.by_agency),
            tally(&|r| vec![match &r.agency {
                AgencyRef::Directory(a) => a.clone(),
                AgencyRef::Other(_) => "other".into(),
            }])
        );
        assert_eq!(got(&s.by_issue_category), tally(&|r| r.categories.iter().map(|c| c.code().to_owned()).collect()));
        assert_eq!(
            got(&s.by_pathway),
            tally(&|r| r
                .categories
                .iter()
                .map(|c| c.pathway().code().to_owned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect())
        );
        let in_period: Vec<&ShiftFact> = shifts.values().filter(|x| x.date >= from && x.date <= to).collect();
        assert_eq!(s.shifts, in_period.len() as i64);
        // Each volunteer's day counts for at most 24 hours.
        let mut days: BTreeMap<(String, NaiveDate), i64> = BTreeMap::new();
        for x in &in_period {
            *days.entry((x.volunteer.clone(), x.date)).or_default() += x.minutes();
        }
        assert!(days.values().any(|m| *m > MAX_DAY_MINUTES), "the test covers a day over 24 hours");
        assert_eq!(s.volunteer_minutes, days.values().map(|m| (*m).min(MAX_DAY_MINUTES)).sum::<i64>());
        let named: Vec<String> = live
            .iter()
            .filter_map(|r| r.volunteer.clone())
            .chain(in_period.iter().map(|x| x.volunteer.clone()))
            .collect();
        let vols: BTreeSet<&String> = named.iter().filter(|v| roster.contains(*v)).collect();
        assert_eq!(s.active_volunteers, vols.len() as i64);
        let off_roster = named.iter().filter(|v| !roster.contains(*v)).count() as i64;
        assert!(off_roster > 0, "the test covers entries by volunteers on no roster");
        assert_eq!(s.entries_off_roster, off_roster);
        let needed: Vec<&&ReferralFact> = live.iter().filter(|r| r.follow_up).collect();
        let closed: Vec<&&&ReferralFact> = needed.iter().filter(|r| r.follow_up_closed.is_some()).collect();
        assert_eq!(s.follow_ups.needed, needed.len() as i64);
        assert_eq!(s.follow_ups.open, (needed.len() - closed.len()) as i64);
        assert_eq!(s.follow_ups.closed, closed.len() as i64);
        assert!(s.follow_ups.closed > 10 && s.follow_ups.open > 10, "{:?}", s.follow_ups);
        let mut outcomes: BTreeMap<String, i64> = BTreeMap::new();
        let mut took: Vec<i64> = Vec::new();
        for r in &closed {
            let (o, at) = r.follow_up_closed.unwrap();
            *outcomes.entry(o.code().to_owned()).or_default() += 1;
            took.push(at - r.recorded_at_ms);
        }
        assert_eq!(got(&s.follow_ups.by_outcome), outcomes);
        took.sort_unstable();
        let n = took.len();
        let median = if n % 2 == 1 { took[n / 2] as f64 } else { (took[n / 2 - 1] + took[n / 2]) as f64 / 2.0 };
        assert_eq!(s.follow_ups.median_hours_to_close, Some(median / 3_600_000.0));

        // The quarterly figures the national view reads, kept by triggers through all of the
        // above, against the same truth.
        for (quarter, first, last) in
            [("2026-Q1", (2026, 1, 1), (2026, 3, 31)), ("2026-Q2", (2026, 4, 1), (2026, 6, 30))]
        {
            let day = |(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap();
            let within = |d: NaiveDate| d >= day(first) && d <= day(last);
            let referrals: Vec<&ReferralFact> = truth.values().filter(|r| within(r.date) && !r.voided).collect();
            let shifts: Vec<&ShiftFact> = shifts.values().filter(|x| within(x.date)).collect();
            let volunteers: BTreeSet<String> = referrals
                .iter()
                .filter_map(|r| r.volunteer.clone())
                .chain(shifts.iter().map(|x| x.volunteer.clone()))
                .filter(|v| roster.contains(v))
                .collect();
            let want = crate::figures::Figures {
                referrals: referrals.len() as u64,
                hours: shifts.iter().map(|x| x.minutes()).sum::<i64>() as u64 / 60,
                volunteers: volunteers.len() as u64,
            };
            assert!(want.referrals > 0, "the test covers {quarter}");
            let got = crate::figures::per_scheme(&conn, quarter).unwrap();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].figures, want, "{quarter}");
        }
    }
}
