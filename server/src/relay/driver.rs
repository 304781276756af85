//! The relay thread: takes commands in batches, hands them to the [`Relay`] core and carries out
//! what it asks for against SQLite, then sends.
//!
//! A batch runs in one IMMEDIATE transaction, so it holds the write lock from its start: a writer
//! elsewhere (the web pages, an admin command) makes it wait its turn (busy timeout) instead of
//! failing a read-then-write upgrade at once. Each command runs under its own savepoint: a command
//! whose writes fail is rolled back alone and affects only its own connection (or edit), and the
//! rest of the batch goes on.

use super::{Cmd, HubStats, Outlet, REVOKED};
use signpost_domain::db::documents;
use signpost_domain::sql::{Connection, Transaction};
use signpost_domain::util::now_ms;
use signpost_domain::{retention, schemes, tablets};
use signpost_shared::ids::DocumentId;
use signpost_shared::relay::{ConnId, Output, Relay};
use std::collections::{HashMap, HashSet};
use std::time::Instant;
use tokio::sync::mpsc;

const MAX_BATCH: usize = 2048;

/// How often a tablet's "last synced" time is written while it syncs.
const ACTIVITY_EVERY_MS: i64 = 60_000;

/// How far back each tick reads revocations and retirements before the previous read.
const REVOCATION_LOOK_BACK_MS: i64 = 10_000;

/// How often the schemes' retention periods are read again (they change rarely, on a web page).
const RETENTION_EVERY_MS: i64 = 60_000;

/// What a device or an edit is told when its change could not be stored.
const NOT_STORED: &str = "the relay could not store this change";

type Reply = tokio::sync::oneshot::Sender<Result<(), String>>;

/// The writing connection and everything else, apart so that a transaction on the one can be
/// open while the other changes.
pub(super) struct Driver {
    db: Connection,
    core: Core,
    /// With other relays on the same database (PostgreSQL): the newest chunk read so far, by
    /// `seq`. Every batch first reads what others stored after it (see [`catch_up`]).
    read_to: Option<i64>,
}

/// Makes a fresh relay core (at start, and after one panicked).
pub(super) type MakeRelay = Box<dyn Fn() -> Relay + Send>;

struct Core {
    relay: Relay,
    make_relay: MakeRelay,
    conns: HashMap<ConnId, Outlet>,
    epoch: Instant,
    tickets: u64,
    /// Server-side edits waiting for their batch to commit, with what is recorded beside each
    /// (an audit row) in the same savepoint once the edit is applied.
    waiting: HashMap<u64, (Reply, Option<super::Record>)>,
    /// Revoked tablets.
    revoked: HashSet<String>,
    /// When revocations and retirements were last read from the store (ms since the epoch).
    revocations_read_at: i64,
    /// Documents known to be retired, with when that was learnt (ms), so that a retirement read
    /// again within the look-back is not handed to the relay twice.
    retired: HashMap<DocumentId, i64>,
    /// When the schemes' retention periods were last read (ms since the epoch).
    retention_read_at: i64,
    /// Each connection's tablet, and when its last sync was recorded (at most once a minute).
    devices: HashMap<ConnId, (String, i64)>,
    /// The sites the relay was last told are closed.
    closed_sites: HashSet<String>,
}

/// Who asked for a command's writes: whom to refuse if they cannot be stored.
enum Cause {
    Conn(ConnId),
    Edit(u64),
    None,
}

