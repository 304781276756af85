//! The national view against the real relay: referrals and shifts written by simulated tablets in
//! three schemes, the figures counted independently here from what was written, and the JSON
//! API, the CSV and the page compared with that ground truth and with each other, disclosure
//! control applied (threshold 10, rounding to 5).

use chrono::{Datelike, NaiveDate};
use signpost_harness::{admin, request, Server, Signed};
use signpost_shared::schema::{self, AgencyRef, Header, Referral, Shift};
use signpost_shared::vocab::{Category, HelpKind, Helped};
use signpost_sim::Tablet;
use std::collections::HashMap;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

/// The last complete calendar quarter and the one before: (first day, last day) each.
fn quarters() -> ((NaiveDate, String), (NaiveDate, String)) {
    let today = chrono::Utc::now().date_naive();
    let q0 = today.month0() / 3;
    let (y, q) = if q0 == 0 { (today.year() - 1, 4) } else { (today.year(), q0) };
    let (py, pq) = if q == 1 { (y - 1, 4) } else { (y, q - 1) };
    let first = |y: i32, q: u32| NaiveDate::from_ymd_opt(y, (q - 1) * 3 + 1, 1).unwrap();
    ((first(y, q), format!("{y}-Q{q}")), (first(py, pq), format!("{py}-Q{pq}")))
}

