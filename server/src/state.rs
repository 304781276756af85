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
    /// Password hashing, a few at a time.
    pub passwords: std::sync::Arc<Passwords>,
    /// CSV downloads, a few at a time.
    pub exports: std::sync::Arc<Exports>,
}

/// CSV downloads being prepared or sent: each reads the database for as long as it takes (the
/// referral export on a connection and in a read transaction of its own, until its client has
/// taken the last line), so they are limited for each person and for everyone together. A
/// download past either limit is refused at once: it is never queued.
pub struct Exports {
    all: std::sync::Arc<tokio::sync::Semaphore>,
    /// Each account's downloads under way.
    held: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// Why a download was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Crowded {
    /// The person has [`Exports::PER_ACCOUNT`] under way.
    Yours,
    /// The relay has as many under way as it takes.
    Everyone,
}

impl Exports {
    /// Downloads one account may have under way at once.
    pub const PER_ACCOUNT: usize = 2;

    pub fn new(all: usize) -> Exports {
        Exports { all: std::sync::Arc::new(tokio::sync::Semaphore::new(all.max(1))), held: Default::default() }
    }

    /// A place for one more download of `account`, given back when dropped.
    pub fn take(self: &std::sync::Arc<Self>, account: &str) -> Result<ExportPlace, Crowded> {
        let mut held = self.held.lock().expect("exports");
        let n = held.entry(account.to_owned()).or_default();
        if *n >= Exports::PER_ACCOUNT {
            return Err(Crowded::Yours);
        }
        let Ok(permit) = self.all.clone().try_acquire_owned() else {
            if *n == 0 {
                held.remove(account);
            }
            return Err(Crowded::Everyone);
        };
        *n += 1;
        Ok(ExportPlace { exports: self.clone(), account: account.to_owned(), _permit: permit })
    }
}

/// One download under way; its places are given back when it is dropped.
pub struct ExportPlace {
    exports: std::sync::Arc<Exports>,
    account: String,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for ExportPlace {
    fn drop(&mut self) {
        let mut held = self.exports.held.lock().expect("exports");
        if let Some(n) = held.get_mut(&self.account) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.account);
            }
        }
    }
}

/// Password hashing and checking (argon2id: about 19 MiB and 50 ms of a core each), a few at a
/// time for the whole relay. Two hundred sign-ins at once each took their 19 MiB together and
/// the relay's memory grew by 900 MiB; a few turns, each using again the working memory the
/// last one left (`signpost_domain::accounts`), hold it to a few times 19 MiB. A request that
/// finds every turn taken waits briefly, behind a few others at most, then is told to try again
/// in a moment: never queued without bound.
pub struct Passwords {
    turns: std::sync::Arc<tokio::sync::Semaphore>,
    /// Requests waiting for a turn now.
    waiting: std::sync::atomic::AtomicUsize,
    most_waiting: usize,
    wait: std::time::Duration,
}

impl Passwords {
    /// How long a request waits for a turn before it is told to try again.
    pub const WAIT: std::time::Duration = std::time::Duration::from_secs(2);
    /// Requests that may wait at once, for each turn.
    pub const WAITING_PER_TURN: usize = 8;

    /// `at_once` turns.
    pub fn new(at_once: usize) -> Passwords {
        Passwords::with_wait(at_once, Passwords::WAIT)
    }

    fn with_wait(at_once: usize, wait: std::time::Duration) -> Passwords {
        let at_once = at_once.max(1);
        Passwords {
            turns: std::sync::Arc::new(tokio::sync::Semaphore::new(at_once)),
            waiting: Default::default(),
            most_waiting: at_once * Passwords::WAITING_PER_TURN,
            wait,
        }
    }

