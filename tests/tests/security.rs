//! The security table: each row an attempt that must be refused, with the refusal it must get.
//! After every row the whole database is read back and compared with before: a refused attempt
//! changes nothing (not a row, not a session, not an audit entry).
//!
//! The relay runs as the real binary on 127.0.0.1; people sign in through the web pages as a
//! browser would (cookies, forms, CSRF tokens); tablets are simulated automerge-repo peers.

use signpost_harness::{admin, request, Reply, Server, Signed, Visitor};
use signpost_shared::schema::{self, Header};
use signpost_sim::{sync_url, Tablet};
use std::path::Path;
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

/// The whole database as text, table by table, row by row.
fn snapshot(data: &Path) -> String {
    let conn = rusqlite::Connection::open_with_flags(
        data.join("signpost.sqlite3"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut out = String::new();
    let tables: Vec<String> = conn
        // Every table but the relay's record of when it synced with or refused a tablet, which
        // an attempt is meant to leave behind (it is what its coordinator sees).
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'device_activity' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for t in tables {
        out.push_str(&format!("## {t}\n"));
        // Every row, in a fixed order (some tables have no rowid).
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        let mut lines = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            let cells: Vec<String> = (0..n).map(|i| format!("{:?}", row.get_ref(i).unwrap())).collect();
            lines.push(cells.join(" | "));
        }
        lines.sort();
        for l in lines {
            out.push_str(&l);
            out.push('\n');
        }
    }
    out
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
            let closed = a.until(T, |_| false).await.err().map(|e| e.to_string()).unwrap_or_default();
            (0, format!("{closed} {:?}", a.closed))
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
        let conn = rusqlite::Connection::open(w.server.data.join("signpost.sqlite3")).unwrap();
        conn.busy_timeout(Duration::from_secs(5)).unwrap();
        conn.execute("UPDATE enrol_codes SET expires_at = 1 WHERE used_at IS NULL", []).unwrap();
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
    let conn = rusqlite::Connection::open(w.server.data.join("signpost.sqlite3")).unwrap();
    let actions: Vec<String> = conn
        .prepare("SELECT action FROM audit_log ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for want in
        ["account created", "password set", "signed in", "enrolment code created", "tablet enrolled", "tablet revoked"]
    {
        assert!(actions.iter().any(|a| a == want), "{want} missing from {actions:?}");
    }
    assert!(conn.execute("DELETE FROM audit_log", []).is_err(), "append-only");
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// A tablet's sync message for `doc` carrying `changes` as they are, from its own peer id.
fn raw_sync(t: &Tablet, doc: signpost_shared::ids::DocumentId, changes: Vec<Vec<u8>>) -> Vec<u8> {
    use automerge::sync::{self, SyncDoc};
    let mut msg = sync::Message::decode(
        &automerge::Automerge::new().generate_sync_message(&mut sync::State::new()).unwrap().encode(),
    )
    .unwrap();
    msg.changes = changes.into();
    signpost_shared::wire::Message::Sync {
        sender_id: t.peer.peer_id().clone(),
        target_id: t.peer.relay_id().expect("joined").clone(),
        document_id: doc,
        data: msg.encode(),
    }
    .encode()
}

/// 131 KB that inflate to 16 × 8 MiB, sent by a tablet for its own day: refused before anything
/// is inflated or stored, the relay's memory barely moves, and health and the desk's other tablet
/// are answered at once.
#[tokio::test]
async fn a_compression_bomb_from_a_tablet_is_refused_and_nothing_stalls() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(7);
    let mut good = Tablet::connect(&server.url, &fx.token_a1, "good").await.unwrap();
    let d = good.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    good.synced(d, T).await.unwrap();
    let pid = server.pid().unwrap();
    let rss_before = rss_mib(pid);
    let before = snapshot(&server.data);

    let mut bad = Tablet::connect(&server.url, &fx.token_a2, "bad").await.unwrap();
    let zeros = vec![0u8; 8 << 20];
    let bomb = vec![signpost_shared::testkit::compressed_chunk(&zeros); 16];
    let frame = raw_sync(&bad, d, bomb);
    assert!(frame.len() < 200 << 10, "{} bytes", frame.len());
    bad.send_frame(frame).await.unwrap();
    let asked = Instant::now();
    let (status, _) = server.get("/api/v1/health", None).await.unwrap();
    assert_eq!(status, 200);
    assert!(asked.elapsed() < Duration::from_secs(1), "health answered in {:?}", asked.elapsed());
    let closed = bad.until(T, |_| false).await.err().map(|e| format!("{e:#}")).unwrap_or_default();
    let said = format!("{closed} {:?}", bad.closed);
    assert!(said.contains("too large"), "{said}");
    assert_eq!(before, snapshot(&server.data), "nothing of the bomb is stored");
    let grew = rss_mib(pid) - rss_before;
    assert!(grew < 100.0, "the relay grew by {grew:.0} MiB");

    let started = Instant::now();
    good.change(d, |tx| schema::write_referral(tx, &referral()).unwrap()).await.unwrap();
    good.synced(d, T).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(1), "the other tablet synced in {:?}", started.elapsed());
}

/// A sign-in form's cookie and token, to post it as any client would.
async fn sign_in_form(url: &str) -> (String, String) {
    let page = request(url, "GET", "/sign-in", &[], None).await.unwrap();
    (format!("signpost_form={}", page.cookie("signpost_form").unwrap()), page.form_value("csrf").unwrap())
}

async fn sign_in_from(url: &str, from: Option<&str>, email: &str, password: &str) -> u16 {
    let (cookie, csrf) = sign_in_form(url).await;
    let mut headers = vec![("Cookie", cookie.as_str())];
    if let Some(ip) = from {
        headers.push(("X-Forwarded-For", ip));
    }
    let form = [("csrf", csrf.as_str()), ("email", email), ("password", password)];
    request(url, "POST", "/sign-in", &headers, Some(&form)).await.unwrap().status
}

/// Thirty wrong passwords at once from one address: five are checked, the rest refused, as if
/// they had come one after another.
#[tokio::test]
async fn concurrent_guesses_are_counted_before_they_are_checked() {
    let w = world().await;
    let url = w.server.url.clone();
    let guesses: Vec<_> = (0..30)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { sign_in_from(&url, None, "national@example.org", "wrong password!").await })
        })
        .collect();
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 25, "{statuses:?}");
}