impl Driver {
    pub(super) fn new(db: Connection, make_relay: MakeRelay, revoked: HashSet<String>, read_to: Option<i64>) -> Driver {
        let core = Core {
            relay: make_relay(),
            make_relay,
            conns: HashMap::new(),
            epoch: Instant::now(),
            tickets: 0,
            waiting: HashMap::new(),
            revoked,
            revocations_read_at: now_ms(),
            retired: HashMap::new(),
            retention_read_at: 0,
            devices: HashMap::new(),
            closed_sites: HashSet::new(),
        };
        Driver { db, core, read_to }
    }

    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(cmd) => batch.push(cmd),
                    Err(_) => break,
                }
            }
            self.run_batch(batch);
        }
    }

    fn run_batch(&mut self, batch: Vec<Cmd>) {
        crate::metrics::METRICS.batch_commands.observe(batch.len() as f64);
        let core = &mut self.core;
        // Questions only (readiness, metrics) are answered without the write lock.
        if batch.iter().all(|cmd| matches!(cmd, Cmd::Stats { .. })) {
            batch.into_iter().for_each(|cmd| core.without_storage(cmd, &mut Output::default()));
            return;
        }
        let tx = match crate::commits::COMMITS.begin(|| self.db.immediate_transaction()) {
            Ok(tx) => tx,
            Err(e) => {
                tracing::error!(error = %e, "storage is busy or failing; refusing this batch's changes");
                let mut out = Output::default();
                for cmd in batch {
                    core.without_storage(cmd, &mut out);
                }
                core.dispatch(out);
                return;
            }
        };
        let mut sends = Output::default();
        // What other relays stored since the last batch, merged first: under the write lock, so
        // that what this batch projects and compacts is the whole of each document.
        let mut read_to = self.read_to;
        if let Some(from) = read_to {
            let now = core.now();
            let caught_up = tx.savepoint().map_err(anyhow::Error::from).and_then(|sp| {
                let (to, out) = super::follow::catch_up(&mut core.relay, &sp, from)?;
                carry_out(&mut core.relay, &sp, out, now, &mut sends, &mut Vec::new())?;
                sp.commit()?;
                Ok(to)
            });
            match caught_up {
                Ok(to) => read_to = Some(to),
                Err(e) => {
                    // Without what the others stored, this batch's writes could be made on copies
                    // that lack it (a compaction would then drop it): the batch is refused as if
                    // storage failed, and the next one reads the same chunks again.
                    tracing::error!(error = %e, "reading what other relays stored failed; refusing this batch's changes");
                    drop(tx);
                    let mut out = Output::default();
                    for cmd in batch {
                        core.without_storage(cmd, &mut out);
                    }
                    core.dispatch(out);
                    return;
                }
            }
        }
        // Every command that wrote, with what it touched, in case the commit fails.
        let mut written: Vec<(Cause, Vec<DocumentId>)> = Vec::new();
        for cmd in batch {
            // A panic in the relay core (a bug automerge or the relay has for some input) must not
            // end sync for everyone: the command's savepoint rolls back as the panic unwinds, and
            // the relay starts afresh.
            let step = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_command(core, &tx, cmd, &mut sends, &mut written)
            }));
            if step.is_err() {
                core.restart();
            }
        }
        core.note_refusals(&tx, &sends);
        let next_read_to = match read_to {
            Some(before) => super::follow::announce(&tx, before, written.iter().flat_map(|(_, d)| d)).or(self.read_to),
            None => None,
        };
        let committing = std::time::Instant::now();
        let committed = tx.commit();
        crate::commits::COMMITS.ended(committed.is_ok());
        crate::metrics::METRICS.commit_seconds.observe(committing.elapsed().as_secs_f64());
        if let Err(e) = committed {
            // Nothing of this batch is stored: refuse every command that wrote and forget what
            // they changed; their devices reconnect and send the changes again. Messages that
            // announced any of it are never sent.
            tracing::error!(error = %e, "storage failed at commit; refusing this batch's changes");
            let mut out = Output { close: std::mem::take(&mut sends.close), ..Output::default() };
            for (cause, touched) in written {
                out.append(core.recover(&cause, touched));
            }
            for (ticket, _) in std::mem::take(&mut sends.edited) {
                if let Some((reply, _)) = core.waiting.remove(&ticket) {
                    let _ = reply.send(Err(format!("{NOT_STORED}; try again")));
                }
            }
            let loads = Output { load: std::mem::take(&mut out.load), ..Output::default() };
            if let Ok(tx) = self.db.transaction() {
                let now = core.now();
                out.append(reload(&mut core.relay, &tx, loads, now));
                let _ = tx.commit();
            }
            core.dispatch(out);
            return;
        }
        self.read_to = next_read_to;
        for (ticket, result) in std::mem::take(&mut sends.edited) {
            if let Some((reply, _)) = core.waiting.remove(&ticket) {
                let _ = reply.send(result);
            }
        }
        core.dispatch(sends);
    }
}

