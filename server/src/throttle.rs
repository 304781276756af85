//! Slowing down guessing (passwords, enrolment codes) without letting a stranger lock anyone
//! out.
//!
//! Two tools. A [`Throttle`] caps attempts per key in a window, and counts an attempt *before*
//! it is evaluated ([`Throttle::reserve`]), so that a burst of concurrent guesses cannot all slip
//! in between a check and a count; it is keyed on what belongs to the guesser (their address, an
//! IPv6 one by its /64 ([`crate::auth::address_key`]), or that with the account they try). A [`Brake`] is keyed on what is attacked (an
//! account, enrolment as a whole): it never refuses, it takes attempts one at a time and makes
//! each wait a little longer after every recent failure, so guessing slows to a crawl while the
//! person who knows their password still gets in.
//!
//! Kept in memory: a restart forgets the counts, which costs an attacker a restart per window and
//! keeps every failure off the disk. Keys are bounded in length by their callers and the maps are
//! pruned, so a flood of distinct keys costs a bounded amount of memory.
//!
//! With several relays on one PostgreSQL database each count is also kept in the database
//! ([`Shared`], `signpost_domain::attempts`, keys hashed), so that a guesser spreading attempts
//! over the relays gets one allowance, not one per relay. Should the database not answer, the
//! relay's own count still holds.

use signpost_domain::db::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a throttle or a brake also counts, so that every relay of a database sees its counts.
#[derive(Clone)]
pub struct Shared {
    pub store: Store,
    /// Which throttle (a row's `kind`).
    pub kind: &'static str,
}

impl Shared {
    /// Runs `f` on a pooled connection and waits for it (a failure is logged: the relay's own
    /// count still holds).
    async fn now(&self, f: impl FnOnce(&signpost_domain::sql::Connection) -> anyhow::Result<()> + Send + 'static) {
        if let Err(e) = signpost_domain::db::blocking(&self.store, move |c| f(c)).await {
            tracing::warn!(error = %e, "updating a shared attempt count failed");
        }
    }

    /// Runs `f` on a pooled connection in the background: a failure recorded need not hold up
    /// the answer to it.
    fn later(&self, f: impl FnOnce(&signpost_domain::sql::Connection) -> anyhow::Result<()> + Send + 'static) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = signpost_domain::db::blocking(&store, move |c| f(c)).await {
                tracing::warn!(error = %e, "updating a shared attempt count failed");
            }
        });
    }
}

fn now_ms() -> i64 {
    signpost_domain::util::now_ms()
}

/// Keys kept before idle ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

pub struct Throttle {
    limit: usize,
    window: Duration,
    attempts: Mutex<HashMap<String, Vec<Instant>>>,
    shared: Option<Shared>,
}

/// An attempt counted against its key: a failure unless [`Reservation::release`]d.
pub struct Reservation<'a> {
    throttle: &'a Throttle,
    key: String,
    at: Instant,
    /// Its row in the database's count, when shared.
    shared: Option<i64>,
}

impl Throttle {
    pub fn new(limit: usize, window: Duration) -> Throttle {
        Throttle { limit, window, attempts: Mutex::new(HashMap::new()), shared: None }
    }

    /// The same, also counting in the database (several relays on one database).
    pub fn shared(self, shared: Option<Shared>) -> Throttle {
        Throttle { shared, ..self }
    }

    /// Counts an attempt for `key`; `None` when the key has used up its attempts in the window
    /// (here, or across the relays of a shared database).
    pub async fn reserve(&self, key: &str) -> Option<Reservation<'_>> {
        let mut local = self.reserve_at(key, Instant::now())?;
        let Some(shared) = &self.shared else { return Some(local) };
        let (kind, k, limit, window) = (shared.kind, key.to_owned(), self.limit, self.window.as_millis() as i64);
        let counted = signpost_domain::db::blocking(&shared.store, move |c| {
            signpost_domain::attempts::reserve(c, kind, &k, limit, window, now_ms())
        })
        .await;
        match counted {
            Ok(Some(id)) => local.shared = Some(id),
            Ok(None) => {
                local.release_here();
                return None;
            }
            Err(e) => tracing::warn!(error = %e, "counting an attempt in the database failed; counted here only"),
        }
        Some(local)
    }

    fn reserve_at(&self, key: &str, now: Instant) -> Option<Reservation<'_>> {
        let mut map = self.attempts.lock().expect("throttle");
        if map.len() > PRUNE_ABOVE {
            map.retain(|_, l| l.last().is_some_and(|t| now.duration_since(*t) < self.window));
        }
        let list = map.entry(key.to_owned()).or_default();
        list.retain(|t| now.duration_since(*t) < self.window);
        if list.len() >= self.limit {
            return None;
        }
        list.push(now);
        Some(Reservation { throttle: self, key: key.to_owned(), at: now, shared: None })
    }

    /// A success: the key starts afresh.
    pub async fn clear(&self, key: &str) {
        self.attempts.lock().expect("throttle").remove(key);
        if let Some(shared) = &self.shared {
            let (kind, key) = (shared.kind, key.to_owned());
            shared.now(move |c| signpost_domain::attempts::clear(c, kind, &key)).await;
        }
    }
}