/// Behind a trusted proxy, strangers guessing from many addresses slow an account and
/// enrolment down but lock no one out: the person signs in, the right code enrols a tablet. A
/// client's own `X-Forwarded-For` is not believed without the flag.
#[tokio::test]
async fn strangers_cannot_lock_a_person_or_everyone_out() {
    let (server, fx) = Server::start_fresh(&["--trust-forwarded-for"]).unwrap();
    let url = server.url.clone();
    let mut coord = Signed::create(&server, "coordinator", Some(&fx.scheme), "c@example.org").await.unwrap();
    for i in 0..12 {
        let stranger = format!("203.0.113.{i}");
        assert_eq!(sign_in_from(&url, Some(&stranger), "c@example.org", "wrong password!").await, 401);
    }
    let started = Instant::now();
    assert_eq!(sign_in_from(&url, Some("198.51.100.7"), "c@example.org", "a long enough password").await, 303);
    assert!(started.elapsed() < Duration::from_secs(8), "slowed, not shut out: {:?}", started.elapsed());

    let good = coord.enrolment_code(&server, &fx.scheme, &fx.site_a).await.unwrap();
    let mut refused = 0;
    for i in 0..320 {
        // Eight wrong codes from each of forty addresses: under each address's limit.
        let from = format!("192.0.2.{}", i / 8);
        let body =
            serde_json::json!({ "code": format!("ZZZZ-{:04}", 2222 + i % 7000).replace(['0', '1'], "2"), "name": "" });
        let r = request_json(&url, "/api/v1/enrol", &from, &body).await;
        refused += usize::from(r == 429);
    }
    assert_eq!(refused, 0, "no stranger's address went over its own limit");
    let r =
        request_json(&url, "/api/v1/enrol", "198.51.100.9", &serde_json::json!({ "code": good, "name": "Desk" })).await;
    assert_eq!(r, 201, "the right code still enrols after 320 wrong ones");
}