    /// The default number of turns: the relay's cores, from 2 to 4 (hashing is all CPU, and
    /// more at once would only take more memory).
    pub fn default_turns() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4)
    }

    /// Runs `f` (which hashes or checks a password) on a pooled connection in its turn, and
    /// waits for it; `None` when no turn came free within [`Passwords::WAIT`] or too many
    /// requests wait already: the caller answers at once. The turn is held until `f` is done,
    /// even if the request is given up meanwhile.
    pub async fn run<T: Send + 'static>(
        &self,
        store: &Store,
        f: impl FnOnce(&mut signpost_domain::sql::Connection) -> anyhow::Result<T> + Send + 'static,
    ) -> Option<anyhow::Result<T>> {
        let turn = self.turn().await?;
        Some(
            signpost_domain::db::blocking(store, move |c| {
                let done = f(c);
                drop(turn);
                done
            })
            .await,
        )
    }

    /// A turn, held until dropped; `None` as for [`Passwords::run`].
    async fn turn(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        use std::sync::atomic::Ordering;
        if let Ok(turn) = self.turns.clone().try_acquire_owned() {
            return Some(turn);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.most_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let turn = tokio::time::timeout(self.wait, self.turns.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        turn.ok()?.ok()
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Two turns: two at once, a few more wait for theirs, and past the waiting room or the wait
    /// a request is told at once.
    #[tokio::test(start_paused = true)]
    async fn passwords_are_hashed_a_few_at_a_time_and_the_rest_told_at_once() {
        let p = std::sync::Arc::new(Passwords::with_wait(2, Duration::from_secs(2)));
        let (a, b) = (p.turn().await.unwrap(), p.turn().await.unwrap());
        // Sixteen may wait (eight per turn); the seventeenth is told at once. A request that
        // gets a turn keeps it.
        let (told, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..16 {
            let (p, told) = (p.clone(), told.clone());
            tokio::spawn(async move {
                let turn = p.turn().await;
                told.send(turn.is_some()).unwrap();
                if turn.is_some() {
                    std::future::pending::<()>().await;
                }
            });
        }
        tokio::task::yield_now().await;
        let asked = tokio::time::Instant::now();
        assert!(p.turn().await.is_none(), "the waiting room is full");
        assert_eq!(asked.elapsed(), Duration::ZERO, "told at once");
        // One turn comes free: one waiting request takes it; the rest give up after the wait.
        drop(a);
        let mut got = 0;
        for _ in 0..16 {
            got += usize::from(outcomes.recv().await.unwrap());
        }
        assert_eq!(got, 1);
        assert_eq!(asked.elapsed(), Duration::from_secs(2));
        drop(b);
        assert!(p.turn().await.is_some(), "a turn is free again");
    }

    #[test]
    fn downloads_are_limited_for_each_person_and_for_everyone() {
        let e = std::sync::Arc::new(Exports::new(3));
        let a1 = e.take("a").unwrap();
        let a2 = e.take("a").unwrap();
        assert_eq!(e.take("a").err(), Some(Crowded::Yours));
        let b1 = e.take("b").unwrap();
        assert_eq!(e.take("c").err(), Some(Crowded::Everyone));
        assert_eq!(e.take("b").err(), Some(Crowded::Everyone));
        drop(a1);
        let c1 = e.take("c").unwrap();
        drop((a2, b1, c1));
        assert!(e.held.lock().unwrap().is_empty(), "nothing kept for accounts with nothing under way");
        assert_eq!(e.all.available_permits(), 3);
    }

    /// Password work runs in its turn, with a connection of the store's pool, and holds its
    /// turn until it is done, even when its request is given up.
    #[tokio::test]
    async fn password_work_holds_its_turn_until_done() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path(), signpost_domain::db::Sync::Normal).unwrap();
        let p = std::sync::Arc::new(Passwords::with_wait(1, Duration::from_millis(50)));
        let one = p.run(&store, |c| Ok(c.query_row("SELECT 1", (), |r| r.get::<_, i64>(0))?)).await;
        assert_eq!(one.unwrap().unwrap(), 1);
        let (started, release) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let slow = {
            let (p, store, started) = (p.clone(), store.clone(), started.0);
            tokio::spawn(async move {
                p.run(&store, move |_| {
                    started.send(()).unwrap();
                    release.1.recv().unwrap();
                    Ok(())
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || started.1.recv().unwrap()).await.unwrap();
        slow.abort();
        assert!(p.run(&store, |_| Ok(())).await.is_none(), "the given-up request's work still holds the turn");
        release.0.send(()).unwrap();
        let again = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                if let Some(done) = p.run(&store, |_| Ok(())).await {
                    return done;
                }
            }
        });
        assert!(again.await.unwrap().is_ok(), "and gives it back when done");
    }
}
