//! The security table: each row an attempt that must be refused, with the refusal it must get.
//! After every row the whole database is read back and compared with before: a refused attempt
//! changes nothing (not a row, not a session, not an audit entry).
//!
//! The relay runs as the real binary on 127.0.0.1; people sign in through the web pages as a
//! browser would (cookies, forms, CSRF tokens); tablets are simulated automerge-repo peers.

use signpost_harness::{admin, request, snapshot, Reply, Server, Signed, Visitor};
use signpost_shared::schema::{self, Header};
use signpost_sim::{sync_url, Tablet};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

/// Everyone and everything the rows use.
struct World {
    server: Server,
    /// Scheme A (the fixture's) with sites A and B; scheme X, another scheme, with site X1.
    scheme_a: String,
    site_a: String,
    site_b: String,
    scheme_x: String,
    site_x: String,
    token_a: String,
    token_b: String,
    admin_token: String,
    coord_a: Signed,
    coord_x: Signed,
    national: Signed,
    /// A tablet of scheme X (enrolled with a code).
    device_x: String,
    /// A tablet of site A, revoked.
    revoked_token: String,
}

async fn account(server: &Server, role: &str, scheme: Option<&str>, email: &str) -> Signed {
    Signed::create(server, role, scheme, email).await.unwrap()
}

async fn enrol_code(server: &Server, who: &mut Signed, scheme: &str, site: &str) -> String {
    who.enrolment_code(server, scheme, site).await.unwrap()
}

async fn enrol(server: &Server, code: &str) -> (u16, serde_json::Value) {
    signpost_harness::enrol(server, code).await.unwrap()
}

async fn world() -> World {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let scheme_x = admin(&server.data, &["create-scheme", "Other Scheme"]).unwrap();
    let site_x = admin(&server.data, &["create-site", "--scheme", &scheme_x, "Court X"]).unwrap();
    let mut coord_a = account(&server, "coordinator", Some(&fx.scheme), "coord-a@example.org").await;
    let mut coord_x = account(&server, "coordinator", Some(&scheme_x), "coord-x@example.org").await;
    let national = account(&server, "national", None, "national@example.org").await;
    let code = enrol_code(&server, &mut coord_x, &scheme_x, &site_x).await;
    let (status, body) = enrol(&server, &code).await;
    assert_eq!(status, 201, "{body}");
    let device_x = body["device"].as_str().unwrap().to_owned();
    let code = enrol_code(&server, &mut coord_a, &fx.scheme, &fx.site_a).await;
    let (_, body) = enrol(&server, &code).await;
    let revoked_token = body["token"].as_str().unwrap().to_owned();
    let device = body["device"].as_str().unwrap().to_owned();
    let r = coord_a
        .v
        .post(
            &server.url,
            &format!("/manage/schemes/{}/tablets/{device}/revoke", fx.scheme),
            &[("csrf", &coord_a.csrf)],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 303, "{}", r.body);
    World {
        scheme_a: fx.scheme,
        site_a: fx.site_a,
        site_b: fx.site_b,
        scheme_x,
        site_x,
        token_a: fx.token_a1,
        token_b: fx.token_b,
        admin_token: fx.admin,
        coord_a,
        coord_x,
        national,
        device_x,
        revoked_token,
        server,
    }
}

#[derive(Clone, Copy, Debug)]
enum Who {
    Nobody,
    CoordA,
    CoordX,
    National,
}

#[derive(Clone, Copy, Debug)]
enum Csrf {
    /// The session's own token.
    Valid,
    Missing,
    Forged,
    /// The session's token, but the form comes from another site (`Origin`).
    CrossSite,
}

#[derive(Clone, Copy, Debug)]
enum Token<'a> {
    None,
    Literal(&'a str),
    Admin,
    Revoked,
}