async fn request_json(url: &str, path: &str, from: &str, body: &serde_json::Value) -> u16 {
    let client = reqwest_client();
    let r = client
        .post(format!("{url}{path}"))
        .header("X-Forwarded-For", from)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()
}

/// Without `--trust-forwarded-for`, a client's `X-Forwarded-For` is its own claim: changing it
/// every time does not escape the limit on its real address.
#[tokio::test]
async fn a_forged_forwarded_for_is_not_believed() {
    let w = world().await;
    let mut statuses = Vec::new();
    for i in 0..7 {
        statuses
            .push(sign_in_from(&w.server.url, Some(&format!("203.0.113.{i}")), "national@example.org", "wrong!").await);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
}

/// Sockets cost the relay until they close: one that never joins, and one that goes silent and
/// answers no ping, are let go; one credential cannot hold more than its share open.
#[tokio::test]
async fn idle_silent_and_surplus_sockets_are_let_go() {
    use futures_util::StreamExt;
    let args = ["--join-within-secs", "1", "--keepalive-secs", "1", "--max-sockets-per-device", "2"];
    let (server, fx) = Server::start_fresh(&args).unwrap();
    let connections = || async {
        let (_, h) = server.get("/api/v1/health", None).await.unwrap();
        h["relay"]["connections"].as_u64().unwrap()
    };

    // Never joins: closed with a reason within the deadline.
    let (mut mute, _) = tokio_tungstenite::connect_async(sync_url(&server.url, Some(&fx.token_a1))).await.unwrap();
    let started = Instant::now();
    let mut said = String::new();
    while let Ok(Some(Ok(msg))) = tokio::time::timeout(T, mute.next()).await {
        if let tokio_tungstenite::tungstenite::Message::Binary(b) = &msg {
            if let Ok(signpost_shared::wire::Message::Error { message }) = signpost_shared::wire::Message::decode(b) {
                said = message;
            }
        }
        if msg.is_close() {
            break;
        }
    }
    assert!(said.contains("no join message"), "{said:?}");
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());

    // Two tablets on one credential; a third socket is refused before the upgrade.
    let first = Tablet::connect(&server.url, &fx.token_a2, "one").await.unwrap();
    let _second = Tablet::connect(&server.url, &fx.token_a2, "two").await.unwrap();
    let third = tokio_tungstenite::connect_async(sync_url(&server.url, Some(&fx.token_a2))).await;
    let refused = format!("{:?}", third.err().expect("refused"));
    assert!(refused.contains("429"), "{refused}");
    // Sockets that go silent (these two stop reading, so they answer no ping) are let go, and
    // their places are free again.
    assert_eq!(connections().await, 2);
    let held = (first, _second); // neither read nor closed from here on
    let gone = signpost_harness::eventually(Duration::from_secs(10), || async { connections().await == 0 }).await;
    assert!(gone, "silent sockets are still held");
    assert!(Tablet::connect(&server.url, &fx.token_a2, "three").await.is_ok(), "their places are free");
    drop(held);
}

/// A tablet floods its desk with ephemeral messages while the desk's other tablets read
/// nothing: what waits for each is bounded in bytes, so the slow readers are let go rather than
/// the relay's memory growing, and the relay keeps answering.
#[tokio::test]
async fn an_ephemeral_flood_to_slow_readers_is_bounded() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let day = chrono::Utc::now().date_naive() - chrono::Duration::days(7);
    let mut loud = Tablet::connect(&server.url, &fx.token_a1, "loud").await.unwrap();
    let d = loud.open_day(&Header::desk_day(&fx.scheme, &fx.site_a, day)).await.unwrap();
    loud.synced(d, T).await.unwrap();
    let mut slow = Vec::new();
    for name in ["slow-1", "slow-2"] {
        let mut t = Tablet::connect(&server.url, &fx.token_a2, name).await.unwrap();
        assert!(t.find(d, T).await.unwrap());
        slow.push(t); // never read again
    }
    let pid = server.pid().unwrap();
    let rss_before = rss_mib(pid);
    for i in 0..1_000u64 {
        let out = loud.peer.ephemeral(d, "flood", i, vec![i as u8; 60 << 10]);
        if loud.send(out).await.is_err() {
            break;
        }
    }
    let asked = Instant::now();
    let (status, health) = server.get("/api/v1/health", None).await.unwrap();
    assert_eq!(status, 200);
    assert!(asked.elapsed() < Duration::from_secs(1), "health answered in {:?}", asked.elapsed());
    let grew = rss_mib(pid) - rss_before;
    assert!(grew < 100.0, "the relay grew by {grew:.0} MiB: {health}");
    let gone = signpost_harness::eventually(T, || async {
        let (_, h) = server.get("/api/v1/health", None).await.unwrap();
        h["relay"]["connections"].as_u64() == Some(1)
    })
    .await;
    assert!(gone, "the slow readers were let go");
    drop(slow);
}

