//! Signpost's data and rules, below the HTTP surfaces of the relay (`signpost` crate).
//!
//! Layers, each importing only those before it:
//! - [`util`]: the clock, random ids and secrets, token hashes;
//! - [`db`]: the SQLite file, its pool of connections, [`db::migrations`] and the stored
//!   documents with the facts projected from them ([`db::documents`]);
//! - [`error`]: [`Refusal`], the one error a person can act on;
//! - [`audit`], then [`schemes`], then [`accounts`], [`admin_tokens`], [`tablets`], [`equality`], [`stats`],
//!   [`figures`], [`export`], [`retention`], then [`national`] and [`seed`]: the domain, one module per kind of
//!   thing, each holding its own SQL.
//!
//! Nothing here knows about HTTP: callers decide who may do what; these functions keep the data
//! consistent (scheme scoping is in their SQL as well) and say why they refuse.

pub mod accounts;
pub mod admin_tokens;
pub mod agencies;
pub mod attempts;
pub mod audit;
pub mod backup;
pub mod db;
pub mod equality;
pub mod erasure;
pub mod error;
pub mod export;
pub mod figures;
pub mod integrity;
pub mod national;
pub mod retention;
pub mod schemes;
pub mod seed;
pub mod set_aside;
pub mod sql;
pub mod stats;
pub mod tablets;
pub mod util;

pub use error::{refuse, Refusal};

/// What the domain's tests share.
#[cfg(test)]
pub(crate) mod testing {
    use chrono::NaiveDate;
    use signpost_shared::schema::Referral;

    /// A valid referral (`testkit::referral`) logged at noon of `day`: an entry's time must fall
    /// within a day of its day to be counted.
    pub fn referral_on(id: &str, day: NaiveDate) -> Referral {
        let noon = day.and_hms_opt(12, 0, 0).expect("noon").and_utc().timestamp_millis();
        Referral { recorded_at_ms: noon, ..signpost_shared::testkit::referral(id) }
    }
}
