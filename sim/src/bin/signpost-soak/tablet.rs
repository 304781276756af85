//! One simulated tablet of the soak: it keeps its documents as the app does (every change saved
//! in the tablet format before it is sent, `shared::local`), logs, corrects and voids referrals
//! and runs shifts with random values, loses its connection, is closed and reopened from what
//! it stored, and crosses midnight, against whatever state the relay is in.

use crate::report::{reason_kind, Counts, Report};
use automerge::{ActorId, Automerge};
use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use signpost_shared::ids::DocumentId;
use signpost_shared::local::{self, Records};
use signpost_shared::peer::{Event, Output, Peer};
use signpost_shared::schema::{self, EntryKey, Header, Referral, Shift};
use signpost_sim::Tablet;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Soak time runs faster than the calendar: a day lasts `day` of wall time.
#[derive(Clone)]
pub struct Clock {
    pub started: Instant,
    pub day: Duration,
    pub first: NaiveDate,
}

impl Clock {
    pub fn today(&self) -> NaiveDate {
        let days = (self.started.elapsed().as_secs_f64() / self.day.as_secs_f64()) as u64;
        self.first + chrono::Days::new(days)
    }

    /// Now in soak time, in milliseconds since 1970: within [`Clock::today`].
    pub fn now_ms(&self) -> i64 {
        let elapsed = self.started.elapsed().as_secs_f64() / self.day.as_secs_f64() * 86_400_000.0;
        signpost_sim::random::midnight_ms(self.first) + elapsed as i64
    }
}

/// What a tablet is told.
pub struct Plan {
    pub url: String,
    pub token: String,
    pub scheme: String,
    pub site: String,
    pub name: String,
    pub volunteers: Vec<String>,
    pub seed: u64,
    pub clock: Clock,
    /// Mean pause between a volunteer's actions.
    pub pace: Duration,
    /// Set when the load stops and every tablet should come online and finish syncing.
    pub stop: Arc<AtomicBool>,
    pub barrier: Arc<tokio::sync::Barrier>,
    /// How long a tablet may take to get everything acknowledged once the load stops.
    pub settle: Duration,
}

#[derive(Default)]
struct Disk {
    records: Records,
    sync: Option<Vec<u8>>,
}

enum Link {
    Up(Tablet),
    Down(Peer),
}

struct Actor {
    plan: Plan,
    rng: StdRng,
    link: Option<Link>,
    disk: BTreeMap<DocumentId, Disk>,
    offline_until: Option<Instant>,
    retry_at: Instant,
    shift: Option<(DocumentId, Shift)>,
    next_id: u64,
    report: Report,
}

pub async fn run(plan: Plan) -> Report {
    let report = Report {
        name: plan.name.clone(),
        ledger: BTreeMap::new(),
        heads: BTreeMap::new(),
        counts: Counts::default(),
        problems: vec![],
    };
    let mut a = Actor {
        rng: StdRng::seed_from_u64(plan.seed),
        link: Some(Link::Down(Peer::new(format!("{}-0", plan.name).as_str().into()))),
        disk: BTreeMap::new(),
        offline_until: None,
        retry_at: Instant::now(),
        shift: None,
        next_id: 0,
        report,
        plan,
    };
    while !a.plan.stop.load(Ordering::Relaxed) {
        a.maybe_connect().await;
        a.act().await;
        let pause = Duration::from_millis(a.rng.random_range(0..=2 * a.plan.pace.as_millis() as u64));
        a.wait(pause).await;
    }
    a.finish().await;
    a.report
}

impl Actor {
    fn peer(&mut self) -> &mut Peer {
        match self.link.as_mut().expect("link") {
            Link::Up(t) => &mut t.peer,
            Link::Down(p) => p,
        }
    }

    async fn maybe_connect(&mut self) {
        if matches!(self.link, Some(Link::Up(_))) || Instant::now() < self.retry_at {
            return;
        }
        if self.offline_until.is_some_and(|t| Instant::now() < t) {
            return;
        }
        self.offline_until = None;
        let Some(Link::Down(peer)) = self.link.take() else { unreachable!() };
        match Tablet::try_connect(&self.plan.url, &self.plan.token, peer).await {
            Ok(t) => {
                self.report.counts.connects += 1;
                self.link = Some(Link::Up(t));
                // The app asks for the scheme's directory once connected.
                let directory = schema::directory_id(&self.plan.scheme);
                let out = self.peer().find(directory);
                self.send(out).await;
            }
            Err((peer, _)) => {
                self.report.counts.failed_connects += 1;
                self.link = Some(Link::Down(peer));
                self.retry_at = Instant::now() + Duration::from_millis(self.rng.random_range(200..1_000));
            }
        }
    }

