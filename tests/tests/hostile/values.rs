//! Values that break the figures, stored by a hostile tablet: a shift from −6·10¹⁸ to 6·10¹⁸ ms,
//! follow-ups logged and closed at the ends of time, times that are strings and floats, and fifty
//! shifts under volunteer ids on no roster. Every figure the relay serves must still answer, and
//! sanely: the summary API, the coordinator's dashboard and each of its CSVs, and the national
//! figures as JSON and CSV once the quarter is published.

use super::*;
use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ScalarValue, ROOT};
use signpost_harness::http::csv_records;

/// Writes one entry at the root of a day with the given fields, as any automerge client can.
fn entry(tx: &mut automerge::transaction::Transaction<'_>, key: &str, fields: &[(&str, ScalarValue)]) {
    let obj = tx.put_object(ROOT, key, ObjType::Map).unwrap();
    for (k, v) in fields {
        tx.put(&obj, *k, v.clone()).unwrap();
    }
}

fn categories(tx: &mut automerge::transaction::Transaction<'_>, key: &str) {
    let (_, obj) = tx.get(ROOT, key).unwrap().unwrap();
    let cats = tx.put_object(&obj, "categories", ObjType::Map).unwrap();
    tx.put(&cats, "housing", true).unwrap();
}

#[tokio::test]
async fn extreme_values_from_a_tablet_leave_every_figure_answering_and_sane() {
    use signpost_domain::national::{quarters, Quarter};
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let today = chrono::Utc::now().date_naive();
    let quarter: Quarter = quarters(today)[0];
    let day = quarter.last_day() - chrono::Duration::days(5);
    let start = day.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
    let hour = 3_600_000i64;
    let mut t = Tablet::connect(&server.url, &fx.token_a1, "hostile").await.unwrap();
    let d = t.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    t.change(d, |tx| {
        use ScalarValue::{Int, Str, Timestamp, F64};
        let referral = |recorded: ScalarValue| {
            vec![
                ("recordedAt", recorded),
                ("helped", Str("victim".into())),
                ("help", Str("referred".into())),
                ("agencyOther", Str("Refuge".into())),
                ("followUp", ScalarValue::Boolean(true)),
            ]
        };
        // The shift of the issue, and shifts at either end of time.
        let shift =
            |s: ScalarValue, e: ScalarValue| vec![("volunteer", Str("ghost-0".into())), ("start", s), ("end", e)];
        entry(tx, "shift:wild", &shift(Timestamp(-6_000_000_000_000_000_000), Timestamp(6_000_000_000_000_000_000)));
        entry(tx, "shift:ends", &shift(Int(i64::MIN), Int(i64::MAX)));
        entry(tx, "shift:floats", &shift(F64(f64::MAX), F64(-1e300)));
        entry(tx, "shift:strings", &shift(Str("NaN".into()), Str("-Infinity".into())));
        // Follow-ups logged and closed at the ends of time.
        for (key, recorded, closed) in [
            ("referral:min", Int(i64::MIN), Int(i64::MAX)),
            ("referral:max", Timestamp(i64::MAX), Timestamp(i64::MIN)),
            ("referral:closed-far", Timestamp(start + 9 * hour), Timestamp(i64::MAX)),
        ] {
            entry(tx, key, &referral(recorded));
            categories(tx, key);
            let (_, obj) = tx.get(ROOT, key).unwrap().unwrap();
            let c = tx.put_object(&obj, "followUpClosed", ObjType::Map).unwrap();
            tx.put(&c, "outcome", "resolved").unwrap();
            tx.put(&c, "at", closed).unwrap();
        }
        // Fifty volunteers on no roster, eight hours each; their referrals too.
        for i in 0..50 {
            let who = Str(format!("ghost-{i}").into());
            entry(
                tx,
                &format!("shift:ghost-{i}"),
                &[
                    ("volunteer", who.clone()),
                    ("start", Timestamp(start + 8 * hour)),
                    ("end", Timestamp(start + 16 * hour)),
                ],
            );
            let key = format!("referral:ghost-{i}");
            let mut fields = referral(Timestamp(start + 10 * hour));
            fields.push(("volunteer", who));
            entry(tx, &key, &fields);
            categories(tx, &key);
        }
    })
    .await
    .unwrap();
    t.synced(d, T).await.unwrap();

    // The summary API: answers, counts the work but no volunteer, and sets the wild entries aside.
    let (from, to) = (quarter.first_day(), quarter.last_day());
    let path = format!("/api/v1/stats/summary?scheme={}&from={from}&to={to}", fx.scheme);
    let (status, s) = server.get(&path, Some(&fx.admin)).await.unwrap();
    assert_eq!(status, 200, "{s}");
    // The fifty, and the one closed "at the end of time": a wrong clock when closing is brought
    // within its bounds (two years after), not a reason to drop the referral.
    assert_eq!(s["referrals"], 51, "{s}");
    assert_eq!(s["shifts"], 50, "{s}");
    assert_eq!(s["volunteer_minutes"], 50 * 8 * 60, "{s}");
    assert_eq!(s["active_volunteers"], 0, "the roster is empty: {s}");
    assert_eq!(s["entries_off_roster"], 100, "{s}");
    assert_eq!(s["invalid_entries"], 6, "{s}");
    assert_eq!(s["follow_ups"]["closed"], 1, "{s}");
    assert!(s["follow_ups"]["median_hours_to_close"].as_f64().unwrap() <= 732.0 * 24.0, "{s}");

    // The coordinator's dashboard for the period, and every CSV it offers.
    let mut c = Signed::create(&server, "coordinator", Some(&fx.scheme), "c@example.org").await.unwrap();
    let query = format!("from={from}&to={to}");
    let page = c.v.get(&server.url, &format!("/manage/schemes/{}/dashboard?{query}", fx.scheme)).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("100 entries in this period name volunteers who are not on the scheme"),
        "{}",
        page.body
    );
    for view in [
        "headline",
        "over_time",
        "by_site",
        "by_issue_category",
        "by_pathway",
        "by_agency",
        "by_kind_of_help",
        "by_who_helped",
    ] {
        let url = format!("/manage/schemes/{}/dashboard.csv?{query}&view={view}", fx.scheme);
        let csv = c.v.get(&server.url, &url).await.unwrap();
        assert_eq!(csv.status, 200, "{view}: {}", csv.body);
        for record in csv_records(&csv.body).iter().skip(1) {
            for cell in record.iter().skip(1) {
                assert!(!cell.starts_with('-') && !cell.contains("NaN") && !cell.contains("inf"), "{view}: {record:?}");
            }
        }
        if view == "headline" {
            let records = csv_records(&csv.body);
            let row = |m: &str| records.iter().find(|r| r[0] == m).unwrap()[1].clone();
            assert_eq!(row("active volunteers"), "0");
            assert_eq!(row("referrals"), "51");
        }
    }

    // The national figures, published now: no volunteer counted, and the hours fifty made-up ids
    // logged are not published (no one on a roster made them up).
    let mut n = Signed::create(&server, "national", None, "n@example.org").await.unwrap();
    let cookie = n.v.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let q = quarter.code();
    let api = request(&server.url, "GET", &format!("/api/v1/national?quarter={q}"), &[("Cookie", &cookie)], None)
        .await
        .unwrap();
    assert_eq!(api.status, 200, "{}", api.body);
    let csv = n.v.get(&server.url, &format!("/manage/national.csv?quarter={q}")).await.unwrap();
    assert_eq!(csv.status, 200, "{}", csv.body);
    let records = csv_records(&csv.body);
    let national = |measure: &str| {
        records.iter().find(|r| r[0] == measure && r[1] == "region" && r[2] == "England and Wales").unwrap()[3].clone()
    };
    assert_eq!(national("Active volunteers"), "0", "{}", csv.body);
    assert_eq!(national("Volunteer hours"), "[c]", "{}", csv.body);
    assert_eq!(national("Referrals"), "[c]", "{}", csv.body);
    let page = n.v.get(&server.url, &format!("/manage/national?quarter={q}")).await.unwrap();
    assert_eq!(page.status, 200);
}