enum Attempt<'a> {
    /// Open `/sync` with this credential in the `Authorization` header.
    Sync(Token<'a>),
    /// A web page or form, as this person.
    Web { who: Who, method: &'a str, path: String, csrf: Csrf, form: Vec<(&'a str, String)> },
    /// `POST /api/v1/enrol` with this code.
    Enrol(String),
    /// A site-A tablet asks for a document of site B by its id.
    FindOtherSite,
    /// A site-A tablet sends a new day document whose header says site B.
    WriteClaimingOtherSite,
    /// Sign in with a session cookie the attacker chose beforehand.
    SessionFixation,
}

struct Row<'a> {
    name: &'static str,
    attempt: Attempt<'a>,
    /// HTTP status (or 101 for an upgraded socket; 0 for a refusal inside the sync protocol).
    status: u16,
    /// Part of the message the refusal must carry.
    says: &'static str,
}

/// What an attempt got: a status and the text to look for the message in.
async fn attempt(w: &mut World, a: &Attempt<'_>) -> (u16, String) {
    let url = w.server.url.clone();
    match a {
        Attempt::Sync(token) => {
            use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};
            let t = match token {
                Token::None => None,
                Token::Literal(s) => Some(s.to_string()),
                Token::Admin => Some(w.admin_token.clone()),
                Token::Revoked => Some(w.revoked_token.clone()),
            };
            let mut req = sync_url(&url, None).into_client_request().unwrap();
            if let Some(t) = t {
                req.headers_mut().insert("authorization", format!("Bearer {t}").parse().unwrap());
            }
            match tokio_tungstenite::connect_async(req).await {
                Ok(_) => (101, String::new()),
                Err(tungstenite::Error::Http(resp)) => {
                    let body =
                        resp.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
                    (resp.status().as_u16(), body)
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        Attempt::Web { who, method, path, csrf, form } => {
            let s = match who {
                Who::Nobody => Signed { v: Visitor::default(), csrf: String::new() },
                Who::CoordA => w.coord_a.clone(),
                Who::CoordX => w.coord_x.clone(),
                Who::National => w.national.clone(),
            };
            let token = match csrf {
                Csrf::Valid | Csrf::CrossSite => s.csrf.clone(),
                Csrf::Missing => String::new(),
                Csrf::Forged => "forged-token-forged-token-forged".into(),
            };
            let cookie = s.v.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            let mut headers = vec![("Cookie", cookie.as_str())];
            if matches!(csrf, Csrf::CrossSite) {
                headers.push(("Origin", "https://evil.example"));
            }
            let mut fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if !matches!(csrf, Csrf::Missing) {
                fields.push(("csrf", &token));
            }
            let body = (*method == "POST").then_some(&fields[..]);
            let r = request(&url, method, path, &headers, body).await.unwrap();
            (r.status, r.body)
        }
        Attempt::Enrol(code) => {
            let (status, body) = enrol(&w.server, code).await;
            (status, body.to_string())
        }
        Attempt::FindOtherSite => {
            let day = chrono::Utc::now().date_naive() - chrono::Duration::days(8);
            let other = Header::desk_day(&w.scheme_a, &w.site_b, day).well_known_id();
            // Site B has a document to steal.
            let mut b = Tablet::connect(&url, &w.token_b, "tablet-b").await.unwrap();
            let d = b.open_day(&Header::desk_day(&w.scheme_a, &w.site_b, day)).await.unwrap();
            b.synced(d, T).await.unwrap();
            let before = snapshot(&w.server.data);
            let mut a = Tablet::connect(&url, &w.token_a, "tablet-a").await.unwrap();
            let found = a.find(other, T).await.unwrap();
            let empty = a.peer.doc(&other).is_none_or(|d| d.get_heads().is_empty());
            assert_eq!(before, snapshot(&w.server.data));
            (if found || !empty { 200 } else { 0 }, if found { "content".into() } else { "unavailable".into() })
        }
        Attempt::WriteClaimingOtherSite => {
            let day = chrono::Utc::now().date_naive() - chrono::Duration::days(7);
            let mut a = Tablet::connect(&url, &w.token_a, "tablet-a").await.unwrap();
            let d = a.open_day(&Header::desk_day(&w.scheme_a, &w.site_b, day)).await.unwrap();
            let _ = a.change(d, |tx| schema::write_referral(tx, &referral()).unwrap()).await;
            // That document is refused (the connection stays, for the tablet's own days).
            let refused = a.synced_or_refused(d, T).await.ok().flatten();
            (0, format!("{refused:?} {:?}", a.closed))
        }
        Attempt::SessionFixation => {
            let mut v = Visitor { cookies: vec![("signpost_session".into(), "attacker-chosen-session-id".into())] };
            v.sign_in(&url, "coord-a@example.org", "a long enough password").await.unwrap();
            let now = v.cookies.iter().find(|(k, _)| k == "signpost_session").map(|(_, v)| v.clone());
            assert_ne!(now.as_deref(), Some("attacker-chosen-session-id"), "a fresh session at sign-in");
            let fixed = Visitor { cookies: vec![("signpost_session".into(), "attacker-chosen-session-id".into())] };
            let r = request(&url, "GET", "/manage", &[("Cookie", &fixed.cookies_header())], None).await.unwrap();
            (r.status, r.header("location").unwrap_or_default().to_owned())
        }
    }
}

trait CookiesHeader {
    fn cookies_header(&self) -> String;
}

impl CookiesHeader for Visitor {
    fn cookies_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

fn referral() -> schema::Referral {
    use signpost_shared::vocab::{Category, HelpKind, Helped};
    schema::Referral {
        id: "r1".into(),
        recorded_at_ms: 1_764_000_000_000,
        volunteer: None,
        helped: Helped::Victim,
        age_band: None,
        categories: [Category::Housing].into(),
        agency: schema::AgencyRef::Other("Food bank".into()),
        help: HelpKind::Information,
        follow_up: false,
        follow_up_closed: None,
        notes: None,
        void: None,
    }
}

fn web<'a>(who: Who, method: &'a str, path: String, csrf: Csrf) -> Attempt<'a> {
    Attempt::Web { who, method, path, csrf, form: vec![] }
}

fn web_form<'a>(who: Who, path: String, form: Vec<(&'a str, String)>) -> Attempt<'a> {
    Attempt::Web { who, method: "POST", path, csrf: Csrf::Valid, form }
}

