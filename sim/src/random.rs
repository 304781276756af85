//! Random entries as a volunteer might log them: every optional field present or absent,
//! booleans both ways, text with non-ASCII, padding and emoji. Shared by the in-process
//! randomized schedules and the soak against the real relay, so both cover the same values.

use rand::Rng;
use signpost_shared::schema::{self, AgencyRef, Referral};
use signpost_shared::vocab::{AgeBand, Category, HelpKind, Helped};
use std::collections::BTreeSet;

/// Free text of up to `max` characters, trimmed as the app trims it.
pub fn text(rng: &mut impl Rng, max: usize) -> String {
    const PIECES: &[&str] =
        &["Citizens Advice", "Llŷr's café", "naïve – ünïcode", "😀 food bank", "  padded  ", "Ysbyty Gwynedd", "x"];
    let n = rng.random_range(1..=3);
    let s: Vec<&str> = (0..n).map(|_| PIECES[rng.random_range(0..PIECES.len())]).collect();
    s.join(" ").chars().take(max).collect::<String>().trim().to_owned()
}

/// A referral with random values in every field, logged at a random time of `day`; the
/// volunteer, when named, is one of `volunteers` (roster ids).
pub fn referral(rng: &mut impl Rng, id: String, volunteers: &[String], day: chrono::NaiveDate) -> Referral {
    let mut categories = BTreeSet::new();
    while categories.is_empty() || rng.random_bool(0.3) {
        categories.insert(Category::ALL[rng.random_range(0..Category::ALL.len())]);
    }
    let agency = if rng.random_bool(0.5) {
        AgencyRef::Directory(format!("agency-{}", rng.random_range(0..4)))
    } else {
        AgencyRef::Other(text(rng, schema::MAX_TEXT_CHARS))
    };
    Referral {
        id,
        recorded_at_ms: midnight_ms(day) + rng.random_range(0..86_400_000),
        volunteer: (!volunteers.is_empty() && rng.random_bool(0.7))
            .then(|| volunteers[rng.random_range(0..volunteers.len())].clone()),
        helped: Helped::ALL[rng.random_range(0..Helped::ALL.len())],
        age_band: rng.random_bool(0.5).then(|| AgeBand::ALL[rng.random_range(0..AgeBand::ALL.len())]),
        categories,
        agency,
        help: HelpKind::ALL[rng.random_range(0..HelpKind::ALL.len())],
        follow_up: rng.random_bool(0.5),
        follow_up_closed: None,
        notes: rng.random_bool(0.4).then(|| text(rng, schema::MAX_NOTES_CHARS)),
        void: None,
    }
}

/// The first millisecond of `day` (UTC).
pub fn midnight_ms(day: chrono::NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis()
}
