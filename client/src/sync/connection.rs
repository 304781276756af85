//! The tablet's link to the relay: a browser WebSocket driving the shared [`Peer`] core, with
//! reconnection and backoff. What is synced and how is the core's business; this file only moves
//! frames and reports the connection's state.

use signpost_shared::ids::DocumentId;
use signpost_shared::peer::{Event, Peer};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};
use yew::Callback;

#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    Connecting,
    Online,
    /// Not connected; the next attempt is in this many seconds.
    Offline {
        retry_in_s: u32,
    },
    /// The relay refused what this tablet sent on its last connections (at least twice in a
    /// row, with no acknowledgement since). Entries stay on the tablet; it keeps trying.
    Refused {
        retry_in_s: u32,
    },
    /// The relay no longer accepts this tablet's credential (its coordinator revoked it). No
    /// more attempts; local data is kept.
    Revoked,
}

/// Seconds to wait before reconnect attempt `n` (1, 2, 4 … capped at 30).
pub fn backoff_s(attempt: u32) -> u32 {
    1u32.checked_shl(attempt.min(5)).unwrap_or(32).min(30)
}

struct Inner {
    url: String,
    /// The credential, to ask the relay why a connection failed.
    token: String,
    /// Whether the current socket ever opened.
    opened: bool,
    peer: Rc<RefCell<Peer>>,
    ws: Option<WebSocket>,
    attempt: u32,
    /// Connections in a row that the relay ended with an error (it refused something), and
    /// whether the current one got an error. An acknowledgement resets the count.
    refusals: u32,
    refused_now: bool,
    /// Bumped by every (re)connection attempt; a scheduled retry only runs if still current.
    generation: u32,
    stopped: bool,
    on_status: Callback<Status>,
    on_event: Callback<Event>,
    // Kept alive as long as the socket they are attached to.
    handlers: Vec<Box<dyn std::any::Any>>,
}

#[derive(Clone)]
pub struct Connection(Rc<RefCell<Inner>>);

impl PartialEq for Connection {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// `ws(s)://host/sync` for the app's own origin (from a page or the service worker). The
/// credential is not in it: proxies log URLs (see [`protocols`]).
fn sync_url() -> String {
    let loc = js_sys::Reflect::get(&js_sys::global(), &"location".into()).unwrap_or_default();
    let part = |k: &str| js_sys::Reflect::get(&loc, &k.into()).ok().and_then(|v| v.as_string()).unwrap_or_default();
    let scheme = if part("protocol") == "https:" { "wss" } else { "ws" };
    let host = part("host");
    format!("{scheme}://{host}/sync")
}

/// The WebSocket subprotocols the app offers: `signpost`, which the relay picks, and one that
/// carries the credential (`bearer.<token>`): a browser cannot set `Authorization` on a
/// WebSocket, and this header, unlike the URL, is not what proxies log.
fn protocols(token: &str) -> js_sys::Array {
    let list = js_sys::Array::new();
    list.push(&"signpost".into());
    list.push(&format!("bearer.{token}").into());
    list
}

/// Whether the relay still accepts a credential (`GET /api/v1/device`): `None` if it cannot be
/// reached. Works in pages and in the service worker alike.
async fn still_accepted(token: &str) -> Option<bool> {
    match get(token, "/api/v1/device").await?.status() {
        200 => Some(true),
        401 => Some(false),
        _ => None,
    }
}

/// A GET of the API with the tablet's credential; `None` if it could not be made.
async fn get(token: &str, path: &str) -> Option<web_sys::Response> {
    let init = web_sys::RequestInit::new();
    let headers = web_sys::Headers::new().ok()?;
    headers.set("Authorization", &format!("Bearer {token}")).ok()?;
    init.set_headers(&headers);
    let req = web_sys::Request::new_with_str_and_init(path, &init).ok()?;
    let global = js_sys::global();
    let fetch: js_sys::Function = js_sys::Reflect::get(&global, &"fetch".into()).ok()?.dyn_into().ok()?;
    let promise: js_sys::Promise = fetch.call1(&global, &req).ok()?.dyn_into().ok()?;
    wasm_bindgen_futures::JsFuture::from(promise).await.ok()?.dyn_into().ok()
}

/// What the server says became of one of the tablet's site's documents (asked when the relay
/// says a document the tablet holds is unavailable).
pub enum Fate {
    /// Removed for good (past the retention period): drop it.
    Removed,
    /// Replaced (an entry erased or its notes redacted): follow it to this document.
    Replaced(DocumentId),
}

/// `None` when the server could not be asked or does not know the document.
pub async fn fate(token: &str, doc: &DocumentId) -> Option<Fate> {
    let resp = get(token, &format!("/api/v1/device/documents/{doc}")).await?;
    if resp.status() != 200 {
        return None;
    }
    let body = wasm_bindgen_futures::JsFuture::from(resp.json().ok()?).await.ok()?;
    let field = |name: &str| js_sys::Reflect::get(&body, &name.into()).ok()?.as_string();
    match field("state")?.as_str() {
        "removed" => Some(Fate::Removed),
        "replaced" => Some(Fate::Replaced(field("replaced_by")?.parse().ok()?)),
        _ => None,
    }
}

/// The days of the tablet's site with open follow-ups, from the relay (`None` when it cannot be
/// asked now).
pub async fn follow_up_days(token: &str) -> Option<Vec<DocumentId>> {
    let resp = get(token, "/api/v1/device/follow-ups").await?;
    if resp.status() != 200 {
        return None;
    }
    let body = wasm_bindgen_futures::JsFuture::from(resp.json().ok()?).await.ok()?;
    let list = js_sys::Reflect::get(&body, &"documents".into()).ok()?;
    let ids = js_sys::Array::from(&list);
    Some(ids.iter().filter_map(|v| v.as_string()?.parse().ok()).collect())
}

impl Connection {
    pub fn start(
        token: &str,
        peer: Rc<RefCell<Peer>>,
        on_status: Callback<Status>,
        on_event: Callback<Event>,
    ) -> Connection {
        let c = Connection(Rc::new(RefCell::new(Inner {
            url: sync_url(),
            token: token.to_owned(),
            opened: false,
            peer,
            ws: None,
            attempt: 0,
            refusals: 0,
            refused_now: false,
            generation: 0,
            stopped: false,
            on_status,
            on_event,
            handlers: Vec::new(),
        })));
        c.open();
        c.watch_network();
        c
    }