#[tokio::test]
async fn every_attempt_in_the_security_table_is_refused_and_changes_nothing() {
    let mut w = world().await;
    let (a, x) = (w.scheme_a.clone(), w.scheme_x.clone());
    let (site_a, site_x, device_x) = (w.site_a.clone(), w.site_x.clone(), w.device_x.clone());
    // An expired code and a used one.
    let expired = enrol_code(&w.server, &mut w.coord_a, &a, &site_a).await;
    {
        let conn = signpost_harness::store::connect(&w.server.data);
        conn.execute("UPDATE enrol_codes SET expires_at = 1 WHERE used_at IS NULL", ()).unwrap();
    }
    let used = enrol_code(&w.server, &mut w.coord_a, &a, &site_a).await;
    assert_eq!(enrol(&w.server, &used).await.0, 201);

    use Csrf::*;
    use Who::*;
    let rows: Vec<Row> = vec![
        Row {
            name: "sync with no token",
            attempt: Attempt::Sync(Token::None),
            status: 401,
            says: "credential is required",
        },
        Row {
            name: "sync with a malformed token",
            attempt: Attempt::Sync(Token::Literal("spd_!!not-a-token")),
            status: 401,
            says: "not valid",
        },
        Row {
            name: "sync with an administrator token",
            attempt: Attempt::Sync(Token::Admin),
            status: 403,
            says: "device credentials",
        },
        Row {
            name: "sync with a revoked tablet's token",
            attempt: Attempt::Sync(Token::Revoked),
            status: 401,
            says: "revoked",
        },
        Row { name: "enrol with an expired code", attempt: Attempt::Enrol(expired), status: 403, says: "not valid" },
        Row { name: "enrol with a used code", attempt: Attempt::Enrol(used), status: 403, says: "not valid" },
        Row {
            name: "enrol with a malformed body",
            attempt: Attempt::Enrol("x".repeat(10_000)),
            status: 403,
            says: "not valid",
        },
        Row {
            name: "site-A tablet asks for a site-B document by id",
            attempt: Attempt::FindOtherSite,
            status: 0,
            says: "unavailable",
        },
        Row {
            name: "site-A tablet writes a referral claiming site B",
            attempt: Attempt::WriteClaimingOtherSite,
            status: 0,
            says: "another site",
        },
        Row {
            name: "scheme-A coordinator opens scheme X",
            attempt: web(CoordA, "GET", format!("/manage/schemes/{x}"), Valid),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "scheme-A coordinator creates a code for a scheme-X site",
            attempt: web(CoordA, "POST", format!("/manage/schemes/{x}/sites/{site_x}/enrolment-code"), Valid),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "scheme-A coordinator creates a code for a scheme-X site through scheme A",
            attempt: web(CoordA, "POST", format!("/manage/schemes/{a}/sites/{site_x}/enrolment-code"), Valid),
            status: 400,
            says: "no such site in this scheme",
        },
        Row {
            name: "scheme-A coordinator revokes a scheme-X tablet",
            attempt: web(CoordA, "POST", format!("/manage/schemes/{x}/tablets/{device_x}/revoke"), Valid),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "scheme-A coordinator revokes a scheme-X tablet through scheme A",
            attempt: web(CoordA, "POST", format!("/manage/schemes/{a}/tablets/{device_x}/revoke"), Valid),
            status: 404,
            says: "no such tablet",
        },
        Row {
            name: "scheme-A coordinator adds to scheme X's roster",
            attempt: web_form(CoordA, format!("/manage/schemes/{x}/volunteers"), vec![("name", "Mallory".into())]),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "scheme-A coordinator adds a site to scheme X",
            attempt: web_form(CoordA, format!("/manage/schemes/{x}/sites"), vec![("name", "Fake".into())]),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "scheme-A coordinator invites a coordinator to scheme X",
            attempt: web_form(
                CoordA,
                format!("/manage/schemes/{x}/coordinators"),
                vec![("email", "m@example.org".into())],
            ),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "scheme-A coordinator sets a scheme-X volunteer's PIN",
            attempt: web_form(
                CoordA,
                format!("/manage/schemes/{x}/volunteers/vol-any/pin"),
                vec![("pin", "1234".into())],
            ),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "scheme-A coordinator changes scheme X's PIN setting",
            attempt: web_form(CoordA, format!("/manage/schemes/{x}/pin-setting"), vec![("required", "no".into())]),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "a PIN that is not 4 digits",
            attempt: web_form(
                CoordA,
                format!("/manage/schemes/{a}/volunteers/vol-any/pin"),
                vec![("pin", "12a4".into())],
            ),
            status: 400,
            says: "4 digits",
        },
        Row {
            name: "scheme-A coordinator renames scheme X's site",
            attempt: web_form(
                CoordA,
                format!("/manage/schemes/{x}/sites/{site_x}"),
                vec![("name", "Mine now".into()), ("state", "open".into())],
            ),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "scheme-A coordinator closes scheme X's site through scheme A",
            attempt: web_form(
                CoordA,
                format!("/manage/schemes/{a}/sites/{site_x}"),
                vec![("name", "Court X".into()), ("state", "closed".into())],
            ),
            status: 404,
            says: "no such site",
        },
        Row {
            name: "scheme-A coordinator changes scheme X's details",
            attempt: web_form(
                CoordA,
                format!("/manage/schemes/{x}/details"),
                vec![("name", "Mine".into()), ("region", "london".into()), ("scheme_type", "court-help-desk".into())],
            ),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "scheme-A coordinator opens the revoke step for scheme X's tablet",
            attempt: web(CoordA, "GET", format!("/manage/schemes/{x}/tablets/{device_x}/revoke"), Valid),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "a site with no name",
            attempt: web_form(CoordA, format!("/manage/schemes/{a}/sites"), vec![("name", "   ".into())]),
            status: 400,
            says: "Enter the site",
        },
        Row {
            name: "a site named like another of the scheme's",
            attempt: web_form(CoordA, format!("/manage/schemes/{a}/sites"), vec![("name", "court a".into())]),
            status: 400,
            says: "already has a site called",
        },
        Row {
            name: "scheme details without a region",
            attempt: web_form(
                CoordA,
                format!("/manage/schemes/{a}/details"),
                vec![("name", "Renamed".into()), ("region", "".into()), ("scheme_type", "court-help-desk".into())],
            ),
            status: 400,
            says: "Select the scheme",
        },
        Row {
            name: "coordinator deactivates an account",
            attempt: web_form(CoordA, "/manage/users/usr-any/active".into(), vec![("active", "false".into())]),
            status: 403,
            says: "Only administrators",
        },
        Row {
            name: "scheme-X coordinator opens scheme A",
            attempt: web(CoordX, "GET", format!("/manage/schemes/{a}"), Valid),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "coordinator opens the national statistics",
            attempt: web(CoordA, "GET", "/manage/national".into(), Valid),
            status: 403,
            says: "national reviewers",
        },
        Row {
            name: "coordinator reads another scheme's dashboard",
            attempt: web(CoordA, "GET", format!("/manage/schemes/{x}/dashboard"), Valid),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "national reviewer reads a scheme's dashboard",
            attempt: web(National, "GET", format!("/manage/schemes/{a}/dashboard.csv?view=by_site"), Valid),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "coordinator opens the audit log",
            attempt: web(CoordA, "GET", "/manage/audit".into(), Valid),
            status: 403,
            says: "Only administrators",
        },
        Row {
            name: "coordinator invites an administrator",
            attempt: web_form(
                CoordA,
                "/manage/users".into(),
                vec![("email", "m@example.org".into()), ("role", "admin".into())],
            ),
            status: 403,
            says: "Only administrators",
        },
        Row {
            name: "coordinator creates a scheme",
            attempt: web_form(CoordA, "/manage/schemes".into(), vec![("name", "Mine".into())]),
            status: 403,
            says: "Only administrators",
        },
        Row {
            name: "national reviewer opens a scheme (roster, tablets)",
            attempt: web(National, "GET", format!("/manage/schemes/{a}"), Valid),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "national reviewer opens the audit log",
            attempt: web(National, "GET", "/manage/audit".into(), Valid),
            status: 403,
            says: "Only administrators",
        },
        Row {
            name: "national reviewer creates an enrolment code",
            attempt: web(National, "POST", format!("/manage/schemes/{a}/sites/{site_a}/enrolment-code"), Valid),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "national reviewer changes a roster",
            attempt: web_form(National, format!("/manage/schemes/{a}/volunteers"), vec![("name", "Mallory".into())]),
            status: 403,
            says: "your own scheme",
        },
        Row {
            name: "national reviewer reads a tablet's view",
            attempt: web(National, "GET", "/api/v1/device".into(), Valid),
            status: 401,
            says: "credential is required",
        },
        Row {
            name: "national reviewer syncs",
            attempt: Attempt::Sync(Token::None),
            status: 401,
            says: "credential is required",
        },
        Row {
            name: "form without a CSRF token",
            attempt: web(CoordA, "POST", format!("/manage/schemes/{a}/sites/{site_a}/enrolment-code"), Missing),
            status: 403,
            says: "did not come from Signpost",
        },
        Row {
            name: "form with a forged CSRF token",
            attempt: web(CoordA, "POST", format!("/manage/schemes/{a}/sites/{site_a}/enrolment-code"), Forged),
            status: 403,
            says: "did not come from Signpost",
        },
        Row {
            name: "form from another website",
            attempt: web(CoordA, "POST", format!("/manage/schemes/{a}/sites/{site_a}/enrolment-code"), CrossSite),
            status: 403,
            says: "another website",
        },
        Row {
            name: "pages without signing in",
            attempt: web(Nobody, "GET", format!("/manage/schemes/{a}"), Valid),
            status: 303,
            says: "",
        },
        Row {
            name: "forms without signing in",
            attempt: web(Nobody, "POST", format!("/manage/schemes/{a}/volunteers"), Forged),
            status: 303,
            says: "",
        },
        Row { name: "session fixation", attempt: Attempt::SessionFixation, status: 303, says: "/sign-in" },
    ];
    let mut failures = Vec::new();
    for row in &rows {
        let before = snapshot(&w.server.data);
        let (status, text) = attempt(&mut w, &row.attempt).await;
        let after = snapshot(&w.server.data);
        // These rows set the scene themselves (a sign-in, site B's document) and compare the
        // store around the refusal inside the attempt.
        let own_check = matches!(row.attempt, Attempt::SessionFixation | Attempt::FindOtherSite);
        let changed = !own_check && before != after;
        if status != row.status || !text.contains(row.says) || changed {
            failures.push(format!(
                "{}: got {status} (want {}), says {:?} (want {:?}), store changed: {changed}",
                row.name,
                row.status,
                text.chars().take(300).collect::<String>(),
                row.says
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} rows failed:\n{}", failures.len(), rows.len(), failures.join("\n"));
}

#[tokio::test]
async fn guessing_enrolment_codes_is_throttled_even_for_a_right_code() {
    let mut w = world().await;
    let (a, site_a) = (w.scheme_a.clone(), w.site_a.clone());
    let good = enrol_code(&w.server, &mut w.coord_a, &a, &site_a).await;
    let before = snapshot(&w.server.data);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let guess = format!("ABCD-{:04}", 2222 + i).replace('0', "2").replace('1', "3");
        statuses.push(enrol(&w.server, &guess).await.0);
    }
    assert_eq!(&statuses[..10], &[403; 10], "{statuses:?}");
    assert_eq!(&statuses[10..], &[429, 429], "{statuses:?}");
    let (status, body) = enrol(&w.server, &good).await;
    assert_eq!(status, 429, "a blocked guesser learns nothing, even from a right code: {body}");
    assert!(body["error"].as_str().unwrap().contains("wait 15 minutes"), "{body}");
    assert_eq!(before, snapshot(&w.server.data), "the right code is still unused");
}

#[tokio::test]
async fn sign_in_is_throttled_and_cookies_are_locked_down() {
    let w = world().await;
    let url = w.server.url.clone();
    // Cookie flags of a real sign-in, on plain HTTP and behind a TLS proxy.
    for (proto, secure) in [(None, false), (Some("https"), true)] {
        let form_page = request(&url, "GET", "/sign-in", &[], None).await.unwrap();
        let form_cookie = form_page.cookie("signpost_form").unwrap();
        let csrf = form_page.form_value("csrf").unwrap();
        let cookie = format!("signpost_form={form_cookie}");
        let mut headers = vec![("Cookie", cookie.as_str())];
        if let Some(p) = proto {
            headers.push(("X-Forwarded-Proto", p));
        }
        let r: Reply = request(
            &url,
            "POST",
            "/sign-in",
            &headers,
            Some(&[("csrf", &csrf), ("email", "coord-a@example.org"), ("password", "a long enough password")]),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 303, "{}", r.body);
        let set = r.set_cookies().into_iter().find(|c| c.starts_with("signpost_session=")).unwrap().to_owned();
        assert!(set.contains("HttpOnly"), "{set}");
        assert!(set.contains("SameSite=Strict"), "{set}");
        assert!(set.contains("Path=/"), "{set}");
        assert_eq!(set.contains("Secure"), secure, "{set}");
    }
    // Five wrong passwords, then even the right one is refused for a while.
    let mut v = Visitor::default();
    let page = v.get(&url, "/sign-in").await.unwrap();
    let mut csrf = page.form_value("csrf").unwrap();
    let before = snapshot(&w.server.data);
    for i in 0..5 {
        let r = v
            .post(
                &url,
                "/sign-in",
                &[("csrf", &csrf), ("email", "national@example.org"), ("password", "wrong password!")],
            )
            .await
            .unwrap();
        assert_eq!(r.status, 401, "attempt {i}: {}", r.body);
        assert!(r.body.contains("Enter a correct email address and password"));
        csrf = r.form_value("csrf").unwrap();
    }
    let r = v
        .post(
            &url,
            "/sign-in",
            &[("csrf", &csrf), ("email", "national@example.org"), ("password", "a long enough password")],
        )
        .await
        .unwrap();
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.body.contains("Wait 15 minutes"));
    assert_eq!(before, snapshot(&w.server.data), "refused sign-ins store nothing");
    // Signing out ends the session.
    let mut c = w.coord_a.clone();
    let r = c.v.post(&url, "/sign-out", &[("csrf", &c.csrf)]).await.unwrap();
    assert_eq!(r.status, 303);
    let r = request(&url, "GET", "/manage", &[("Cookie", &w.coord_a.v.cookies_header())], None).await.unwrap();
    assert_eq!(r.header("location"), Some("/sign-in"), "the old cookie no longer works");
}

#[tokio::test]
async fn a_revoked_tablet_is_cut_off_within_five_seconds_and_it_is_audited() {
    let mut w = world().await;
    let (a, site_a) = (w.scheme_a.clone(), w.site_a.clone());
    let code = enrol_code(&w.server, &mut w.coord_a, &a, &site_a).await;
    let (_, body) = enrol(&w.server, &code).await;
    let token = body["token"].as_str().unwrap().to_owned();
    let device = body["device"].as_str().unwrap().to_owned();
    let mut tablet = Tablet::connect(&w.server.url, &token, "doomed").await.unwrap();
    let mut other = Tablet::connect(&w.server.url, &w.token_a, "fine").await.unwrap();
    let started = Instant::now();
    let r = w
        .coord_a
        .v
        .post(&w.server.url, &format!("/manage/schemes/{a}/tablets/{device}/revoke"), &[("csrf", &w.coord_a.csrf)])
        .await
        .unwrap();
    assert_eq!(r.status, 303);
    let _ = tablet.until(Duration::from_secs(5), |_| false).await;
    let took = started.elapsed();
    assert!(tablet.closed.as_deref().is_some_and(|c| c.contains("revoked")), "{:?}", tablet.closed);
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    // Others keep syncing.
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(8);
    let d = other.open_day(&Header::desk_day(&a, &site_a, day)).await.unwrap();
    other.change(d, |tx| schema::write_referral(tx, &referral()).unwrap()).await.unwrap();
    other.synced(d, T).await.unwrap();
    // Revoked from the command line: the live connection closes too.
    let code = enrol_code(&w.server, &mut w.coord_a, &a, &site_a).await;
    let (_, body) = enrol(&w.server, &code).await;
    let token = body["token"].as_str().unwrap().to_owned();
    let device = body["device"].as_str().unwrap().to_owned();
    let mut tablet = Tablet::connect(&w.server.url, &token, "doomed-too").await.unwrap();
    let started = Instant::now();
    admin(&w.server.data, &["revoke-device", "--scheme", &a, &device]).unwrap();
    let _ = tablet.until(Duration::from_secs(5), |_| false).await;
    assert!(tablet.closed.as_deref().is_some_and(|c| c.contains("revoked")), "{:?}", tablet.closed);
    assert!(started.elapsed() < Duration::from_secs(5), "closed after {:?}", started.elapsed());
    // The audit log holds the enrolments, revocations and the coordinator's actions.
    let conn = signpost_harness::store::connect(&w.server.data);
    let actions: Vec<String> = conn
        .prepare("SELECT action FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map((), |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for want in
        ["account created", "password set", "signed in", "enrolment code created", "tablet enrolled", "tablet revoked"]
    {
        assert!(actions.iter().any(|a| a == want), "{want} missing from {actions:?}");
    }
    assert!(conn.execute("DELETE FROM audit_log", ()).is_err(), "append-only");
}