    /// Sends what the peer produced, if connected; a failed send drops the connection.
    async fn send(&mut self, out: Output) {
        let mut failed = None;
        if let Some(Link::Up(t)) = self.link.as_mut() {
            if let Err(e) = t.send(out).await {
                failed = Some(e.to_string());
            }
        }
        if let Some(why) = failed {
            self.down(why).await;
        }
    }

    async fn down(&mut self, why: String) {
        if !matches!(self.link, Some(Link::Up(_))) {
            return;
        }
        let Some(Link::Up(t)) = self.link.take() else { unreachable!() };
        let why = t.closed.clone().unwrap_or(why);
        *self.report.counts.closes.entry(reason_kind(&why)).or_default() += 1;
        self.link = Some(Link::Down(t.disconnect().await));
        self.retry_at = Instant::now() + Duration::from_millis(self.rng.random_range(100..1_000));
    }

    /// Handles the relay's frames for `d` (or just waits while offline).
    async fn wait(&mut self, d: Duration) {
        let result = match self.link.as_mut() {
            Some(Link::Up(t)) => t.run_for(d).await,
            _ => {
                tokio::time::sleep(d).await;
                return;
            }
        };
        match result {
            Ok(events) => self.persist_touched(&events),
            Err(e) => self.down(e.to_string()).await,
        }
    }

    fn persist_touched(&mut self, events: &[Event]) {
        for e in events {
            if let Event::Changed(d) | Event::Synced(d) = e {
                if self.disk.contains_key(d) {
                    self.persist(*d);
                }
            }
        }
    }

    /// Saves what is new in a document, as the app does before it sends.
    fn persist(&mut self, id: DocumentId) {
        let peer = match self.link.as_ref().expect("link") {
            Link::Up(t) => &t.peer,
            Link::Down(p) => p,
        };
        let Some(doc) = peer.doc(&id) else { return };
        let sync = peer.saved_state(&id);
        let disk = self.disk.entry(id).or_default();
        disk.records.save(doc);
        disk.sync = sync;
    }