/// The app's files are never framed or sniffed; behind TLS browsers are told to stay on it; and
/// a set-password link is built on the configured address, whatever `Host` a request claims.
#[tokio::test]
async fn files_headers_and_links_do_not_trust_the_request() {
    let dist = signpost_harness::workspace().join("client/dist");
    let args =
        ["--behind-tls", "--public-url", "https://signpost.example.org/", "--static-dir", dist.to_str().unwrap()];
    let (server, _fx) = Server::start_fresh(&args).unwrap();
    let r = request(&server.url, "GET", "/index.html", &[], None).await.unwrap();
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert!(r.header("content-security-policy").unwrap_or_default().contains("frame-ancestors 'none'"));
    assert!(r.header("strict-transport-security").is_some_and(|v| v.contains("max-age")));
    let api = request(&server.url, "GET", "/api/v1/health", &[], None).await.unwrap();
    assert!(api.header("strict-transport-security").is_some());

    let admin = Signed::create(&server, "admin", None, "adm@example.org").await.unwrap();
    let cookie = admin.v.cookie_header();
    let form = [("csrf", admin.csrf.as_str()), ("email", "new@example.org"), ("role", "national"), ("scheme", "")];
    let r =
        request(&server.url, "POST", "/manage/users", &[("Cookie", &cookie), ("Host", "evil.example")], Some(&form))
            .await
            .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("https://signpost.example.org/set-password?code="), "{}", r.body);
    assert!(!r.body.contains("evil.example"));
}

/// Three hundred clients that send their request headers a byte at a time (slowloris) are let go
/// once the header deadline passes, and the relay answers others meanwhile.
#[tokio::test]
async fn half_written_requests_are_let_go() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, _fx) = Server::start_fresh(&["--header-timeout-secs", "1"]).unwrap();
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-A: ").await.unwrap();
        slow.push(s);
    }
    let asked = Instant::now();
    let (status, _) = server.get("/api/v1/health", None).await.unwrap();
    assert_eq!(status, 200);
    assert!(asked.elapsed() < Duration::from_secs(1), "answered in {:?}", asked.elapsed());
    // Each keeps trickling a byte; the relay closes them all the same.
    for s in &mut slow {
        let _ = s.write_all(b"a").await;
    }
    // All at once: each read ends (an answer, 408, or end of stream) when the relay lets go.
    let reads = slow.into_iter().map(|mut s| {
        tokio::spawn(async move {
            let mut buf = [0u8; 256];
            tokio::time::timeout(Duration::from_secs(4), s.read(&mut buf)).await.is_ok()
        })
    });
    let mut closed = 0;
    for r in reads.collect::<Vec<_>>() {
        closed += usize::from(r.await.unwrap());
    }
    assert_eq!(closed, 300, "{closed} of 300 half-written requests were let go");
}

/// A tablet that closes its socket gets the close answered at once (the relay keeps nothing of
/// the socket once its peer has gone).
#[tokio::test]
async fn a_closed_socket_is_answered_and_let_go() {
    use futures_util::{SinkExt, StreamExt};
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(sync_url(&server.url, Some(&fx.token_a1))).await.unwrap();
    ws.send(tokio_tungstenite::tungstenite::Message::Close(None)).await.unwrap();
    let started = Instant::now();
    let mut answered = false;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
        if matches!(msg, Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_)) {
            answered = true;
            break;
        }
    }
    assert!(answered && started.elapsed() < Duration::from_secs(2), "close answered in {:?}", started.elapsed());
}
