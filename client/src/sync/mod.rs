//! The tablet's side of sync, below the screens: local storage (IndexedDB), the replica of
//! documents over it, the connection to the relay, and background sync in the service worker.

pub mod background;
pub mod connection;
pub mod replica;
pub mod storage;

/// A random suffix for this run's peer id and actor.
pub fn random_suffix() -> String {
    // The browser's crypto source (through getrandom), in pages and service workers alike.
    automerge::ActorId::random().to_hex_string()[..16].to_owned()
}
