//! Whatever a tablet stores, every figure Signpost serves answers and is sane.
//!
//! Desk days are written as a faulty or hostile tablet might write them — extreme and negative
//! times, strings and floats where numbers belong, missing fields, huge numbers of shifts,
//! volunteer ids on no roster — and projected exactly as the relay projects them (each change's
//! touched entries, into the same tables). Then the scheme's summary (the dashboard and its CSVs
//! print it), the referral export, the national figures and `admin check` must all answer, with
//! figures that are non-negative and finite, hours no more than a day of 24 hours per volunteer
//! id, and active volunteers no more than the roster holds.
//!
//! Seeded: a failure names its seed; `SIGNPOST_SEED=S` runs that one alone, `SIGNPOST_CASES=N`
//! runs more.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjType, ScalarValue, ROOT};
use chrono::{Duration, NaiveDate};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use signpost_domain::db::{self, documents};
use signpost_domain::national::{self, Quarter};
use signpost_domain::sql::Connection;
use signpost_domain::{export, figures, integrity, schemes, stats};
use signpost_shared::disclosure::{Cell, Policy};
use signpost_shared::projection::{self, Roster};
use signpost_shared::relay::{Meta, Write};
use signpost_shared::schema::{self, Header};
use std::collections::{BTreeMap, BTreeSet};

const DAY_MS: i64 = 86_400_000;

/// The quarter whose national figures are published on `TODAY`, and the one before.
fn quarter() -> Quarter {
    Quarter::parse("2026-Q3").unwrap()
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 10, 20).unwrap()
}

/// A scheme as the case made it: its site, its roster, and every volunteer id a tablet wrote.
struct Scheme {
    id: String,
    site: String,
    roster: Vec<String>,
    /// Volunteer ids written into shifts (whatever became of them), for the bound on hours.
    shift_ids: BTreeSet<String>,
}

/// A time as a tablet might write it, near `start` (the day's first moment) or anything but.
fn time(rng: &mut StdRng, start: i64, later: bool, clean: bool) -> Option<ScalarValue> {
    let reach = if later { 700 * DAY_MS } else { DAY_MS };
    Some(match rng.random_range(if clean { 0..8 } else { 0..20 }) {
        0..=7 => ScalarValue::Timestamp(start + rng.random_range(0..reach)),
        8 => ScalarValue::Int(i64::MIN),
        9 => ScalarValue::Int(i64::MAX),
        10 => ScalarValue::Timestamp(-6_000_000_000_000_000_000),
        11 => ScalarValue::Timestamp(6_000_000_000_000_000_000),
        12 => ScalarValue::Int(rng.random()),
        13 => ScalarValue::F64([f64::NAN, f64::INFINITY, 1e300, -0.0, 1.5][rng.random_range(0..5)]),
        14 => ScalarValue::Str(["NaN", "Infinity", "1e400", "", "2026-07-01T10:00:00Z"][rng.random_range(0..5)].into()),
        15 => ScalarValue::Uint(u64::MAX),
        16 => ScalarValue::Timestamp(start + [-2, 3, -400, 40_000][rng.random_range(0..4)] * DAY_MS),
        17 => ScalarValue::Int(start + rng.random_range(-DAY_MS..2 * DAY_MS)),
        18 => ScalarValue::Boolean(true),
        _ => return None,
    })
}

/// A volunteer id: on the roster, on none, or not an id at all.
fn volunteer(rng: &mut StdRng, roster: &[String]) -> Option<ScalarValue> {
    Some(match rng.random_range(0..10) {
        0..=3 if !roster.is_empty() => ScalarValue::Str(roster[rng.random_range(0..roster.len())].as_str().into()),
        0..=5 => ScalarValue::Str(format!("ghost-{}", rng.random_range(0..60)).into()),
        6 => ScalarValue::Int(7),
        7 => ScalarValue::Str("x".repeat(65).into()),
        8 => ScalarValue::Str("".into()),
        _ => return None,
    })
}

fn pick<'a>(rng: &mut StdRng, good: &[&'a str], bad: &[&'a str], clean: bool) -> Option<ScalarValue> {
    match rng.random_range(if clean { 0..7 } else { 0..10 }) {
        0..=6 => Some(ScalarValue::Str(good[rng.random_range(0..good.len())].into())),
        7 | 8 => Some(ScalarValue::Str(bad[rng.random_range(0..bad.len())].into())),
        _ => None,
    }
}

fn put<T: Transactable>(tx: &mut T, obj: &automerge::ObjId, key: &str, v: Option<ScalarValue>) {
    if let Some(v) = v {
        tx.put(obj, key, v).unwrap();
    }
}