impl Reservation<'_> {
    /// The attempt succeeded: it does not count (here, and in the database before this
    /// returns, so that the next attempt through any relay finds it gone).
    pub async fn release(self) {
        if let (Some(id), Some(shared)) = (self.shared, &self.throttle.shared) {
            shared.now(move |c| signpost_domain::attempts::release(c, id)).await;
        }
        self.release_here();
    }

    /// Takes the attempt back from this relay's own count.
    fn release_here(self) {
        let mut map = self.throttle.attempts.lock().expect("throttle");
        if let Some(list) = map.get_mut(&self.key) {
            if let Some(i) = list.iter().position(|t| *t == self.at) {
                list.remove(i);
            }
            if list.is_empty() {
                map.remove(&self.key);
            }
        }
    }
}

/// Takes attempts on a key one at a time, each after a wait that grows with the key's recent
/// failures beyond `free`: `step` for each, at most `max`.
pub struct Brake {
    free: usize,
    step: Duration,
    max: Duration,
    window: Duration,
    keys: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Vec<Instant>>>>>,
    shared: Option<Shared>,
}

/// One attempt's turn on a key (held until the attempt is answered).
pub struct Turn {
    failures: tokio::sync::OwnedMutexGuard<Vec<Instant>>,
    /// Where the failure is also recorded (several relays), and under which key.
    shared: Option<(Shared, String)>,
}

impl Brake {
    pub fn new(free: usize, step: Duration, max: Duration, window: Duration) -> Brake {
        Brake { free, step, max, window, keys: Mutex::new(HashMap::new()), shared: None }
    }

    /// The same, also counting failures in the database (several relays on one database).
    pub fn shared(self, shared: Option<Shared>) -> Brake {
        Brake { shared, ..self }
    }

    /// Waits for the key's turn, then as long as its recent failures ask.
    pub async fn turn(&self, key: &str) -> Turn {
        let lock = {
            let mut keys = self.keys.lock().expect("brake");
            if keys.len() > PRUNE_ABOVE {
                // Keys nobody is waiting on and with no recent failure.
                let window = self.window;
                keys.retain(|_, k| {
                    Arc::strong_count(k) > 1
                        || k.try_lock().map_or(true, |l| l.last().is_some_and(|t| t.elapsed() < window))
                });
            }
            keys.entry(key.to_owned()).or_default().clone()
        };
        let mut failures = lock.lock_owned().await;
        failures.retain(|t| t.elapsed() < self.window);
        let mut counted = failures.len();
        if let Some(shared) = &self.shared {
            let (kind, k, since) = (shared.kind, key.to_owned(), now_ms() - self.window.as_millis() as i64);
            match signpost_domain::db::blocking(&shared.store, move |c| {
                signpost_domain::attempts::recent(c, kind, &k, since)
            })
            .await
            {
                Ok(n) => counted = counted.max(n),
                Err(e) => tracing::warn!(error = %e, "reading shared failures failed; counting this relay's only"),
            }
        }
        let over = counted.saturating_sub(self.free) as u32;
        let wait = self.step.saturating_mul(over).min(self.max);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Turn { failures, shared: self.shared.clone().map(|s| (s, key.to_owned())) }
    }
}

impl Turn {
    /// The attempt failed: later attempts on the key wait longer (on every relay, when shared).
    pub fn failed(mut self) {
        self.failures.push(Instant::now());
        if let Some((shared, key)) = self.shared.take() {
            let kind = shared.kind;
            shared.later(move |c| signpost_domain::attempts::record(c, kind, &key, now_ms()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_passes() {
        let t = Throttle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for i in 0..3 {
            assert!(t.reserve_at("a", start).is_some(), "attempt {i}");
        }
        assert!(t.reserve_at("a", start).is_none());
        assert!(t.reserve_at("b", start).is_some(), "keys are separate");
        assert!(t.reserve_at("a", start + Duration::from_secs(59)).is_none());
        assert!(t.reserve_at("a", start + Duration::from_secs(61)).is_some());
        t.attempts.lock().unwrap().remove("a");
        assert!(t.reserve_at("a", start).is_some());
    }

    #[test]
    fn a_released_attempt_does_not_count() {
        let t = Throttle::new(2, Duration::from_secs(60));
        for _ in 0..10 {
            t.reserve_at("k", Instant::now()).unwrap().release_here();
        }
        assert!(t.reserve_at("k", Instant::now()).is_some());
        assert!(t.reserve_at("k", Instant::now()).is_some());
        assert!(t.reserve_at("k", Instant::now()).is_none());
    }

    /// Many attempts at once: exactly the limit get through, whatever the interleaving.
    #[test]
    fn concurrent_attempts_cannot_pass_the_limit() {
        let t = Arc::new(Throttle::new(5, Duration::from_secs(60)));
        let through: usize = (0..30)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || t.reserve_at("k", Instant::now()).map(std::mem::forget).is_some() as usize)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(through, 5);
    }

    #[tokio::test(start_paused = true)]
    async fn the_brake_slows_failures_and_refuses_no_one() {
        let b = Brake::new(2, Duration::from_millis(500), Duration::from_secs(2), Duration::from_secs(900));
        let started = tokio::time::Instant::now();
        for _ in 0..8 {
            b.turn("acct").await.failed();
        }
        // The first three wait for nothing (two failures are free), then 0.5, 1.0, 1.5 and 2.0 s,
        // and 2.0 s (the most) after that.
        assert_eq!(started.elapsed(), Duration::from_millis(7_000));
        let t = tokio::time::Instant::now();
        let _turn = b.turn("other").await;
        assert_eq!(t.elapsed(), Duration::ZERO, "another key is not slowed");
    }
}