/// One command of a batch, under its own savepoint: what it sends is added to `sends`, and what
/// it wrote to `written`.
fn run_command(
    core: &mut Core,
    tx: &Transaction<'_>,
    cmd: Cmd,
    sends: &mut Output,
    written: &mut Vec<(Cause, Vec<DocumentId>)>,
) {
    let now = core.now();
    let Some((cause, out)) = core.start(cmd, Some(tx), now) else { return };
    let mut done = Output::default();
    let mut touched = Vec::new();
    let result = tx.savepoint().map_err(anyhow::Error::from).and_then(|sp| {
        carry_out(&mut core.relay, &sp, out, now, &mut done, &mut touched)?;
        for (ticket, _) in done.edited.iter().filter(|(_, result)| result.is_ok()) {
            if let Some(record) = core.waiting.get_mut(ticket).and_then(|(_, r)| r.take()) {
                record(&sp)?;
            }
        }
        sp.commit()?;
        Ok(())
    });
    match result {
        Ok(()) => {
            // "Last synced" means the relay took what the tablet sent, not only that it
            // heard from it: a tablet refused again and again is not syncing.
            if let Cause::Conn(conn) = cause {
                if !done.refused.contains(&conn) && !done.refused_docs.iter().any(|(c, _, _)| *c == conn) {
                    core.note_activity(tx, conn);
                }
            }
            // A coordinator's edit may have closed or opened a site (it is written with the
            // edit): the relay knows at once.
            if matches!(cause, Cause::Edit(_)) {
                if let Err(e) = core.read_closed_sites(tx) {
                    tracing::warn!(error = %e, "reading closed sites failed");
                }
            }
            if !touched.is_empty() {
                written.push((cause, touched));
            }
            sends.append(done);
        }
        Err(e) => {
            // Retired elsewhere (an erasure or a purge committed since the relay loaded it, before
            // a tick brought the news): the device is told the document is gone, as it would be a
            // moment later, rather than refused.
            let retired = documents::retired_among(tx, &touched).unwrap_or_default();
            if matches!(cause, Cause::Conn(_)) && !retired.is_empty() && retired.len() == touched.len() {
                tracing::info!("a change to a document retired a moment ago; telling the device it is gone");
                for (doc, _) in &retired {
                    core.retired.insert(*doc, now_ms());
                }
                sends.append(core.relay.retire(retired));
                return;
            }
            tracing::error!(error = %e, "storage failed; refusing the change that needed it");
            let recovered = core.recover(&cause, touched);
            sends.append(reload(&mut core.relay, tx, recovered, now));
        }
    }
}