/// A referral: a clean one (every field as the schema says, its volunteer any id) or one with
/// anything in any field.
fn write_referral<T: Transactable>(tx: &mut T, rng: &mut StdRng, id: &str, start: i64, roster: &[String]) {
    let clean = rng.random_bool(0.5);
    let r = tx.put_object(ROOT, format!("referral:{id}"), ObjType::Map).unwrap();
    put(tx, &r, "recordedAt", time(rng, start, false, clean));
    put(tx, &r, "volunteer", volunteer(rng, roster));
    put(tx, &r, "helped", pick(rng, &["victim", "witness", "defendant"], &["NaN", "telepathy", ""], clean));
    put(tx, &r, "ageBand", pick(rng, &["25-34", "65-plus"], &["-1", "ancient"], clean));
    if clean || rng.random_range(0..10) > 0 {
        let cats = tx.put_object(&r, "categories", ObjType::Map).unwrap();
        tx.put(&cats, "housing", clean || rng.random_bool(0.5)).unwrap();
        for _ in 0..rng.random_range(0..4) {
            let c = ["mental-health", "fines-payments", "NaN", "other"][rng.random_range(0..if clean { 2 } else { 4 })];
            tx.put(&cats, c, rng.random_bool(0.85)).unwrap();
        }
    } else {
        tx.put(&r, "categories", "housing").unwrap();
    }
    match rng.random_range(0..if clean { 3 } else { 4 }) {
        0 => put(tx, &r, "agencyOther", Some(ScalarValue::Str("Food bank".into()))),
        1 | 2 => put(tx, &r, "agency", Some(ScalarValue::Str(["shelter", "cab"][rng.random_range(0..2)].into()))),
        _ => put(tx, &r, "agencyOther", Some(ScalarValue::Str("   ".into()))),
    }
    put(tx, &r, "help", pick(rng, &["information", "referred"], &["NaN", "telepathy"], clean));
    let follow_up = if clean || rng.random_bool(0.8) { ScalarValue::Boolean(rng.random()) } else { "yes".into() };
    put(tx, &r, "followUp", Some(follow_up));
    if rng.random_bool(0.4) {
        let c = tx.put_object(&r, "followUpClosed", ObjType::Map).unwrap();
        put(tx, &c, "outcome", pick(rng, &["resolved", "contacted"], &["NaN"], clean));
        put(tx, &c, "at", time(rng, start, true, clean));
    }
    if rng.random_bool(0.15) {
        let v = tx.put_object(&r, "void", ObjType::Map).unwrap();
        put(tx, &v, "reason", Some("logged twice".into()));
        put(tx, &v, "at", time(rng, start, true, clean));
    }
}

fn write_shift<T: Transactable>(tx: &mut T, rng: &mut StdRng, id: &str, start: i64, who: Option<ScalarValue>) {
    let clean = rng.random_bool(0.5);
    let s = tx.put_object(ROOT, format!("shift:{id}"), ObjType::Map).unwrap();
    put(tx, &s, "volunteer", who);
    put(tx, &s, "start", time(rng, start, false, clean));
    put(tx, &s, "end", time(rng, start, false, clean));
}

/// Stores the change(s) made since `heads` and projects the entries they touched, as the relay
/// does with a sync message.
fn store(
    conn: &Connection,
    id: signpost_shared::ids::DocumentId,
    h: &Header,
    doc: &Automerge,
    first: bool,
    heads: &[automerge::ChangeHash],
) {
    let changes = doc.get_changes(heads);
    let projection = projection::project(doc, h, projection::touched_keys(doc, &changes)).unwrap();
    let chunk = if first { doc.save() } else { doc.save_after(heads) };
    db::immediate(conn, |tx| {
        let write = if first {
            Write::Create { doc: id, meta: Meta::Doc(h.clone()), chunk }
        } else {
            Write::Append { doc: id, chunk }
        };
        documents::apply_write(tx, &write)?;
        documents::apply_write(tx, &Write::Project { doc: id, projection })
    })
    .unwrap();
}