    fn id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}-{}-{}", self.plan.name, self.next_id)
    }

    /// Today's document, created on the tablet if it has none yet.
    async fn today(&mut self) -> DocumentId {
        let header = Header::desk_day(&self.plan.scheme, &self.plan.site, self.plan.clock.today());
        let id = header.well_known_id();
        if self.peer().doc(&id).is_none() {
            let mut doc = Automerge::new();
            let mut tx = doc.transaction();
            schema::write_header(&mut tx, &header).expect("header");
            tx.commit();
            let out = self.peer().insert(id, doc, None);
            self.persist(id);
            self.send(out).await;
        }
        id
    }

    async fn commit(&mut self, doc: DocumentId, f: impl FnOnce(&mut automerge::transaction::Transaction<'_>)) {
        if !matches!(self.link, Some(Link::Up(_))) {
            self.report.counts.offline_changes += 1;
        }
        let (_, out) = self.peer().change(doc, f).expect("local change");
        // Stored before it is sent, as the app does.
        self.persist(doc);
        self.send(out).await;
    }

    fn read(&mut self, doc: DocumentId, id: &str) -> Option<Referral> {
        self.peer().doc(&doc).and_then(|d| schema::read_referral(d, id).ok().flatten())
    }

    /// A referral this tablet wrote and has not voided.
    fn pick_own(&mut self) -> Option<(DocumentId, Referral)> {
        let mine: Vec<(DocumentId, Referral)> = self
            .report
            .ledger
            .iter()
            .filter_map(|((doc, _), r)| r.as_ref().filter(|r| r.void.is_none()).map(|r| (*doc, r.clone())))
            .collect();
        (!mine.is_empty()).then(|| mine[self.rng.random_range(0..mine.len())].clone())
    }

    async fn act(&mut self) {
        match self.rng.random_range(0..100) {
            0..=44 => {
                let doc = self.today().await;
                let id = self.id("r");
                let day = self.plan.clock.today();
                let r = signpost_sim::random::referral(&mut self.rng, id, &self.plan.volunteers, day);
                self.commit(doc, |tx| schema::write_referral(tx, &r).expect("write")).await;
                self.report.counts.logged += 1;
                self.report.ledger.insert((doc, EntryKey::Referral(r.id.clone()).root_key()), Some(r));
            }
            45..=59 => {
                let Some((doc, old)) = self.pick_own() else { return };
                let day = self.plan.clock.today();
                let mut r = signpost_sim::random::referral(&mut self.rng, old.id.clone(), &self.plan.volunteers, day);
                (r.recorded_at_ms, r.volunteer) = (old.recorded_at_ms, old.volunteer.clone());
                self.commit(doc, |tx| schema::correct_referral(tx, &r).expect("correct")).await;
                self.report.counts.corrected += 1;
                let now = self.read(doc, &r.id);
                self.report.ledger.insert((doc, EntryKey::Referral(r.id.clone()).root_key()), now);
            }
            60..=63 => {
                let Some((doc, old)) = self.pick_own() else { return };
                let reason = signpost_sim::random::text(&mut self.rng, schema::MAX_TEXT_CHARS);
                let at = self.plan.clock.now_ms();
                self.commit(doc, |tx| schema::void_referral(tx, &old.id, &reason, at).expect("void")).await;
                self.report.counts.voided += 1;
                let now = self.read(doc, &old.id);
                self.report.ledger.insert((doc, EntryKey::Referral(old.id.clone()).root_key()), now);
            }
            64..=71 => match self.shift.take() {
                None => {
                    let doc = self.today().await;
                    let id = self.id("s");
                    let v = &self.plan.volunteers;
                    let s = Shift {
                        id,
                        volunteer: v[self.rng.random_range(0..v.len())].clone(),
                        start_ms: self.plan.clock.now_ms(),
                        end_ms: None,
                    };
                    self.commit(doc, |tx| schema::write_shift(tx, &s).expect("shift")).await;
                    self.report.counts.shifts += 1;
                    self.report.ledger.insert((doc, EntryKey::Shift(s.id.clone()).root_key()), None);
                    self.shift = Some((doc, s));
                }
                Some((doc, mut s)) => {
                    // Ends in the document where it started, even past midnight.
                    s.end_ms = Some(s.start_ms + self.rng.random_range(-60_000..10 * 3_600_000));
                    self.commit(doc, |tx| schema::write_shift(tx, &s).expect("shift")).await;
                }
            },
            72..=75 => {
                // The network goes for a while.
                self.report.counts.offline_spells += 1;
                self.offline_until = Some(Instant::now() + Duration::from_millis(self.rng.random_range(500..20_000)));
                self.down("offline".into()).await;
            }
            76..=77 => self.restart().await,
            _ => {}
        }
    }

    /// The app is closed (or the battery dies) and opened again: it comes back from what the
    /// device stored, writing as a new actor.
    async fn restart(&mut self) {
        self.down("app closed".into()).await;
        self.report.counts.restarts += 1;
        let n = self.report.counts.restarts;
        let mut peer = Peer::new(format!("{}-{n}", self.plan.name).as_str().into());
        for (id, disk) in &self.disk {
            let loaded = local::load(&disk.records.records);
            if !loaded.damaged_records.is_empty() {
                self.report.problems.push(format!("stored records of {id} damaged: {:?}", loaded.damaged_records));
            }
            let _ = peer.insert(*id, loaded.doc.with_actor(ActorId::random()), disk.sync.as_deref());
        }
        self.link = Some(Link::Down(peer));
        self.retry_at = Instant::now();
    }

    fn unsynced(&mut self) -> Vec<DocumentId> {
        let ids: Vec<DocumentId> = self.disk.keys().copied().collect();
        ids.into_iter().filter(|id| !self.peer().is_synced(id)).collect()
    }

    /// Back online for good: everything acknowledged, then (once every tablet got there) a
    /// fresh connection that brings in what the others wrote.
    async fn finish(&mut self) {
        self.offline_until = None;
        let deadline = Instant::now() + self.plan.settle;
        while !self.unsynced().is_empty() && Instant::now() < deadline {
            self.maybe_connect().await;
            self.wait(Duration::from_millis(200)).await;
        }
        let left = self.unsynced();
        if !left.is_empty() {
            self.report.problems.push(format!("not acknowledged after {:?}: {left:?}", self.plan.settle));
        }
        self.plan.barrier.wait().await;
        self.down("final reconnect".into()).await;
        self.retry_at = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.maybe_connect().await;
            let Some(Link::Up(t)) = self.link.as_mut() else {
                if Instant::now() > deadline {
                    self.report.problems.push("could not reconnect at the end".into());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            // Quiet for a second and a half: nothing more is coming.
            match t.run_for(Duration::from_millis(1_500)).await {
                Ok(events) if events.is_empty() => break,
                Ok(events) => self.persist_touched(&events),
                Err(e) => self.down(e.to_string()).await,
            }
            if Instant::now() > deadline {
                self.report.problems.push("the relay kept sending at the end".into());
                break;
            }
        }
        let ids: Vec<DocumentId> = self.disk.keys().copied().collect();
        for id in ids {
            let heads = self.peer().doc(&id).map(|d| d.get_heads()).unwrap_or_default();
            self.report.heads.insert(id, heads);
        }
        self.down("done".into()).await;
    }
}