impl Core {
    /// After the relay core panicked: a fresh one. Its live documents and sync states are gone, so
    /// every connection closes (its tablet reconnects and syncs again from what is stored) and
    /// every edit waiting for its batch is answered with an error. Nothing stored is lost: the
    /// failed command's savepoint rolled back, and the rest was stored before it was announced.
    fn restart(&mut self) {
        tracing::error!("the relay core panicked; it starts afresh and every tablet reconnects");
        self.relay = (self.make_relay)();
        for (_, outlet) in self.conns.drain() {
            outlet.close("the relay restarted; reconnecting syncs again".into());
        }
        self.devices.clear();
        for (_, (reply, _)) in self.waiting.drain() {
            let _ = reply.send(Err("the relay restarted; try again".into()));
        }
        self.retention_read_at = 0;
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Hands a command to the relay. `None`: the command is done (it needed no storage). Without
    /// storage (`db` is `None`) a tick does nothing.
    fn start(&mut self, cmd: Cmd, db: Option<&Connection>, now: u64) -> Option<(Cause, Output)> {
        Some(match cmd {
            Cmd::Connect { conn, principal, tx } => {
                if self.revoked.contains(&principal.device) {
                    tx.close(REVOKED.into());
                } else {
                    self.devices.insert(conn, (principal.device.clone(), 0));
                    self.read_usage(db, &principal.device);
                    self.read_retention(db, &principal.scheme);
                    if let Some(db) = db {
                        if let Err(e) = self.read_closed_sites(db) {
                            tracing::warn!(error = %e, "reading closed sites failed");
                        }
                    }
                    self.relay.connect(conn, principal);
                    self.conns.insert(conn, tx);
                }
                return None;
            }
            Cmd::Revoke { device } => {
                let out = self.relay.drop_where(|p| p.device == device, REVOKED);
                self.revoked.insert(device);
                (Cause::None, out)
            }
            Cmd::Retired { docs } => {
                let at = now_ms();
                for (doc, _) in &docs {
                    self.retired.insert(*doc, at);
                }
                (Cause::None, self.relay.retire(docs))
            }
            Cmd::Frame { conn, bytes } => (Cause::Conn(conn), self.relay.receive(conn, now, &bytes)),
            Cmd::Refuse { conn, reason } => (Cause::None, self.relay.refuse(conn, &reason)),
            Cmd::Disconnect { conn } => {
                self.relay.disconnect(conn);
                self.conns.remove(&conn);
                self.devices.remove(&conn);
                return None;
            }
            Cmd::Tick => match self.tick(db?, now) {
                Ok(out) => (Cause::None, out),
                Err(e) => {
                    tracing::error!(error = %e, "reading revocations failed");
                    return None;
                }
            },
            Cmd::Edit { doc, edit, record, reply } => {
                self.tickets += 1;
                self.waiting.insert(self.tickets, (reply, record));
                (Cause::Edit(self.tickets), self.relay.edit(doc, self.tickets, edit, now))
            }
            // What other relays stored is read at the start of every batch.
            Cmd::Stored => return None,
            Cmd::Stats { reply } => {
                let _ = reply
                    .send(HubStats { connections: self.relay.connections(), live_documents: self.relay.live_docs() });
                return None;
            }
        })
    }

    /// A command when storage cannot be used at all: changes from tablets are refused (they
    /// reconnect and send again) and edits answered with an error; the rest goes on as usual.
    fn without_storage(&mut self, cmd: Cmd, out: &mut Output) {
        const BUSY: &str = "the relay cannot store data right now";
        match cmd {
            Cmd::Frame { conn, .. } => {
                out.append(self.relay.refuse(conn, &format!("{BUSY}; reconnecting sends it again")))
            }
            Cmd::Edit { reply, .. } => {
                let _ = reply.send(Err(format!("{BUSY}; try again")));
            }
            cmd => {
                let now = self.now();
                if let Some((_, o)) = self.start(cmd, None, now) {
                    out.append(o);
                }
            }
        }
    }

    /// Revocations made elsewhere (the command line, another process) reach live connections
    /// within a couple of ticks. Only recent ones are read; the look-back covers a revocation
    /// committed a little after its timestamp.
    fn tick(&mut self, db: &Connection, now: u64) -> anyhow::Result<Output> {
        let since = self.revocations_read_at - REVOCATION_LOOK_BACK_MS;
        let revoked = tablets::revoked_since(db, since)?;
        let retired = documents::retired_since(db, since)?;
        let read_at = now_ms();
        self.revocations_read_at = read_at;
        self.relay.set_today(chrono::Utc::now().date_naive());
        if read_at - self.retention_read_at >= RETENTION_EVERY_MS {
            for (scheme, months) in retention::all_months(db)? {
                self.relay.set_retention(&scheme, months);
            }
            self.read_closed_sites(db)?;
            self.retention_read_at = read_at;
        }
        let mut out = self.relay.tick(now);
        for device in revoked {
            if self.revoked.insert(device.clone()) {
                out.append(self.relay.drop_where(|p| p.device == device, REVOKED));
            }
        }
        // Documents purged or replaced elsewhere (the daily purge, an admin command, another
        // process): their live copies go within a tick.
        let new: Vec<_> = retired.into_iter().filter(|(doc, _)| !self.retired.contains_key(doc)).collect();
        for (doc, _) in &new {
            self.retired.insert(*doc, read_at);
        }
        self.retired.retain(|_, at| read_at - *at <= 2 * REVOCATION_LOOK_BACK_MS);
        out.append(self.relay.retire(new));
        Ok(out)
    }

    /// Tells the relay which sites are closed (read with the retention periods, and when a
    /// tablet connects): a closed desk's tablets are refused days after it closed.
    fn read_closed_sites(&mut self, db: &Connection) -> anyhow::Result<()> {
        let closed = schemes::closed_sites(db)?;
        for site in self.closed_sites.drain() {
            self.relay.set_site_closed(&site, None);
        }
        for (site, on) in closed {
            self.relay.set_site_closed(&site, Some(on));
            self.closed_sites.insert(site);
        }
        Ok(())
    }

    /// Tells the relay a connecting tablet's scheme's retention period.
    fn read_retention(&mut self, db: Option<&Connection>, scheme: &str) {
        let Some(db) = db else { return };
        match retention::policy(db, scheme) {
            Ok(Some(p)) => self.relay.set_retention(scheme, p.months),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "reading a scheme's retention period failed"),
        }
    }

    /// After a command's writes failed: its connection is refused (the device reconnects and
    /// sends again), its edit is answered with an error, and the documents it touched are
    /// reloaded from storage. Returns what the relay needs carried out for that.
    fn recover(&mut self, cause: &Cause, touched: Vec<DocumentId>) -> Output {
        let mut out = match cause {
            Cause::Conn(conn) => self.relay.refuse(*conn, &format!("{NOT_STORED}; reconnecting sends it again")),
            Cause::Edit(ticket) => {
                if let Some((reply, _)) = self.waiting.remove(ticket) {
                    let _ = reply.send(Err(format!("{NOT_STORED}; try again")));
                }
                Output::default()
            }
            Cause::None => Output::default(),
        };
        out.append(self.relay.forget(touched));
        out
    }