    /// Reconnects at once when the browser says the network is back or the tablet wakes up,
    /// instead of waiting out the backoff.
    fn watch_network(&self) {
        let Some(window) = web_sys::window() else { return };
        let me = self.clone();
        let retry_now = Closure::<dyn FnMut()>::new(move || {
            let idle = {
                let inner = me.0.borrow();
                !inner.stopped && inner.ws.is_none()
            };
            let visible = web_sys::window()
                .and_then(|w| w.document())
                .map(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
                .unwrap_or(true);
            if idle && visible {
                me.0.borrow_mut().attempt = 0;
                me.open();
            }
        });
        let _ = window.add_event_listener_with_callback("online", retry_now.as_ref().unchecked_ref());
        // The browser says the network is gone: a socket that looks open would only say
        // "online" until it times out.
        let me = self.clone();
        let gone = Closure::<dyn FnMut()>::new(move || {
            // Closed here and now, not when the socket's close completes: that needs the network
            // that just went, and until then the status would still say "online".
            let ws = me.0.borrow_mut().ws.take();
            let Some(ws) = ws else { return };
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
            let peer = me.0.borrow().peer.clone();
            peer.borrow_mut().on_close();
            if !me.0.borrow().stopped {
                me.retry_later();
            }
        });
        let _ = window.add_event_listener_with_callback("offline", gone.as_ref().unchecked_ref());
        gone.forget();
        if let Some(doc) = window.document() {
            let _ = doc.add_event_listener_with_callback("visibilitychange", retry_now.as_ref().unchecked_ref());
        }
        // Lives as long as the page: the app keeps one connection for its lifetime.
        retry_now.forget();
    }

    pub fn stop(&self) {
        let mut inner = self.0.borrow_mut();
        inner.stopped = true;
        if let Some(ws) = inner.ws.take() {
            let _ = ws.close();
        }
    }

    /// Sends what the peer produced (if connected) and reports its events.
    pub fn deliver(&self, out: signpost_shared::peer::Output) {
        let (ws, on_event) = {
            let inner = self.0.borrow();
            (inner.ws.clone(), inner.on_event.clone())
        };
        if let Some(ws) = ws.filter(|w| w.ready_state() == WebSocket::OPEN) {
            for frame in out.sends {
                let _ = ws.send_with_u8_array(&frame);
            }
        }
        for e in out.events {
            on_event.emit(e);
        }
    }

    fn open(&self) {
        self.0.borrow_mut().generation += 1;
        self.0.borrow_mut().opened = false;
        let (url, token) = (self.0.borrow().url.clone(), self.0.borrow().token.clone());
        if self.0.borrow().refusals < 2 {
            self.0.borrow().on_status.emit(Status::Connecting);
        }
        let ws = match WebSocket::new_with_str_sequence(&url, &protocols(&token)) {
            Ok(ws) => ws,
            Err(_) => return self.retry_later(),
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let me = self.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || {
            me.0.borrow_mut().attempt = 0;
            me.0.borrow_mut().opened = true;
            let peer = me.0.borrow().peer.clone();
            let join = peer.borrow_mut().on_open();
            me.deliver(signpost_shared::peer::Output { sends: vec![join], events: vec![] });
        });
        let me = self.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let Ok(buf) = e.data().dyn_into::<js_sys::ArrayBuffer>() else { return };
            let bytes = js_sys::Uint8Array::new(&buf).to_vec();
            let peer = me.0.borrow().peer.clone();
            let result = peer.borrow_mut().receive(&bytes);
            match result {
                Ok(out) => {
                    // While refused, the status stays "not syncing" until the relay
                    // acknowledges something again, rather than flickering to "online".
                    for e in &out.events {
                        let refused = me.0.borrow().refusals >= 2;
                        match e {
                            Event::Ready { .. } if !refused => me.0.borrow().on_status.emit(Status::Online),
                            Event::RelayError(_) => me.0.borrow_mut().refused_now = true,
                            Event::Synced(_) => {
                                me.0.borrow_mut().refusals = 0;
                                if refused {
                                    me.0.borrow().on_status.emit(Status::Online);
                                }
                            }
                            _ => {}
                        }
                    }
                    me.deliver(out);
                }
                Err(_) => {
                    // A relay we cannot understand: drop the socket and try again later.
                    if let Some(ws) = me.0.borrow().ws.clone() {
                        let _ = ws.close();
                    }
                }
            }
        });
        let me = self.clone();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| {
            let peer = me.0.borrow().peer.clone();
            peer.borrow_mut().on_close();
            {
                let mut inner = me.0.borrow_mut();
                inner.ws = None;
                if std::mem::take(&mut inner.refused_now) {
                    inner.refusals += 1;
                }
            }
            if me.0.borrow().stopped {
                return;
            }
            if e.reason().contains("revoked") {
                return me.revoked();
            }
            // 1012, "service restart": the relay is stopping for a restart or an upgrade and
            // will be back in moments. Come back soon, each tablet at its own moment.
            if e.code() == 1012 {
                me.0.borrow_mut().attempt = 0;
                let wait = 1 + (js_sys::Math::random() * 4.0) as u32;
                return me.retry_in(wait, Status::Offline { retry_in_s: wait });
            }
            if me.0.borrow().opened {
                return me.retry_later();
            }
            // Refused before it opened: the network, or the credential? Browsers do not say.
            let (me, token) = (me.clone(), me.0.borrow().token.clone());
            wasm_bindgen_futures::spawn_local(async move {
                if still_accepted(&token).await == Some(false) {
                    me.revoked();
                } else {
                    me.retry_later();
                }
            });
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut inner = self.0.borrow_mut();
        inner.handlers = vec![Box::new(on_open), Box::new(on_message), Box::new(on_close)];
        inner.ws = Some(ws);
    }