/// Adds a volunteer to the scheme's roster; their id.
async fn on_roster(server: &Server, admin_token: &str, scheme: &str, name: &str) -> String {
    let url = format!("/api/v1/schemes/{scheme}/volunteers");
    let (status, body) = server.post(&url, Some(admin_token), serde_json::json!({ "name": name })).await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

fn referral(id: &str, volunteer: &str, day: NaiveDate) -> Referral {
    Referral {
        id: id.into(),
        recorded_at_ms: day.and_hms_opt(11, 0, 0).unwrap().and_utc().timestamp_millis(),
        volunteer: Some(volunteer.into()),
        helped: Helped::Witness,
        age_band: None,
        categories: [Category::Housing].into(),
        agency: AgencyRef::Other("Food bank".into()),
        help: HelpKind::Information,
        follow_up: false,
        follow_up_closed: None,
        notes: None,
        void: None,
    }
}

struct Scheme {
    region: &'static str,
    kind: &'static str,
    /// (referrals, distinct volunteers, shift hours) this quarter and the quarter before.
    now: (usize, usize, i64),
    before: (usize, usize, i64),
}

fn round5(n: u64) -> u64 {
    (n + 2) / 5 * 5
}

#[tokio::test]
async fn national_figures_match_the_ground_truth_with_disclosure_control_everywhere() {
    let (server, _fx) = Server::start_fresh(&[]).unwrap();
    let ((q_start, q_code), (p_start, p_code)) = quarters();
    let schemes = [
        Scheme { region: "london", kind: "court-help-desk", now: (23, 4, 30), before: (12, 2, 11) },
        Scheme { region: "wales", kind: "prison-chaplaincy", now: (4, 1, 3), before: (30, 5, 40) },
        Scheme { region: "london", kind: "prison-chaplaincy", now: (15, 3, 16), before: (0, 0, 0) },
        // One volunteer's large quarter: never published, however large.
        Scheme { region: "wales", kind: "community-advice-desk", now: (25, 1, 0), before: (0, 0, 0) },
    ];
    // Ground truth by (measure, breakdown, group, quarter), computed from what is written.
    let mut truth: HashMap<(String, String, String, String), u64> = HashMap::new();
    for (n, s) in schemes.iter().enumerate() {
        let id =
            admin(&server.data, &["create-scheme", "--region", s.region, "--type", s.kind, &format!("Scheme {n}")])
                .unwrap();
        let site = admin(&server.data, &["create-site", "--scheme", &id, "Desk"]).unwrap();
        let token = admin(&server.data, &["issue-device-token", "--site", &site]).unwrap();
        // Only volunteers on the scheme's roster count as volunteers.
        let mut roster = Vec::new();
        for v in 0..s.now.1.max(s.before.1).max(1) {
            roster.push(on_roster(&server, &_fx.admin, &id, &format!("V{v}")).await);
        }
        let mut tablet = Tablet::connect(&server.url, &token, "tablet").await.unwrap();
        for ((referrals, volunteers, hours), start, code) in [(s.now, q_start, &q_code), (s.before, p_start, &p_code)] {
            let day = start + chrono::Duration::days(10);
            let d = tablet.open_day(&Header::desk_day(&id, &site, day)).await.unwrap();
            for r in 0..referrals {
                let v = &roster[r % volunteers.max(1)];
                tablet
                    .change(d, |tx| schema::write_referral(tx, &referral(&format!("{code}-{r}"), v, day)).unwrap())
                    .await
                    .unwrap();
            }
            if hours > 0 {
                // From midnight: a shift's end must fall within a day of its day, and the
                // longest here (40 hours, counted as 16) ends the next afternoon.
                let start_ms = day.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
                let shift = Shift {
                    id: format!("{code}-s"),
                    volunteer: roster[0].clone(),
                    start_ms,
                    end_ms: Some(start_ms + hours * 3_600_000),
                };
                tablet.change(d, |tx| schema::write_shift(tx, &shift).unwrap()).await.unwrap();
            }
            tablet.synced(d, T).await.unwrap();
            let region = signpost_shared::vocab::Region::from_code(s.region).unwrap().label().to_owned();
            let kind = signpost_shared::vocab::SchemeType::from_code(s.kind).unwrap().label().to_owned();
            let vols = if referrals > 0 { volunteers as u64 } else { 0 };
            // Shifts count at most 16 hours each.
            for (measure, value) in [
                ("Referrals", referrals as u64),
                ("Active volunteers", vols),
                ("Volunteer hours", hours.min(16) as u64),
            ] {
                for (breakdown, group) in [
                    ("region", region.clone()),
                    ("kind of scheme", kind.clone()),
                    ("region", "England and Wales".into()),
                    ("kind of scheme", "England and Wales".into()),
                ] {
                    *truth.entry((measure.into(), breakdown.into(), group, code.clone())).or_default() += value;
                }
            }
        }
    }
    let mut national = Signed::create(&server, "national", None, "national@example.org").await.unwrap();

    // The API, signed in as a national reviewer.
    let cookie = national.v.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let api = request(&server.url, "GET", &format!("/api/v1/national?quarter={q_code}"), &[("Cookie", &cookie)], None)
        .await
        .unwrap();
    assert_eq!(api.status, 200, "{}", api.body);
    let json: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    // The CSV and the page.
    let csv = national.v.get(&server.url, &format!("/manage/national.csv?quarter={q_code}")).await.unwrap();
    assert_eq!(csv.status, 200);
    let page = national.v.get(&server.url, &format!("/manage/national?quarter={q_code}")).await.unwrap();
    assert_eq!(page.status, 200);

    let mut checked = 0;
    let records = signpost_harness::http::csv_records(&csv.body);
    for f in records.iter().skip(1).take_while(|r| r[0] != "question") {
        let (measure, breakdown, group) = (f[0].as_str(), f[1].as_str(), f[2].as_str());
        for (col, code) in [(3, &q_code), (4, &p_code)] {
            let t = truth.get(&(measure.into(), breakdown.into(), group.into(), code.clone())).copied().unwrap_or(0);
            let shown = f[col].as_str();
            if t > 0 && t < 10 {
                assert_eq!(shown, "[c]", "{measure} / {group} / {code}: {t} must be suppressed");
            }
            if shown != "[c]" {
                assert_eq!(shown.parse::<u64>().unwrap(), round5(t), "{measure} / {group} / {code}: true value {t}");
            }
            // The API says the same.
            let m = json["measures"].as_array().unwrap().iter().find(|m| m["name"] == measure).unwrap();
            let quarter = if col == 3 { &m["quarter"] } else { &m["previous"] };
            let table = if breakdown == "region" { &quarter["by_region"] } else { &quarter["by_scheme_type"] };
            let api_cell = if group == "England and Wales" {
                table["col_totals"][0].clone()
            } else {
                let i = table["rows"].as_array().unwrap().iter().position(|r| r == group).unwrap();
                table["cells"][i][0].clone()
            };
            let api_text = if api_cell == "suppressed" { "[c]".to_owned() } else { api_cell.to_string() };
            assert_eq!(api_text, shown, "API and CSV agree on {measure} / {group} / {code}");
            checked += 1;
        }
    }
    assert!(checked >= 3 * 2 * 2 * 2, "{checked} figures checked");
    // Nationally, referrals this quarter: 23 + 4 + 15 + 25 = 67 → 65. Wales (29) came from two
    // volunteers, so it is suppressed however large, and so London, which the national total would
    // give away. The 25 referrals of one volunteer at a community advice desk are never published
    // (nor is that kind of scheme's total, which they are). Last quarter Wales' 30 referrals and
    // London's 12 each came from one scheme: suppressed.
    for want in [
        ["Referrals", "region", "England and Wales", "65", "40"],
        ["Referrals", "region", "Wales", "[c]", "[c]"],
        ["Referrals", "region", "London", "[c]", "[c]"],
        ["Referrals", "kind of scheme", "Community advice desk at a magistrates' court", "[c]", "0"],
        // Each scheme's hours were one volunteer's: no cell of hours has enough contributors.
        ["Volunteer hours", "region", "England and Wales", "[c]", "[c]"],
    ] {
        assert!(records.iter().any(|r| r == &want), "{want:?} in {}", csv.body);
    }
    // The page shows the same figures (the national total line for referrals), and when the
    // quarter was published.
    assert!(page.body.contains("England and Wales: <strong>65</strong>"), "page agrees");
    assert!(page.body.contains("were published on") && page.body.contains("will be published on"), "{}", page.body);

    // Published figures are frozen: a late entry for the quarter and a new equality answer change
    // nothing of it; the same quarter asked again is byte for byte the same.
    let late_scheme =
        admin(&server.data, &["create-scheme", "--region", "wales", "--type", "court-help-desk", "Late"]).unwrap();
    let late_site = admin(&server.data, &["create-site", "--scheme", &late_scheme, "Desk"]).unwrap();
    let late_token = admin(&server.data, &["issue-device-token", "--site", &late_site]).unwrap();
    let mut late = Tablet::connect(&server.url, &late_token, "late").await.unwrap();
    let late_day = q_start + chrono::Duration::days(3);
    let d = late.open_day(&Header::desk_day(&late_scheme, &late_site, late_day)).await.unwrap();
    let mut late_roster = Vec::new();
    for v in 0..6 {
        late_roster.push(on_roster(&server, &_fx.admin, &late_scheme, &format!("L{v}")).await);
    }
    for r in 0..30 {
        let v = &late_roster[r % 6];
        let entry = referral(&format!("late-{r}"), v, late_day);
        late.change(d, |tx| schema::write_referral(tx, &entry).unwrap()).await.unwrap();
    }
    late.synced(d, T).await.unwrap();
    let (status, volunteer) = server
        .post(
            &format!("/api/v1/schemes/{late_scheme}/volunteers"),
            Some(&_fx.admin),
            serde_json::json!({ "name": "New" }),
        )
        .await
        .unwrap();
    assert_eq!(status, 201, "{volunteer}");
    let answer =
        serde_json::json!({ "volunteer": volunteer["id"], "answers": { "sexual_orientation": "gay-lesbian" } });
    let (status, body) = server.post("/api/v1/equality", Some(&late_token), answer).await.unwrap();
    assert_eq!(status, 201, "{body}");
    let again =
        request(&server.url, "GET", &format!("/api/v1/national?quarter={q_code}"), &[("Cookie", &cookie)], None)
            .await
            .unwrap();
    assert_eq!(again.body, api.body, "the published quarter did not change");
    let csv_again = national.v.get(&server.url, &format!("/manage/national.csv?quarter={q_code}")).await.unwrap();
    assert_eq!(csv_again.body, csv.body);

    // Only national reviewers and administrators; never a coordinator or a tablet.
    let scheme0 = admin(&server.data, &["create-scheme", "Another"]).unwrap();
    let coordinator = Signed::create(&server, "coordinator", Some(&scheme0), "c@example.org").await.unwrap();
    let cookie = coordinator.v.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let r = request(&server.url, "GET", "/manage/national", &[("Cookie", &cookie)], None).await.unwrap();
    assert_eq!(r.status, 403);
    let r = request(&server.url, "GET", "/api/v1/national", &[("Cookie", &cookie)], None).await.unwrap();
    assert_eq!(r.status, 403, "{}", r.body);
    let r = request(&server.url, "GET", "/api/v1/national", &[], None).await.unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
}

/// Equality monitoring end to end on the relay: answers from a desk's tablet for volunteers on
/// its roster only, aggregated by kind of scheme with declaration rates and disclosure control,
/// and gone from every figure once withdrawn.
#[tokio::test]
async fn equality_answers_are_aggregated_with_declaration_rates_and_can_be_withdrawn() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let scheme =
        admin(&server.data, &["create-scheme", "--region", "london", "--type", "court-help-desk", "Court scheme"])
            .unwrap();
    let site = admin(&server.data, &["create-site", "--scheme", &scheme, "Desk"]).unwrap();
    let token = admin(&server.data, &["issue-device-token", "--site", &site]).unwrap();
    // 24 volunteers on the roster; 20 answer: 12 female, 8 male; all prefer not to say their religion.
    let mut ids = Vec::new();
    for i in 0..24 {
        let (status, body) = server
            .post(
                &format!("/api/v1/schemes/{scheme}/volunteers"),
                Some(&fx.admin),
                serde_json::json!({ "name": format!("V{i}") }),
            )
            .await
            .unwrap();
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    for (i, id) in ids.iter().take(20).enumerate() {
        let sex = if i < 12 { "female" } else { "male" };
        let answers =
            serde_json::json!({ "volunteer": id, "answers": { "sex": sex, "religion": "prefer-not-to-say" } });
        let (status, body) = server.post("/api/v1/equality", Some(&token), answers).await.unwrap();
        assert_eq!(status, 201, "{body}");
    }
    // Refused: another scheme's tablet, an unknown answer, no credential.
    let (status, _) = server
        .post(
            "/api/v1/equality",
            Some(&fx.token_a1),
            serde_json::json!({ "volunteer": ids[0], "answers": { "sex": "male" } }),
        )
        .await
        .unwrap();
    assert_eq!(status, 404, "a volunteer of another scheme");
    let (status, body) = server
        .post(
            "/api/v1/equality",
            Some(&token),
            serde_json::json!({ "volunteer": ids[0], "answers": { "sex": "unknown" } }),
        )
        .await
        .unwrap();
    assert_eq!(status, 400, "{body}");
    let (status, _) =
        server.post("/api/v1/equality", None, serde_json::json!({ "volunteer": ids[0], "answers": {} })).await.unwrap();
    assert_eq!(status, 401);

    let national = Signed::create(&server, "national", None, "national@example.org").await.unwrap();
    let cookie = national.v.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let fetch = |quarter: String| {
        let cookie = cookie.clone();
        let url = server.url.clone();
        async move {
            let path = format!("/api/v1/national?quarter={quarter}");
            let r = request(&url, "GET", &path, &[("Cookie", &cookie)], None).await.unwrap();
            assert_eq!(r.status, 200, "{}", r.body);
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap()
        }
    };
    let ((_, latest), (_, earlier)) = quarters();
    let question = |n: &serde_json::Value, key: &str| {
        n["diversity"].as_array().unwrap().iter().find(|d| d["question"] == key).unwrap().clone()
    };
    let n = fetch(latest.clone()).await;
    let sex = question(&n, "sex");
    let court = sex["table"]["rows"].as_array().unwrap().iter().position(|r| r == "Court help desk").unwrap();
    // 12 female → 10, 8 male suppressed, so the female count is hidden too (their total, 20, is
    // published); 20 of 24 declared = 83%, published rounded like the counts: 85%.
    assert_eq!(sex["table"]["row_totals"][court], 20, "{sex}");
    assert_eq!(sex["table"]["cells"][court][1], "suppressed", "{sex}");
    assert_eq!(sex["table"]["cells"][court][0], "suppressed", "{sex}");
    assert_eq!(sex["declared_percent"][court], 85);
    assert_eq!(sex["withheld"][court], false);
    let religion = question(&n, "religion");
    assert_eq!(religion["withheld"][court], true, "nobody declared a religion: withheld");
    assert_eq!(religion["national_withheld"], true);
    // Withdrawal: one volunteer's answers go, and the figures follow.
    let mut coordinator = Signed::create(&server, "coordinator", Some(&scheme), "c@example.org").await.unwrap();
    let r = coordinator
        .v
        .post(
            &server.url,
            &format!("/manage/schemes/{scheme}/volunteers/{}/equality/withdraw", ids[0]),
            &[("csrf", &coordinator.csrf)],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 303, "{}", r.body);
    let conn = signpost_harness::store::connect(&server.data);
    let left: i64 = conn.query_row("SELECT COUNT(*) FROM equality_answers", (), |r| r.get(0)).unwrap();
    assert_eq!(left, 19, "deleted, not hidden");
    // The quarter already published does not change (that would let the two views be
    // differenced to learn the withdrawn answers); a quarter published after it counts 19 of 24.
    assert_eq!(fetch(latest).await, n, "a published quarter is frozen");
    let sex = question(&fetch(earlier).await, "sex");
    assert_eq!(sex["declared_percent"][court], 80, "19 of 24, rounded");
    let audited: i64 = conn
        .query_row("SELECT COUNT(*) FROM audit_log WHERE action = 'equality answers withdrawn'", (), |r| r.get(0))
        .unwrap();
    assert_eq!(audited, 1);
    // Coordinators never see answers: the roster says only whether they were given.
    let page = coordinator.v.get(&server.url, &format!("/manage/schemes/{scheme}")).await.unwrap();
    assert!(page.body.contains("Not given") && page.body.contains("Given "));
    assert!(!page.body.contains("female") && !page.body.contains("Female"));
}
