//! Hearing that other relays stored changes (several relays on one PostgreSQL database): a
//! thread of its own holds a connection that LISTENs on [`CHANGED_CHANNEL`] and reports each
//! announcement. The connection must reach PostgreSQL directly (or through a session-pooling
//! pooler): a transaction-pooling one hands LISTEN's session to someone else.
//!
//! Announcements are hints. While the connection is down some are missed, so after every
//! (re)connection the caller is told to read everything stored since it last read; and the
//! relay reads what was stored elsewhere at every batch anyway, at least once a second.

use super::documents::CHANGED_CHANNEL;
use postgres::fallible_iterator::FallibleIterator;
use signpost_shared::ids::DocumentId;
use std::time::Duration;

/// What the listener reports: documents named by an announcement, or `All` (read everything
/// stored since the last read: after a (re)connection, or an announcement naming too many).
#[derive(Debug, PartialEq, Eq)]
pub enum Changed {
    Docs(Vec<DocumentId>),
    All,
}

/// Starts the listening thread on the database at `url`. `report` returns false once nobody
/// needs reports any more, and the thread ends.
pub fn spawn(url: String, report: impl Fn(Changed) -> bool + Send + 'static) -> std::io::Result<()> {
    std::thread::Builder::new().name("listen".into()).spawn(move || listen(&url, &report))?;
    Ok(())
}

fn listen(url: &str, report: &dyn Fn(Changed) -> bool) {
    let mut failures = 0u32;
    loop {
        match listen_once(url, report) {
            Ok(()) => return,
            Err(e) => {
                failures += 1;
                if failures == 1 || failures % 60 == 0 {
                    tracing::warn!(error = %e, "listening for other relays' changes failed; reconnecting");
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// One connection's worth of listening: `Ok` when reports are no longer wanted.
fn listen_once(url: &str, report: &dyn Fn(Changed) -> bool) -> anyhow::Result<()> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    client.batch_execute(&format!("LISTEN {CHANGED_CHANNEL}"))?;
    // Whatever was announced while not listening.
    if !report(Changed::All) {
        return Ok(());
    }
    loop {
        // Wait for one announcement, then take those already here with it.
        let first = client.notifications().timeout_iter(Duration::from_secs(5)).next()?;
        let mut got: Vec<_> = first.into_iter().collect();
        if !got.is_empty() {
            let mut notes = client.notifications();
            let mut pending = notes.iter();
            while let Some(note) = pending.next()? {
                got.push(note);
            }
        }
        if got.is_empty() {
            // Quiet for a while: is the connection still there?
            if client.is_valid(Duration::from_secs(5)).is_err() {
                anyhow::bail!("the listening connection was lost");
            }
            continue;
        }
        let mut docs = Vec::new();
        let mut all = false;
        for note in got {
            if note.payload().is_empty() {
                all = true;
            }
            docs.extend(note.payload().split(',').filter_map(|d| d.parse::<DocumentId>().ok()));
        }
        if !report(if all { Changed::All } else { Changed::Docs(docs) }) {
            return Ok(());
        }
    }
}
