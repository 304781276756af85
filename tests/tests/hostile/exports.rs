//! CSV downloads that are opened and never read: each held a thread, a database connection and
//! its read transaction for as long as its client liked, and five hundred of them kept health
//! checks waiting for 15–20 s.

use super::*;

/// `count` referrals of today's desk-day at site A, written as the relay would project them:
/// the export reads the statistics, not the documents.
fn referrals_in_the_statistics(server: &Server, fx: &Fixture, count: usize) {
    let conn = signpost_harness::store::connect(&server.data);
    let today = chrono::Utc::now().date_naive().to_string();
    let tx = conn.immediate_transaction().unwrap();
    for i in 0..count {
        tx.execute(
            "INSERT INTO referral_facts(doc_id, id, scheme_id, site_id, day, recorded_at, volunteer, helped,
                 agency_kind, agency, help, follow_up, voided)
             VALUES ('stalled', ?1, ?2, ?3, ?4, 0, NULL, 'client', 'other', 'A local agency of some kind', 'information', 0, 0)",
            signpost_domain::params![format!("r{i:06}"), fx.scheme, fx.site_a, today],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

/// A download opened as a browser would, from a client that reads its headers and nothing more
/// (a small receive buffer, so that the relay's sending stops soon): the status, the headers'
/// `Content-Length`, and the socket, unread.
async fn open_unread(url: &str, path: &str, cookie: &str) -> (u16, usize, tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        assert_eq!(s.read(&mut b).await.unwrap(), 1, "the headers arrive");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let status = head[9..12].parse().unwrap();
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length: ").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0);
    (status, length, s)
}

/// What is left to read on a socket, up to its end (or an error: the relay reset it).
async fn drain(s: &mut tokio::net::TcpStream) -> usize {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 64 << 10];
    let mut n = 0;
    while let Ok(Ok(got)) = tokio::time::timeout(T, s.read(&mut buf)).await {
        if got == 0 {
            break;
        }
        n += got;
    }
    n
}

/// A coordinator opens forty downloads of a large export and reads none: two are prepared (the
/// rest are refused at once, 429, with a page saying why), `/healthcheck` is answered within a
/// second, another coordinator downloads the export whole meanwhile, and once the stalled ones
/// have taken nothing for the send timeout the relay lets them go: their connections are
/// closed part-way, the tasks reading them from the database end, and the coordinator can
/// download two at once again.
#[tokio::test]
async fn stalled_downloads_are_bounded_and_let_go() {
    let (server, fx) = Server::start_fresh(&["--send-timeout-secs", "3"]).unwrap();
    referrals_in_the_statistics(&server, &fx, 60_000);
    let stalling = Signed::create(&server, "coordinator", Some(&fx.scheme), "stalling@example.org").await.unwrap();
    let mut other = Signed::create(&server, "coordinator", Some(&fx.scheme), "other@example.org").await.unwrap();
    let path = format!("/manage/schemes/{}/referrals.csv", fx.scheme);

    let cookie = stalling.v.cookie_header();
    let (mut stalled, mut refused) = (Vec::new(), 0);
    for _ in 0..40 {
        let (status, length, mut s) = open_unread(&server.url, &path, &cookie).await;
        match status {
            200 => stalled.push((length, s)),
            429 => {
                use tokio::io::AsyncReadExt;
                let mut body = vec![0u8; length];
                s.read_exact(&mut body).await.unwrap();
                let body = String::from_utf8(body).unwrap();
                assert!(body.contains("already downloading"), "{body}");
                refused += 1;
            }
            other => panic!("a download answered {other}"),
        }
    }
    assert_eq!((stalled.len(), refused), (2, 38), "two at once for one person");
    let opened = Instant::now();

    let asked = Instant::now();
    assert_eq!(request(&server.url, "GET", "/healthcheck", &[], None).await.unwrap().status, 200);
    let health = asked.elapsed();
    let started = Instant::now();
    let whole = other.v.get(&server.url, &path).await.unwrap();
    assert_eq!(whole.status, 200, "{}", whole.body);
    assert_eq!(signpost_harness::http::csv_records(&whole.body).len(), 60_001, "the header and every referral");
    let exported = started.elapsed();
    eprintln!(
        "figure: two stalled downloads: health in {health:?}; another coordinator's export of {} bytes in {exported:?}",
        whole.body.len()
    );
    assert!(health < Duration::from_secs(1), "health answered in {health:?}");

    // Past the send timeout the relay lets them go.
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(opened.elapsed())).await;
    for (length, s) in &mut stalled {
        let got = drain(s).await;
        assert!(got < *length, "a stalled download was sent whole ({got} of {length} bytes) after the timeout");
    }
    // Each download's place is held by the task that reads it from the database (on a
    // connection and in a read transaction of its own) until that task ends: both places free
    // again means both tasks ended and let go of their connections.
    let mut again = Vec::new();
    for _ in 0..2 {
        let (status, _, s) = open_unread(&server.url, &path, &cookie).await;
        assert_eq!(status, 200, "the coordinator can download again, two at once");
        again.push(s);
    }
}

/// The relay prepares so many downloads at once for everyone together (`--max-exports`):
/// past them, any CSV is refused at once, 429, until one is done.
#[tokio::test]
async fn downloads_past_the_relays_limit_are_refused_at_once() {
    let (server, fx) = Server::start_fresh(&["--send-timeout-secs", "3", "--max-exports", "2"]).unwrap();
    referrals_in_the_statistics(&server, &fx, 60_000);
    let path = format!("/manage/schemes/{}/referrals.csv", fx.scheme);
    let mut held = Vec::new();
    for who in ["one@example.org", "two@example.org"] {
        let c = Signed::create(&server, "coordinator", Some(&fx.scheme), who).await.unwrap();
        let (status, _, s) = open_unread(&server.url, &path, &c.v.cookie_header()).await;
        assert_eq!(status, 200);
        held.push(s);
    }
    let mut third = Signed::create(&server, "coordinator", Some(&fx.scheme), "three@example.org").await.unwrap();
    let asked = Instant::now();
    for path in [path.clone(), format!("/manage/schemes/{}/dashboard.csv?view=by_site", fx.scheme)] {
        let r = third.v.get(&server.url, &path).await.unwrap();
        assert_eq!(r.status, 429, "{path}: {}", r.body);
        assert!(r.body.contains("Too many downloads") && r.body.contains("try again"), "{}", r.body);
    }
    assert!(asked.elapsed() < Duration::from_secs(1), "refused at once: {:?}", asked.elapsed());
    drop(held);
    let freed = signpost_harness::eventually(T, || async {
        third.v.clone().get(&server.url, &path).await.unwrap().status == 200
    })
    .await;
    assert!(freed, "a place is free again once a download is given up");
}
