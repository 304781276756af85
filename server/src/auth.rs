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
    if let Some(t) = subprotocol_token(headers) {
        return Some(t);
    }
    query_token.map(str::to_owned)
}

/// The WebSocket subprotocol the tablet app asks for, beside one that carries its credential.
pub const SYNC_PROTOCOL: &str = "signpost";

/// A credential offered as a WebSocket subprotocol (`Sec-WebSocket-Protocol: signpost,
/// bearer.<token>`): how a browser, which cannot set `Authorization` on a WebSocket, keeps its
/// credential out of the URL (proxies log URLs, not this header). The relay answers with
/// [`SYNC_PROTOCOL`] only, never echoing the credential.
fn subprotocol_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix("bearer."))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
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

/// What the throttles count a client's attempts under ([`crate::throttle`]): an IPv4 address
/// as it is, an IPv6 address by its /64. An IPv6 client is usually given a whole /64 and can
/// send from any address in it, so counting per address would give it 2⁶⁴ allowances. An IPv4
/// address written as IPv6 (`::ffff:a.b.c.d`, as a dual-stack socket reports it) is that IPv4
/// address.
pub fn address_key(ip: std::net::IpAddr) -> String {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
    }
}

/// The client's [`address_key`]: what its attempts are counted under.
pub fn client_key(trust_forwarded_for: bool, peer: std::net::SocketAddr, headers: &HeaderMap) -> String {
    address_key(client_ip(trust_forwarded_for, peer, headers))
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

    #[test]
    fn a_credential_comes_from_the_header_a_subprotocol_or_the_query() {
        let with = |name: &str, value: &str| {
            let mut h = HeaderMap::new();
            h.append(axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(), value.parse().unwrap());
            h
        };
        let bearer = with("authorization", "Bearer spd_a");
        assert_eq!(presented_token(&bearer, Some("spd_q")).as_deref(), Some("spd_a"));
        let sub = with("sec-websocket-protocol", "signpost, bearer.spd_b-_x");
        assert_eq!(presented_token(&sub, None).as_deref(), Some("spd_b-_x"));
        let other = with("sec-websocket-protocol", "signpost");
        assert_eq!(presented_token(&other, Some("spd_q")).as_deref(), Some("spd_q"), "third-party clients");
        assert_eq!(presented_token(&with("sec-websocket-protocol", "bearer."), None), None);
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_and_ipv4_by_address() {
        let key = |a: &str| address_key(a.parse().unwrap());
        assert_eq!(key("203.0.113.9"), "203.0.113.9");
        assert_ne!(key("203.0.113.9"), key("203.0.113.10"), "IPv4: each address");
        assert_eq!(key("2001:db8:5:6::1"), "2001:db8:5:6::/64");
        assert_eq!(key("2001:db8:5:6:ffff:1:2:3"), key("2001:db8:5:6::1"), "one /64, one key");
        assert_ne!(key("2001:db8:5:7::1"), key("2001:db8:5:6::1"), "the next /64 is another");
        assert_eq!(key("::ffff:203.0.113.9"), "203.0.113.9", "IPv4-mapped is IPv4");
        assert_eq!(key("::1"), "::/64");
        // Behind a trusted proxy, the proxy's last entry is what is keyed.
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "198.51.100.1, 2001:db8:1:2:3:4:5:6".parse().unwrap());
        assert_eq!(client_key(true, "10.0.0.1:5000".parse().unwrap(), &h), "2001:db8:1:2::/64");
    }
}
