//! The data lifecycle in the relay core: documents the server removed for good (purged days,
//! replaced days) and days past a scheme's retention period are never taken again.

use chrono::{Months, NaiveDate};
use signpost_shared::local;
use signpost_shared::relay::{Config, Meta};
use signpost_shared::testkit::{date, principal, Net};

/// A valid referral with the given id, logged at noon of `day` (an entry's time must fall within
/// a day of its day to be counted).
fn referral_on(id: &str, day: NaiveDate) -> signpost_shared::schema::Referral {
    let noon = day.and_hms_opt(12, 0, 0).unwrap().and_utc().timestamp_millis();
    signpost_shared::schema::Referral { recorded_at_ms: noon, ..signpost_shared::testkit::referral(id) }
}

/// [`referral_on`] the tests' day.
fn referral(id: &str) -> signpost_shared::schema::Referral {
    referral_on(id, date())
}

/// A relay whose window reaches years back, so that only the retention period decides.
fn relay_with_a_long_window() -> Net {
    let cfg = Config { days_back: 2000, ..Config::default() };
    let mut net = Net::new(cfg);
    net.relay.set_today(date());
    net
}

#[test]
fn a_retired_day_is_unavailable_and_nothing_sent_for_it_is_stored() {
    let mut net = relay_with_a_long_window();
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    let old_day = date() - chrono::Duration::days(3);
    let old = net.open_day(1, "sc", "site-a", old_day);
    net.log(1, old, &referral_on("r1", old_day));
    net.find(2, old);
    assert_eq!(net.store.counted_referrals(), 1);

    net.retire(old, None);
    assert!(net.told_unavailable(1, old) && net.told_unavailable(2, old), "syncing devices are told");
    assert_eq!(net.store.docs[&old].chunks.len(), 0);
    assert_eq!(net.store.counted_referrals(), 0);

    // A device that still holds the day logs into it and syncs: refused, nothing stored, and its
    // connection stays up for its other documents.
    let writes = net.store.writes;
    net.log(1, old, &referral("r2"));
    assert_eq!(net.store.writes, writes, "nothing written for a retired day");
    assert!(matches!(net.store.docs[&old].meta, Meta::Retired { replaced_by: None }));
    assert!(net.devices[&1].closed.is_none(), "not a protocol error: {}", net.closed(1));
    let today = net.open_day(1, "sc", "site-a", date());
    net.log(1, today, &referral("r3"));
    assert_eq!(net.store.counted_referrals(), 1, "the device's other day syncs");

    // After a restart of the relay (nothing live), a reconnecting device is refused the same way.
    net.relay = signpost_shared::relay::Relay::new("relay".into(), "storage".into(), Config::default());
    net.relay.set_today(date());
    net.reconnect(2, 3, principal("t2", "sc", "site-a"));
    net.log(3, old, &referral("r4"));
    assert_eq!(net.store.docs[&old].chunks.len(), 0);
    assert!(net.told_unavailable(3, old));
}