    /// Tells the relay what a connecting tablet stored today, so its daily allowance survives a
    /// restart. Unread (no storage, or it failed), the relay counts from what it saw itself.
    fn read_usage(&mut self, db: Option<&Connection>, device: &str) {
        let (Some(db), Some(today)) = (db, self.relay.today()) else { return };
        match documents::device_usage(db, device, today) {
            Ok(usage) => self.relay.note_usage(device, today, usage),
            Err(e) => tracing::warn!(error = %e, "reading a tablet's usage failed"),
        }
    }

    /// Records, at most once a minute per tablet, that the relay synced with it.
    fn note_activity(&mut self, db: &Connection, conn: ConnId) {
        let now = now_ms();
        let Some((device, at)) = self.devices.get_mut(&conn) else { return };
        if now - *at < ACTIVITY_EVERY_MS {
            return;
        }
        if let Err(e) = tablets::note_synced(db, device, now) {
            tracing::warn!(error = %e, "recording a tablet's last sync failed");
        }
        *at = now;
    }

    /// Records what the relay refused of which tablet, for its coordinator to see.
    fn note_refusals(&self, db: &Connection, out: &Output) {
        let now = now_ms();
        for (conn, _, refusal) in &out.refused_docs {
            crate::metrics::METRICS.refusals.with_label_values(&[&refusal.code.replace('-', "_")]).inc();
            if let Some((device, _)) = self.devices.get(conn) {
                if let Err(e) = tablets::note_refused(db, device, now, &refusal.message) {
                    tracing::warn!(error = %e, "recording a refusal failed");
                }
            }
        }
        for (conn, reason) in out.close.iter().filter(|(c, _)| out.refused.contains(c)) {
            crate::metrics::METRICS.refusals.with_label_values(&[crate::metrics::refusal_kind(reason)]).inc();
            if let Some((device, _)) = self.devices.get(conn) {
                if let Err(e) = tablets::note_refused(db, device, now, reason) {
                    tracing::warn!(error = %e, "recording a refusal failed");
                }
            }
        }
    }

    fn dispatch(&mut self, out: Output) {
        let mut slow = Vec::new();
        for (conn, frame) in out.sends {
            if let Some(tx) = self.conns.get(&conn) {
                if !tx.frame(frame) {
                    slow.push(conn);
                }
            }
        }
        for (conn, reason) in out.close {
            if let Some(tx) = self.conns.remove(&conn) {
                // `?`: a reason may quote what a tablet sent; escaped, it cannot forge log lines.
                // A refusal is worth an operator's notice; a tablet leaving is not.
                let device = self.devices.get(&conn).map(|(d, _)| d.as_str()).unwrap_or_default();
                if out.refused.contains(&conn) {
                    tracing::warn!(conn, device, reason = ?reason, "refusing a tablet");
                } else {
                    tracing::info!(conn, reason = ?reason, "closing connection");
                }
                tx.close(reason);
            }
        }
        for conn in slow {
            self.relay.disconnect(conn);
            if let Some(tx) = self.conns.remove(&conn) {
                tracing::warn!(conn, "peer is not reading its messages; disconnecting");
                tx.close("too many unread messages".into());
            }
        }
    }
}

/// Applies writes and answers loads (through the open transaction or savepoint), keeping the
/// messages. `touched` collects every document written or loaded, also when a write fails. A
/// document that cannot be read is refused to whoever waited for it ([`Relay::load_failed`]),
/// so no document is ever left waiting for a load.
fn carry_out(
    relay: &mut Relay,
    db: &Connection,
    out: Output,
    now: u64,
    sends: &mut Output,
    touched: &mut Vec<DocumentId>,
) -> anyhow::Result<()> {
    let mut queue = vec![out];
    while let Some(mut out) = queue.pop() {
        for w in &out.writes {
            touched.push(*w.doc());
            documents::apply_write(db, w)?;
        }
        for p in &out.problems {
            tracing::error!(problem = ?p, "relay");
        }
        for id in std::mem::take(&mut out.load) {
            touched.push(id);
            queue.push(match documents::load_doc(db, &id) {
                Ok(stored) => relay.loaded(id, stored, now),
                Err(e) => relay.load_failed(id, &e.to_string()),
            });
        }
        out.writes.clear();
        sends.append(out);
    }
    touched.sort();
    touched.dedup();
    Ok(())
}

/// Carries out a recovery (its loads, and any writes they bring) after a failure. If storage
/// fails again, what was read so far is kept; documents not read are refused by the relay.
fn reload(relay: &mut Relay, db: &Connection, out: Output, now: u64) -> Output {
    let mut done = Output::default();
    if let Err(e) = carry_out(relay, db, out, now, &mut done, &mut Vec::new()) {
        tracing::error!(error = %e, "storage failed again while recovering");
    }
    done
}
