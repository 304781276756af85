//! What every request handler can reach: the store, the relay, limits and guards. Handlers
//! take the parts they need (`State<Store>`, `State<Hub>`) through [`FromRef`].

use crate::relay::Hub;
use crate::throttle::Throttle;
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

/// Failure counters against guessing passwords and enrolment codes.
pub struct Guards {
    /// Wrong passwords per email address.
    pub sign_in_email: Throttle,
    /// Wrong passwords per network address.
    pub sign_in_ip: Throttle,
    /// Wrong enrolment codes per network address.
    pub enrol_ip: Throttle,
    /// Wrong enrolment codes from everywhere: with 31⁸ possible codes, 300 guesses per quarter
    /// hour give a guesser about one chance in 10⁹ per live code.
    pub enrol_all: Throttle,
}

impl Default for Guards {
    fn default() -> Guards {
        let quarter = std::time::Duration::from_secs(15 * 60);
        Guards {
            sign_in_email: Throttle::new(5, quarter),
            sign_in_ip: Throttle::new(50, quarter),
            enrol_ip: Throttle::new(10, quarter),
            enrol_all: Throttle::new(300, quarter),
        }
    }
}
