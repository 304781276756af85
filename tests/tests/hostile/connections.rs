//! What any client can do to connections: sockets that never join, go silent or exceed a
//! credential's share, requests and bodies that trickle, headers and links that trust the request.

use super::*;

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
    let csp = r.header("content-security-policy").unwrap_or_default().to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval';"), "only this origin's scripts: {csp}");
    assert!(!r.body.contains("<script>") && !r.body.contains("<script type=\"module\">"), "no inline script");
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
    let (server, fx) = Server::start_fresh(&["--header-timeout-secs", "1"]).unwrap();
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-A: ").await.unwrap();
        slow.push(s);
    }
    others_are_answered(&server, &fx, "with 300 half-written requests open").await;
    let before = snapshot(&server.data);
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
    assert_eq!(before, snapshot(&server.data));
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

/// Two thousand sockets opened on one tablet credential: four are held, the rest refused before
/// the upgrade; the relay's memory barely moves and it answers health throughout.
#[tokio::test]
async fn two_thousand_sockets_on_one_credential_are_not_all_held() {
    let (server, fx) = Server::start_fresh(&[]).unwrap();
    let pid = server.pid().unwrap();
    let rss_before = rss_mib(pid);
    let url = sync_url(&server.url, Some(&fx.token_a1));
    let (mut held, mut refused) = (Vec::new(), 0);
    for _ in 0..10 {
        let wave: Vec<_> = (0..200)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { tokio_tungstenite::connect_async(url).await })
            })
            .collect();
        for w in wave {
            match w.await.unwrap() {
                Ok((ws, _)) => held.push(ws),
                Err(e) => {
                    assert!(format!("{e:?}").contains("429"), "{e:?}");
                    refused += 1;
                }
            }
        }
        let asked = Instant::now();
        let (status, health) = server.get("/api/v1/health", None).await.unwrap();
        assert_eq!(status, 200);
        assert!(asked.elapsed() < Duration::from_secs(1), "health answered in {:?}", asked.elapsed());
        assert!(health["relay"]["connections"].as_u64().unwrap() <= 4, "{health}");
    }
    assert_eq!((held.len(), refused), (4, 1996));
    others_are_answered(&server, &fx, "with four sockets held and 1,996 refused").await;
    let grew = rss_mib(pid) - rss_before;
    eprintln!("figure: the relay's memory grew by {grew:.1} MiB (from {rss_before:.1} MiB)");
    assert!(grew < 100.0, "the relay grew by {grew:.0} MiB");
}

/// Fifty clients that send their headers at once and then trickle the body a byte at a time are
/// answered once the body deadline passes, however steadily they trickle; the relay answers
/// others meanwhile and stores nothing.
#[tokio::test]
async fn trickled_bodies_are_let_go() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (server, fx) = Server::start_fresh(&["--body-timeout-secs", "1"]).unwrap();
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for i in 0..50 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        // Half to the JSON API, half to a web form.
        let head = if i % 2 == 0 {
            "POST /api/v1/enrol HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        } else {
            "POST /sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ne"
        };
        s.write_all(head.as_bytes()).await.unwrap();
        slow.push(s);
    }
    others_are_answered(&server, &fx, "with fifty bodies trickling").await;
    let before = snapshot(&server.data);
    let started = Instant::now();
    let reads = slow.into_iter().map(|mut s| {
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            // A byte every 200 ms: never quiet for long, never done.
            loop {
                tokio::select! {
                    n = s.read(&mut buf) => return n.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned()).unwrap_or_default(),
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {
                        if s.write_all(b" ").await.is_err() {
                            return String::new();
                        }
                    }
                }
            }
        })
    });
    let mut answered = 0;
    for r in reads.collect::<Vec<_>>() {
        let said = tokio::time::timeout(Duration::from_secs(6), r).await.expect("let go").unwrap();
        // Answered "408 Request Timeout" (not "413 too large": the body was small, only slow).
        answered += usize::from(said.starts_with("HTTP/1.1 408"));
    }
    assert_eq!(answered, 50);
    assert!(started.elapsed() < Duration::from_secs(6), "let go after {:?}", started.elapsed());
    assert_eq!(before, snapshot(&server.data));
}