/// One desk day of hostile entries, stored a change at a time.
fn hostile_day(conn: &Connection, rng: &mut StdRng, s: &mut Scheme, date: NaiveDate, n: &mut u32) {
    let h = Header::desk_day(&s.id, &s.site, date);
    let id = h.well_known_id();
    let start = date.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
    let mut doc = Automerge::new();
    let mut tx = doc.transaction();
    schema::write_header(&mut tx, &h).unwrap();
    tx.commit();
    store(conn, id, &h, &doc, true, &[]);
    for _ in 0..rng.random_range(1..12) {
        let heads = doc.get_heads();
        let mut tx = doc.transaction();
        for _ in 0..rng.random_range(1..6) {
            *n += 1;
            let entry = format!("e{n}");
            if rng.random_bool(0.6) {
                write_referral(&mut tx, rng, &entry, start, &s.roster);
            } else {
                let who = volunteer(rng, &s.roster);
                if let Some(ScalarValue::Str(v)) = &who {
                    s.shift_ids.insert(v.to_string());
                }
                write_shift(&mut tx, rng, &entry, start, who);
            }
        }
        tx.commit();
        store(conn, id, &h, &doc, false, &heads);
    }
    // Sometimes hundreds of shifts of one volunteer on the day, each as long as it may count.
    if rng.random_bool(0.1) {
        let heads = doc.get_heads();
        let who = volunteer(rng, &s.roster).unwrap_or_else(|| "ghost-0".into());
        if let ScalarValue::Str(v) = &who {
            s.shift_ids.insert(v.to_string());
        }
        let mut tx = doc.transaction();
        for k in 0..rng.random_range(100..400) {
            let sh = tx.put_object(ROOT, format!("shift:many-{k}"), ObjType::Map).unwrap();
            tx.put(&sh, "volunteer", who.clone()).unwrap();
            tx.put(&sh, "start", ScalarValue::Timestamp(start)).unwrap();
            tx.put(&sh, "end", ScalarValue::Timestamp(start + 2 * DAY_MS - 1)).unwrap();
        }
        tx.commit();
        store(conn, id, &h, &doc, false, &heads);
    }
}

/// The case of one seed: its schemes and what they stored.
fn case(seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let conn = db::memory().map_err(|e| e.to_string())?;
    let regions = [signpost_shared::vocab::Region::Wales, signpost_shared::vocab::Region::London];
    let mut made = Vec::new();
    for i in 0..3 {
        let id = schemes::create_scheme(&conn, &format!("S{i}"), Some(regions[i % 2]), None).unwrap();
        let site = schemes::create_site(&conn, &id, "Desk").unwrap();
        // The first scheme's roster is empty, as in the issue; the others hold a few, some no
        // longer active.
        let roster: Vec<String> =
            if i == 0 { vec![] } else { (0..rng.random_range(1..7)).map(|k| format!("vol-{i}-{k}")).collect() };
        let volunteers = roster.iter().map(|v| (v.clone(), rng.random_bool(0.7))).collect();
        let directory = schema::directory_id(&id);
        documents::apply_write(
            &conn,
            &Write::Roster { doc: directory, roster: Roster { scheme: id.clone(), volunteers } },
        )
        .unwrap();
        made.push(Scheme { id, site, roster, shift_ids: BTreeSet::new() });
    }
    let (first, last) = (quarter().previous().first_day(), quarter().last_day());
    let span = (last - first).num_days();
    let (mut n, mut days) = (0, BTreeSet::new());
    for _ in 0..rng.random_range(4..14) {
        let s = rng.random_range(0..made.len());
        let date = first + Duration::days(rng.random_range(0..=span));
        if days.insert((s, date)) {
            hostile_day(&conn, &mut rng, &mut made[s], date, &mut n);
        }
    }

    let fail = |what: &str, e: anyhow::Error| format!("{what}: {e:#}");
    stored_facts_are_bounded(&conn)?;
    for s in &made {
        let ids = s.shift_ids.len().max(1) as i64;
        let roster = s.roster.len() as i64;
        for (from, to) in
            [(quarter().first_day(), last), (first, last), (first - Duration::days(stats::MAX_RANGE_DAYS), last)]
        {
            for site in [None, Some(s.site.as_str())] {
                let sum = stats::summary_of(&conn, &s.id, site, from, to).map_err(|e| fail("the summary", e))?;
                let days = (to - from).num_days() + 1;
                let counts = [
                    sum.referrals,
                    sum.voided,
                    sum.invalid_entries,
                    sum.shifts,
                    sum.volunteer_minutes,
                    sum.active_volunteers,
                    sum.entries_off_roster,
                ];
                if counts.iter().any(|c| *c < 0) {
                    return Err(format!("a negative figure: {sum:?}"));
                }
                if sum.volunteer_minutes > days * 24 * 60 * ids {
                    return Err(format!("{} minutes in {days} days from {ids} volunteer ids", sum.volunteer_minutes));
                }
                if sum.volunteer_minutes > sum.shifts * projection::MAX_SHIFT_MINUTES {
                    return Err(format!("{} minutes from {} shifts", sum.volunteer_minutes, sum.shifts));
                }
                if !sum.volunteer_hours.is_finite()
                    || sum.referrals_per_volunteer_hour.is_some_and(|r| !r.is_finite() || r < 0.0)
                {
                    return Err(format!("not a finite figure: {sum:?}"));
                }
                if sum.active_volunteers > roster {
                    return Err(format!("{} active volunteers from a roster of {roster}", sum.active_volunteers));
                }
                let f = &sum.follow_ups;
                if f.needed != f.open + f.closed || f.open < 0 || f.closed < 0 {
                    return Err(format!("follow-ups do not add up: {f:?}"));
                }
                let longest = (projection::LATER_DAYS_AFTER + 3) * 24;
                if f.median_hours_to_close.is_some_and(|h| !h.is_finite() || h < 0.0 || h > longest as f64) {
                    return Err(format!("a median time to close of {:?} hours", f.median_hours_to_close));
                }
                let total = |c: &[stats::Count]| c.iter().map(|c| c.count).sum::<i64>();
                if total(&sum.by_day) != sum.referrals
                    || total(&sum.by_site) != sum.referrals
                    || total(&sum.by_issue_category) < sum.referrals
                {
                    return Err(format!("breakdowns do not add up: {sum:?}"));
                }
                let mut lines = 0;
                let names = export::names(&conn, &s.id).map_err(|e| fail("the export's names", e))?;
                export::referral_rows(&conn, &s.id, site, from, to, &names, |_| {
                    lines += 1;
                    Ok(())
                })
                .map_err(|e| fail("the referral export", e))?;
                if lines != sum.referrals + 1 {
                    return Err(format!("{lines} lines exported for {} referrals", sum.referrals));
                }
            }
        }
    }
    // The national figures: each scheme's volunteers are on its roster; the published tables
    // answer and are bounded by what the rosters hold.
    let roster_total: u64 = made.iter().map(|s| s.roster.len() as u64).sum();
    for q in [quarter(), quarter().previous()] {
        for (s, f) in
            made.iter().zip(figures::per_scheme(&conn, &q.code()).map_err(|e| fail("the quarter's figures", e))?)
        {
            if f.scheme != s.id || f.figures.volunteers > s.roster.len() as u64 {
                return Err(format!("{q:?}: {} volunteers for a roster of {}", f.figures.volunteers, s.roster.len()));
            }
        }
    }
    let policy = Policy::default();
    let published =
        national::published(&conn, quarter(), &policy, today()).map_err(|e| fail("the national figures", e))?;
    serde_json::to_string(&published).map_err(|e| format!("the national figures as JSON: {e}"))?;
    for m in &published.measures {
        for (name, b) in [("quarter", &m.quarter), ("previous", &m.previous)] {
            if m.key == "volunteers" {
                if let Cell::Count(n) = b.by_region.total {
                    if n > roster_total + policy.round_to {
                        return Err(format!("{n} volunteers published ({name}) from rosters of {roster_total}"));
                    }
                }
            }
        }
    }
    // Every stored document gives the facts stored from it.
    let report = integrity::check(&conn).map_err(|e| fail("the check", e))?;
    if !report.ok() {
        return Err(format!("the check: {report}"));
    }
    Ok(())
}