#[test]
fn a_day_past_the_schemes_retention_is_refused_and_nothing_stored() {
    let months = 36;
    let oldest = date().checked_sub_months(Months::new(months)).unwrap();
    for (day, taken) in [
        (oldest - chrono::Duration::days(1), false),
        (NaiveDate::from_ymd_opt(2022, 1, 1).unwrap(), false),
        (oldest, true),
        (date(), true),
    ] {
        let mut net = relay_with_a_long_window();
        net.relay.set_retention("sc", months);
        net.join(1, principal("t1", "sc", "site-a"));
        let d = net.open_day(1, "sc", "site-a", day);
        net.log(1, d, &referral("r"));
        assert_eq!(net.store.docs.contains_key(&d), taken, "{day}: {}", net.refusals(1));
        if !taken {
            assert!(net.refusals(1).contains("retention period"), "{day}: {}", net.refusals(1));
            assert_eq!(net.refused(1, d).map(|r| r.code), Some("past-retention".into()));
            assert!(net.devices[&1].closed.is_none(), "{day}: only that day is refused");
            assert_eq!(net.store.writes, 0);
        }
    }
    // Another scheme's period is its own.
    let mut net = relay_with_a_long_window();
    net.relay.set_retention("other", 12);
    net.join(1, principal("t1", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", oldest - chrono::Duration::days(30));
    net.log(1, d, &referral("r"));
    assert!(net.store.docs.contains_key(&d));
}

#[test]
fn a_tablet_forgets_old_synced_days_and_keeps_anything_unsent() {
    let mut net = relay_with_a_long_window();
    net.join(1, principal("t1", "sc", "site-a"));
    let day = |k: i64| date() - chrono::Duration::days(k);
    let days: Vec<_> = (0..=10).map(|k| net.open_day(1, "sc", "site-a", day(k))).collect();
    for (k, d) in days.iter().enumerate() {
        net.log(1, *d, &referral(&format!("r{k}")));
    }
    let forget = |net: &Net| {
        let mut ids = local::to_forget(net.peer(1), "site-a", date(), 7, &[], &|id| id);
        ids.sort();
        ids
    };
    let mut old = vec![days[8], days[9], days[10]];
    old.sort();
    assert_eq!(forget(&net), old, "days older than a week, every entry synced");
    assert!(local::to_forget(net.peer(1), "site-a", date(), 31, &[], &|id| id).is_empty());
    assert_eq!(local::to_forget(net.peer(1), "site-a", date(), 0, &[], &|id| id).len(), 10, "only today kept");
    assert!(
        local::to_forget(net.peer(1), "site-a", date(), 0, &days, &|id| id).is_empty(),
        "what the caller keeps stays"
    );
    // A recent day the server replaced is held under its replacement's id, and kept as the day.
    // (Day 9's document stands in for day 2's replacement.)
    let (two, nine) = (days[2], days[9]);
    let resolve = move |id| if id == two { nine } else { id };
    let mut kept_9 = local::to_forget(net.peer(1), "site-a", date(), 7, &[], &resolve);
    kept_9.sort();
    let mut expected = vec![days[2], days[8], days[10]];
    expected.sort();
    assert_eq!(kept_9, expected, "day 2's old id is no longer the day's: it may go");
    let mut without_9 = vec![days[8], days[10]];
    without_9.sort();

    // An entry logged offline into an old day keeps that day until the relay has it.
    net.go_offline(1);
    net.log(1, days[9], &referral("late"));
    assert_eq!(forget(&net), without_9);
    net.reconnect(1, 2, principal("t1", "sc", "site-a"));
    assert_eq!(local::to_forget(net.peer(2), "site-a", date(), 7, &[], &|id| id).len(), 3, "sent: it may go");

    // A day the relay removed for good goes even with an entry that was never sent.
    net.go_offline(2);
    net.log(2, days[10], &referral("never sent"));
    net.retire(days[10], None);
    net.reconnect(2, 3, principal("t1", "sc", "site-a"));
    assert!(net.peer(3).is_gone(&days[10]));
    assert!(!net.peer(3).is_acknowledged(&days[10]));
    assert!(local::to_forget(net.peer(3), "site-a", date(), 7, &[], &|id| id).contains(&days[10]));
    // Removed from the tablet, it is no longer synced or offered.
    let mut peer = signpost_shared::peer::Peer::new("p".into());
    peer.insert(days[0], net.peer(3).doc(&days[0]).unwrap().clone(), None);
    peer.remove(&days[0]);
    assert!(peer.doc(&days[0]).is_none() && peer.doc_ids().is_empty());
}

#[test]
fn a_day_with_an_open_follow_up_stays_on_the_tablet_until_someone_closes_it() {
    use signpost_shared::schema::{self, FollowUpClosed};
    use signpost_shared::vocab::FollowUpOutcome;
    let mut net = relay_with_a_long_window();
    net.join(1, principal("t1", "sc", "site-a"));
    let old = net.open_day(1, "sc", "site-a", date() - chrono::Duration::days(30));
    let mut r = referral("call-back");
    r.follow_up = true;
    net.log(1, old, &r);
    net.log(1, old, &referral("no-follow-up"));
    assert!(net.peer(1).is_acknowledged(&old));
    assert!(
        local::to_forget(net.peer(1), "site-a", date(), 7, &[], &|id| id).is_empty(),
        "an open follow-up keeps its day"
    );
    // Another tablet of the desk closes it; once this one has the closing, the day may go.
    net.join(2, principal("t2", "sc", "site-a"));
    net.find(2, old);
    let closed = FollowUpClosed { outcome: FollowUpOutcome::Resolved, at_ms: 2, by: Some("vol-1".into()) };
    net.change(2, old, |tx| schema::close_follow_up(tx, "call-back", &closed).unwrap());
    let got = schema::read_referral(net.peer(1).doc(&old).unwrap(), "call-back").unwrap().unwrap();
    assert_eq!(got.follow_up_closed, Some(closed));
    assert_eq!(local::to_forget(net.peer(1), "site-a", date(), 7, &[], &|id| id), vec![old]);
}

#[test]
fn two_tablets_closing_one_follow_up_at_once_agree_on_one_whole_closing() {
    use signpost_shared::schema::{self, FollowUpClosed};
    use signpost_shared::vocab::FollowUpOutcome;
    let mut net = relay_with_a_long_window();
    net.join(1, principal("t1", "sc", "site-a"));
    net.join(2, principal("t2", "sc", "site-a"));
    let d = net.open_day(1, "sc", "site-a", date());
    let mut r = referral("call-back");
    r.follow_up = true;
    net.log(1, d, &r);
    net.find(2, d);
    net.go_offline(1);
    net.go_offline(2);
    let a = FollowUpClosed { outcome: FollowUpOutcome::Contacted, at_ms: 10, by: Some("vol-a".into()) };
    let b = FollowUpClosed { outcome: FollowUpOutcome::CouldNotReach, at_ms: 20, by: None };
    net.change(1, d, |tx| schema::close_follow_up(tx, "call-back", &a).unwrap());
    net.change(2, d, |tx| schema::close_follow_up(tx, "call-back", &b).unwrap());
    net.reconnect(1, 3, principal("t1", "sc", "site-a"));
    net.reconnect(2, 4, principal("t2", "sc", "site-a"));
    let read =
        |p: u64| schema::read_referral(net.peer(p).doc(&d).unwrap(), "call-back").unwrap().unwrap().follow_up_closed;
    let (x, y) = (read(3), read(4));
    assert_eq!(x, y, "both tablets show the same closing");
    assert!(x == Some(a) || x == Some(b), "one whole closing, not a mix: {x:?}");
}
