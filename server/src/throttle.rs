//! Slowing down guessing (passwords, enrolment codes) without letting a stranger lock anyone
//! out.
//!
//! Two tools. A [`Throttle`] caps attempts per key in a window, and counts an attempt *before*
//! it is evaluated ([`Throttle::reserve`]), so that a burst of concurrent guesses cannot all slip
//! in between a check and a count; it is keyed on what belongs to the guesser (their address, or
//! their address with the account they try). A [`Brake`] is keyed on what is attacked (an
//! account, enrolment as a whole): it never refuses, it takes attempts one at a time and makes
//! each wait a little longer after every recent failure, so guessing slows to a crawl while the
//! person who knows their password still gets in.
//!
//! Kept in memory: a restart forgets the counts, which costs an attacker a restart per window and
//! keeps every failure off the disk. Keys are bounded in length by their callers and the maps are
//! pruned, so a flood of distinct keys costs a bounded amount of memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Keys kept before idle ones are forgotten.
const PRUNE_ABOVE: usize = 10_000;

pub struct Throttle {
    limit: usize,
    window: Duration,
    attempts: Mutex<HashMap<String, Vec<Instant>>>,
}

/// An attempt counted against its key: a failure unless [`Reservation::release`]d.
pub struct Reservation<'a> {
    throttle: &'a Throttle,
    key: String,
    at: Instant,
}

impl Throttle {
    pub fn new(limit: usize, window: Duration) -> Throttle {
        Throttle { limit, window, attempts: Mutex::new(HashMap::new()) }
    }

    /// Counts an attempt for `key`; `None` when the key has used up its attempts in the window.
    pub fn reserve(&self, key: &str) -> Option<Reservation<'_>> {
        self.reserve_at(key, Instant::now())
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
        Some(Reservation { throttle: self, key: key.to_owned(), at: now })
    }

    /// A success: the key starts afresh.
    pub fn clear(&self, key: &str) {
        self.attempts.lock().expect("throttle").remove(key);
    }
}

impl Reservation<'_> {
    /// The attempt succeeded: it does not count.
    pub fn release(self) {
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
}

/// One attempt's turn on a key (held until the attempt is answered).
pub struct Turn {
    failures: tokio::sync::OwnedMutexGuard<Vec<Instant>>,
}

impl Brake {
    pub fn new(free: usize, step: Duration, max: Duration, window: Duration) -> Brake {
        Brake { free, step, max, window, keys: Mutex::new(HashMap::new()) }
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
        let over = failures.len().saturating_sub(self.free) as u32;
        let wait = self.step.saturating_mul(over).min(self.max);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Turn { failures }
    }
}

impl Turn {
    /// The attempt failed: later attempts on the key wait longer.
    pub fn failed(mut self) {
        self.failures.push(Instant::now());
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
        t.clear("a");
        assert!(t.reserve_at("a", start).is_some());
    }

    #[test]
    fn a_released_attempt_does_not_count() {
        let t = Throttle::new(2, Duration::from_secs(60));
        for _ in 0..10 {
            t.reserve("k").unwrap().release();
        }
        assert!(t.reserve("k").is_some());
        assert!(t.reserve("k").is_some());
        assert!(t.reserve("k").is_none());
    }

    /// Many attempts at once: exactly the limit get through, whatever the interleaving.
    #[test]
    fn concurrent_attempts_cannot_pass_the_limit() {
        let t = Arc::new(Throttle::new(5, Duration::from_secs(60)));
        let through: usize = (0..30)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || t.reserve("k").map(std::mem::forget).is_some() as usize)
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
