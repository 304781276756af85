//! Who is asking, as the request presents it: a bearer credential (tablets, administrator
//! tokens) or a session cookie (people signed in to the web pages), looked up in the store.
//! Each surface wraps these in extractors with its own rejection: [`crate::api::auth`] for the
//! JSON API and sync, [`crate::web::session`] for the pages. What a role may do is decided by the
//! extractor a handler takes, and, for schemes, by [`signpost_domain::accounts::Role::manages`].

use axum::http::{header, HeaderMap};
use axum_extra::extract::cookie::CookieJar;
use signpost_domain::accounts::{self, User};
use signpost_domain::db::{self, Store};
use signpost_domain::tablets::{self, Credential};

pub const SESSION_COOKIE: &str = "signpost_session";
/// Double-submit token for the sign-in and set-password forms (there is no session yet).
pub const FORM_COOKIE: &str = "signpost_form";

/// The credential presented: `Authorization: Bearer …`, or a `token` query parameter (browsers
/// and automerge-repo's WebSocket adapter cannot set headers on a WebSocket).
pub fn presented_token(headers: &HeaderMap, query_token: Option<&str>) -> Option<String> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(t.trim().to_owned());
        }
    }
    query_token.map(str::to_owned)
}

/// The client's address: the peer's, or behind a trusted proxy the last address it appended to
/// `X-Forwarded-For` (the ones before it are whatever the client claimed).
pub fn client_ip(trust_forwarded_for: bool, peer: std::net::SocketAddr, headers: &HeaderMap) -> std::net::IpAddr {
    if trust_forwarded_for {
        // Only the very last entry is the proxy's; an earlier one is never used in its place.
        let last = headers.get_all("x-forwarded-for").iter().next_back().and_then(|v| v.to_str().ok());
        if let Some(ip) = last.and_then(|v| v.rsplit(',').next()).and_then(|a| a.trim().parse().ok()) {
            return ip;
        }
    }
    peer.ip()
}

/// The credential a token stands for; `None` for an unknown or revoked one.
pub async fn credential(store: &Store, token: String) -> anyhow::Result<Option<Credential>> {
    db::blocking(store, move |c| tablets::check_token(c, &token)).await
}

/// A person signed in to the web pages, and their session's CSRF token (every form they send
/// must carry it).
pub struct Session {
    pub user: User,
    pub csrf: String,
}

/// The signed-in person of the session cookie.
pub async fn session(store: &Store, jar: &CookieJar) -> anyhow::Result<Option<Session>> {
    let Some(token) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else { return Ok(None) };
    let found = db::blocking(store, move |c| accounts::session(c, &token)).await?;
    Ok(found.map(|(user, csrf)| Session { user, csrf }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_proxys_own_entry_is_believed() {
        let peer: std::net::SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let ip = |trust: bool, values: &[&str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            client_ip(trust, peer, &h).to_string()
        };
        assert_eq!(ip(false, &["203.0.113.9"]), "10.0.0.1", "not without the flag");
        assert_eq!(ip(true, &["198.51.100.1, 203.0.113.9"]), "203.0.113.9");
        assert_eq!(ip(true, &["198.51.100.1", "203.0.113.9"]), "203.0.113.9", "the last header line");
        assert_eq!(ip(true, &["198.51.100.1, junk"]), "10.0.0.1", "never an earlier, client-claimed entry");
        assert_eq!(ip(true, &[]), "10.0.0.1");
    }
}
