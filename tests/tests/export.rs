//! The coordinator's referral export against the real relay: every referral of the period, one
//! line each, no notes, the exact length announced up front (the browser's progress bar), and an
//! audit entry for the download.

use signpost_harness::{request, Server, Signed};
use signpost_shared::schema::{self, AgencyRef, Header, Referral};
use signpost_shared::vocab::{Category, HelpKind, Helped};
use signpost_sim::Tablet;
use std::time::Duration;

#[tokio::test]
async fn referrals_export_streams_every_referral_without_notes_and_is_audited() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let today = chrono::Utc::now().date_naive();
    let mut tablet = Tablet::connect(&server.url, &fx.token_a1, "tablet").await.unwrap();
    let d = tablet.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, today)).await.unwrap();
    let n = 1_500;
    tablet
        .change(d, |tx| {
            for i in 0..n {
                let r = Referral {
                    id: format!("r{i}"),
                    recorded_at_ms: today.and_hms_opt(9, 0, 0).unwrap().and_utc().timestamp_millis() + i as i64,
                    volunteer: None,
                    helped: Helped::Defendant,
                    age_band: None,
                    categories: if i % 2 == 0 {
                        [Category::Housing, Category::MentalHealth].into()
                    } else {
                        [Category::Housing].into()
                    },
                    agency: AgencyRef::Other(format!("Agency, \"{i}\"")),
                    help: HelpKind::Referred,
                    follow_up: i % 3 == 0,
                    follow_up_closed: None,
                    notes: Some("call back Tuesday".into()),
                    void: None,
                };
                schema::write_referral(tx, &r).unwrap();
            }
            schema::void_referral(tx, "r7", "entered twice", 1_764_000_000_000).unwrap();
        })
        .await
        .unwrap();
    tablet.synced(d, Duration::from_secs(20)).await.unwrap();
    let mut coordinator = Signed::create(&server, "coordinator", Some(&fx.scheme), "c@example.org").await.unwrap();
    let day = today.format("%Y-%m-%d");
    let r = coordinator
        .v
        .get(&server.url, &format!("/manage/schemes/{}/referrals.csv?from={day}&to={day}", fx.scheme))
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let length: usize = r.header("content-length").unwrap().parse().unwrap();
    assert_eq!(length, r.body.len(), "the announced length is the length sent");
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    assert!(r.body.lines().all(|l| l.starts_with('"')), "every field quoted");
    let records = signpost_harness::http::csv_records(&r.body);
    assert_eq!(records.len(), 1 + n - 1, "a header line, then every referral but the voided one");
    assert!(!r.body.contains("call back"), "notes never leave the relay");
    assert!(r.body.contains("Housing or accommodation; Mental health"), "categories together");
    assert!(records.iter().flatten().any(|f| f == "Other: Agency, \"10\""), "quoted as CSV");
    // Audited, with the period.
    let conn = signpost_harness::store::connect(&server.data);
    let (actor, detail): (String, String) = conn
        .query_row(
            "SELECT actor, detail FROM audit_log WHERE action = 'exported individual referrals (CSV)'",
            (),
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(actor.contains("c@example.org"), "{actor}");
    assert!(detail.contains(&day.to_string()), "{detail}");
    // Not for other schemes' coordinators, nor without signing in.
    let r =
        request(&server.url, "GET", &format!("/manage/schemes/{}/referrals.csv", fx.scheme), &[], None).await.unwrap();
    assert_eq!(r.status, 303);
}
