//! What the relay thread's writes last came to: whether it is waiting for the database's write
//! lock now (and since when), and when it last tried to commit and whether that worked. The
//! relay thread records them as it goes; `/readiness` ([`crate::ops`]) reads them, so that it
//! can tell whether the relay stores what tablets send without taking the write lock itself
//! (anyone may ask for readiness, and every check that took the lock made the relay's batches
//! wait their turn behind it).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// The relay thread's record (one relay thread a process).
pub static COMMITS: Commits = Commits::new();

pub struct Commits {
    /// When the relay thread began waiting for the write lock (ms since the Unix epoch); 0 while
    /// it is not waiting.
    waiting_since: AtomicI64,
    /// When the last commit was tried (ms since the Unix epoch; 0: none yet), and whether it
    /// failed (a batch refused because its transaction could not begin counts as failed).
    last_at: AtomicI64,
    last_failed: AtomicBool,
}

/// What [`Commits::now`] says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    /// How long the relay thread has been waiting for the write lock, if it is.
    pub waiting_ms: Option<i64>,
    /// How long ago the last commit was tried and whether it worked, if one was.
    pub last: Option<(i64, bool)>,
}

impl Commits {
    pub const fn new() -> Commits {
        Commits { waiting_since: AtomicI64::new(0), last_at: AtomicI64::new(0), last_failed: AtomicBool::new(false) }
    }

    /// Begins a write transaction with `begin` (which waits for the write lock), recording the
    /// wait, and a failure to begin as a failed commit.
    pub fn begin<T, E>(&self, begin: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.waiting_since.store(now_ms(), Ordering::Relaxed);
        let begun = begin();
        self.waiting_since.store(0, Ordering::Relaxed);
        if begun.is_err() {
            self.ended(false);
        }
        begun
    }

    /// A commit was tried: `ok` if it worked.
    pub fn ended(&self, ok: bool) {
        self.last_failed.store(!ok, Ordering::Relaxed);
        self.last_at.store(now_ms(), Ordering::Relaxed);
    }

    /// What the relay thread's writes came to, as of now.
    pub fn now(&self) -> Seen {
        let now = now_ms();
        let since = self.waiting_since.load(Ordering::Relaxed);
        let at = self.last_at.load(Ordering::Relaxed);
        Seen {
            waiting_ms: (since > 0).then(|| (now - since).max(0)),
            last: (at > 0).then(|| ((now - at).max(0), !self.last_failed.load(Ordering::Relaxed))),
        }
    }
}

impl Default for Commits {
    fn default() -> Commits {
        Commits::new()
    }
}

fn now_ms() -> i64 {
    signpost_domain::util::now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_and_outcomes_are_recorded() {
        let c = Commits::new();
        assert_eq!(c.now(), Seen { waiting_ms: None, last: None });
        let during = c.begin(|| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            Ok::<_, ()>(c.now())
        });
        assert!(during.unwrap().waiting_ms.is_some_and(|ms| ms >= 20), "waiting while it begins");
        assert_eq!(c.now().waiting_ms, None, "and no longer once it has begun");
        c.ended(true);
        assert!(matches!(c.now().last, Some((_, true))));
        assert!(c.begin(|| Err::<(), _>("locked")).is_err());
        assert!(matches!(c.now().last, Some((_, false))), "a batch that could not begin failed");
        c.ended(true);
        assert!(matches!(c.now().last, Some((_, true))), "until a later commit works");
    }
}