/// No stored fact holds a time outside its day's bounds, nor minutes outside a shift's.
fn stored_facts_are_bounded(conn: &Connection) -> Result<(), String> {
    let day = |s: String| NaiveDate::parse_from_str(&s, "%Y-%m-%d").unwrap();
    let rows = |sql: &str| -> Vec<(String, i64, Option<i64>, i64)> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map((), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).unwrap().map(Result::unwrap).collect()
    };
    for (d, recorded, closed, _) in rows("SELECT day, recorded_at, follow_up_closed_at, 0 FROM referral_facts") {
        let d = day(d);
        if !projection::fits_day(d, recorded) || closed.is_some_and(|at| !projection::fits_later(d, at)) {
            return Err(format!("a referral of {d} stored as logged at {recorded}, closed at {closed:?}"));
        }
    }
    for (d, start, end, minutes) in rows("SELECT day, start_ms, end_ms, minutes FROM shift_facts") {
        let d = day(d);
        if !projection::fits_day(d, start) || end.is_some_and(|e| !projection::fits_day(d, e)) {
            return Err(format!("a shift of {d} stored from {start} to {end:?}"));
        }
        if !(0..=projection::MAX_SHIFT_MINUTES).contains(&minutes) {
            return Err(format!("a shift of {d} stored as {minutes} minutes"));
        }
    }
    Ok(())
}

#[test]
fn every_figure_answers_and_is_sane_whatever_tablets_stored() {
    let cases: u64 = std::env::var("SIGNPOST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(24);
    let seeds: Vec<u64> = match std::env::var("SIGNPOST_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => (0..cases).collect(),
    };
    let mut failed = BTreeMap::new();
    for seed in seeds {
        let outcome = std::panic::catch_unwind(|| case(seed)).unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default())
        });
        if let Err(e) = outcome {
            failed.insert(seed, e);
        }
    }
    if let Some((seed, e)) = failed.iter().next() {
        panic!("{} seeds failed, the first {seed} (SIGNPOST_SEED={seed} re-runs it): {e}", failed.len());
    }
}
