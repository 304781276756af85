//! What every request handler can reach: the store, the relay, limits and guards. Handlers
//! take the parts they need (`State<Store>`, `State<Hub>`) through [`FromRef`].

use crate::relay::Hub;
use crate::throttle::{Brake, Throttle};
use axum::extract::FromRef;
use signpost_domain::db::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub hub: Hub,
    pub max_message_bytes: usize,
    /// Cookies are marked `Secure` (the relay is reached through a TLS proxy).
    pub behind_tls: bool,
    pub guards: std::sync::Arc<Guards>,
    /// Disclosure control of national figures.
    pub disclosure: signpost_shared::disclosure::Policy,
    /// The relay sits behind a proxy it trusts to append the client's address to
    /// `X-Forwarded-For` (otherwise the header is ignored: anyone can send it).
    pub trust_forwarded_for: bool,
    pub sockets: std::sync::Arc<Sockets>,
    /// Where people reach Signpost (`https://signpost.example.org`), for the links the pages
    /// hand out.
    pub public_url: Option<String>,
}

/// Tablets' sockets: how many one device may hold open, how soon a new one must join, and how
/// often a quiet one is pinged (three unanswered and it is closed).
pub struct Sockets {
    pub per_device: usize,
    pub join_within: std::time::Duration,
    pub keepalive: std::time::Duration,
    open: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    /// Set when the relay stops: every socket closes, telling its tablet to come back soon.
    stop: tokio::sync::watch::Sender<bool>,
}

impl Sockets {
    pub fn new(per_device: usize, join_within: std::time::Duration, keepalive: std::time::Duration) -> Sockets {
        Sockets {
            per_device,
            join_within,
            keepalive,
            open: Default::default(),
            stop: tokio::sync::watch::channel(false).0,
        }
    }

    /// Becomes true when the relay stops.
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Tells every socket, and every connection that asks [`Sockets::stopping`], to close.
    pub fn stop_all(&self) {
        self.stop.send_replace(true);
    }

    /// Sockets open now, of every device.
    pub fn open_count(&self) -> usize {
        self.open.lock().expect("sockets").values().sum()
    }

    /// A place for one more socket of `device`; `None` when it holds as many as it may.
    pub fn take(self: &std::sync::Arc<Self>, device: &str) -> Option<SocketPlace> {
        let mut open = self.open.lock().expect("sockets");
        let n = open.entry(device.to_owned()).or_default();
        if *n >= self.per_device {
            return None;
        }
        *n += 1;
        Some(SocketPlace { sockets: self.clone(), device: device.to_owned() })
    }
}

/// One open socket of a device; the place is given back when it is dropped.
pub struct SocketPlace {
    sockets: std::sync::Arc<Sockets>,
    device: String,
}

impl Drop for SocketPlace {
    fn drop(&mut self) {
        let mut open = self.sockets.open.lock().expect("sockets");
        if let Some(n) = open.get_mut(&self.device) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.device);
            }
        }
    }
}

impl FromRef<AppState> for Store {
    fn from_ref(st: &AppState) -> Store {
        st.store.clone()
    }
}

impl FromRef<AppState> for Hub {
    fn from_ref(st: &AppState) -> Hub {
        st.hub.clone()
    }
}

/// What slows guessing of passwords and enrolment codes (see [`crate::throttle`]): limits on
/// what belongs to the guesser, brakes on what is attacked.
pub struct Guards {
    /// Sign-in attempts per address and account: a stranger elsewhere cannot use up a person's.
    pub sign_in_pair: Throttle,
    /// Sign-in attempts per address.
    pub sign_in_ip: Throttle,
    /// Each account's sign-ins, one at a time, slower after failures from anywhere.
    pub sign_in_account: Brake,
    /// Enrolment attempts per address.
    pub enrol_ip: Throttle,
    /// Enrolment as a whole: past 300 wrong codes in a quarter hour, one attempt at a time,
    /// 100 ms each — at most ten guesses a second for everyone together, about one chance in
    /// 10⁸ per live code (31⁸ codes, 15 minutes each), and no one shut out.
    pub enrol_all: Brake,
}

impl Default for Guards {
    fn default() -> Guards {
        Guards::new(None)
    }
}

impl Guards {
    /// The guards; with `store`, counting in the database too (several relays on PostgreSQL).
    pub fn new(store: Option<&signpost_domain::db::Store>) -> Guards {
        let shared = |kind| store.map(|store| crate::throttle::Shared { store: store.clone(), kind });
        use std::time::Duration;
        let quarter = Duration::from_secs(15 * 60);
        Guards {
            sign_in_pair: Throttle::new(5, quarter).shared(shared("sign_in_pair")),
            sign_in_ip: Throttle::new(50, quarter).shared(shared("sign_in_ip")),
            sign_in_account: Brake::new(5, Duration::from_secs(1), Duration::from_secs(5), quarter)
                .shared(shared("sign_in_account")),
            enrol_ip: Throttle::new(10, quarter).shared(shared("enrol_ip")),
            enrol_all: Brake::new(300, Duration::from_millis(100), Duration::from_millis(100), quarter)
                .shared(shared("enrol_all")),
        }
    }
}
