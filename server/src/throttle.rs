//! Counting failures (wrong passwords, wrong enrolment codes) to slow down guessing.
//!
//! Kept in memory: a restart forgets the counts, which costs an attacker a restart per window and
//! keeps every failure off the disk. Each key holds at most `limit` timestamps.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Throttle {
    limit: usize,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl Throttle {
    pub fn new(limit: usize, window: Duration) -> Throttle {
        Throttle { limit, window, failures: Mutex::new(HashMap::new()) }
    }

    fn recent<'a>(&self, map: &'a mut HashMap<String, Vec<Instant>>, key: &str, now: Instant) -> &'a mut Vec<Instant> {
        let list = map.entry(key.to_owned()).or_default();
        list.retain(|t| now.duration_since(*t) < self.window);
        list
    }

    /// Whether `key` has used up its failures for the current window.
    pub fn blocked(&self, key: &str) -> bool {
        self.blocked_at(key, Instant::now())
    }

    fn blocked_at(&self, key: &str, now: Instant) -> bool {
        let mut map = self.failures.lock().expect("throttle");
        let n = self.recent(&mut map, key, now).len();
        if n == 0 {
            map.remove(key);
        }
        n >= self.limit
    }

    pub fn fail(&self, key: &str) {
        self.fail_at(key, Instant::now())
    }

    fn fail_at(&self, key: &str, now: Instant) {
        let mut map = self.failures.lock().expect("throttle");
        // Forget idle keys now and then so that the map stays small.
        if map.len() > 10_000 {
            map.retain(|_, l| l.last().is_some_and(|t| now.duration_since(*t) < self.window));
        }
        let limit = self.limit;
        let list = self.recent(&mut map, key, now);
        if list.len() >= limit {
            list.remove(0);
        }
        list.push(now);
    }

    /// A success: the key starts afresh.
    pub fn clear(&self, key: &str) {
        self.failures.lock().expect("throttle").remove(key);
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
            assert!(!t.blocked_at("a", start), "attempt {i}");
            t.fail_at("a", start);
        }
        assert!(t.blocked_at("a", start));
        assert!(!t.blocked_at("b", start), "keys are separate");
        assert!(t.blocked_at("a", start + Duration::from_secs(59)));
        assert!(!t.blocked_at("a", start + Duration::from_secs(61)));
        t.fail_at("a", start);
        t.clear("a");
        assert!(!t.blocked_at("a", start));
    }
}