    fn revoked(&self) {
        self.0.borrow_mut().stopped = true;
        self.0.borrow().on_status.emit(Status::Revoked);
    }

    fn retry_later(&self) {
        let attempt = {
            let mut inner = self.0.borrow_mut();
            inner.attempt += 1;
            inner.attempt
        };
        // Refused again and again: back off as if the relay were unreachable.
        let refusals = self.0.borrow().refusals;
        let wait = backoff_s((attempt - 1).max(refusals));
        let status =
            if refusals >= 2 { Status::Refused { retry_in_s: wait } } else { Status::Offline { retry_in_s: wait } };
        self.retry_in(wait, status);
    }

    /// Opens the socket again in `wait` seconds, saying so.
    fn retry_in(&self, wait: u32, status: Status) {
        self.0.borrow().on_status.emit(status);
        let me = self.clone();
        let generation = self.0.borrow().generation;
        wasm_bindgen_futures::spawn_local(async move {
            gloo_timers::future::TimeoutFuture::new(wait * 1000).await;
            let current = {
                let inner = me.0.borrow();
                !inner.stopped && inner.generation == generation && inner.ws.is_none()
            };
            if current {
                me.open();
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_s;

    #[test]
    fn backoff_doubles_then_caps() {
        let waits: Vec<u32> = (0..8).map(backoff_s).collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
