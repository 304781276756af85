//! Publication: a quarter's national figures are computed once, after it closes and a grace
//! period for late syncs, stored, and served unchanged from then on, so that no two views of one
//! quarter can be differenced.

use super::{compute, National, Quarter};
use crate::error::Refusal;
use crate::sql::{params, Connection, OptionalExtension};
use anyhow::Context;
use chrono::NaiveDate;
use signpost_shared::disclosure::Policy;

/// Days after a quarter ends before its figures are computed: tablets that were offline sync
/// their late entries first.
pub const GRACE_DAYS: i64 = 14;

impl Quarter {
    /// The day its figures are computed, frozen and published.
    pub fn published_on(self) -> NaiveDate {
        self.last_day() + chrono::Duration::days(GRACE_DAYS + 1)
    }
}

/// A quarter's figures as frozen, if they were.
fn stored(conn: &Connection, quarter: Quarter) -> anyhow::Result<Option<National>> {
    let json: Option<String> = conn
        .query_row("SELECT figures FROM published_quarters WHERE quarter = ?1", [quarter.code()], |r| r.get(0))
        .optional()?;
    json.map(|j| serde_json::from_str(&j).context("stored quarter figures do not read")).transpose()
}

/// The national figures of a quarter, computed once — the first time they are asked for on or
/// after [`Quarter::published_on`] — then stored and served unchanged, so that no two views of
/// one quarter can be differenced (a late entry, a new equality answer or a purge changes no
/// published figure). Refused before the quarter's publication day.
pub fn published(conn: &Connection, quarter: Quarter, policy: &Policy, today: NaiveDate) -> anyhow::Result<National> {
    if let Some(n) = stored(conn, quarter)? {
        return Ok(n);
    }
    anyhow::ensure!(today >= quarter.published_on(), "{} is published on {}", quarter.code(), quarter.published_on());
    let previous = stored(conn, quarter.previous())?;
    let n = compute(conn, quarter, previous, policy)?;
    // Two readers computing at once: the first stored wins, and both serve it.
    conn.execute(
        "INSERT INTO published_quarters(quarter, published_at, figures) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![quarter.code(), n.published_at, serde_json::to_string(&n)?],
    )?;
    Ok(stored(conn, quarter)?.expect("stored just now"))
}

/// The quarters on offer: the last eight published ones, newest first.
pub fn quarters(today: NaiveDate) -> Vec<Quarter> {
    let mut q = Quarter::containing(today).previous();
    if q.published_on() > today {
        q = q.previous();
    }
    (0..8)
        .map(|_| {
            let out = q;
            q = q.previous();
            out
        })
        .collect()
}

/// The next quarter to be published, and when.
pub fn next_publication(today: NaiveDate) -> (Quarter, NaiveDate) {
    let q = quarters(today)[0];
    let next = if q == Quarter::containing(today).previous() {
        Quarter::containing(today)
    } else {
        Quarter::containing(today).previous()
    };
    (next, next.published_on())
}

/// The quarter asked for (`2026-Q3`), which must be one of [`quarters`] on `today`; none asked
/// for is the last published one.
pub fn chosen(asked: Option<&str>, today: NaiveDate) -> Result<Quarter, Refusal> {
    let offered = quarters(today);
    match asked.filter(|s| !s.is_empty()) {
        None => Ok(offered[0]),
        Some(s) => Quarter::parse(s).filter(|q| offered.contains(q)).ok_or_else(|| {
            Refusal::new(
                format!("Choose one of the last eight published quarters, like {}", offered[0].code()),
                format!("Dewiswch un o'r wyth chwarter diwethaf a gyhoeddwyd, fel {}", offered[0].code()),
            )
        }),
    }
}
