//! The random steps of a schedule: what volunteers, networks, batteries, clocks and coordinators
//! do.

use crate::world::World;
use rand::Rng;
use signpost_shared::ids::DocumentId;
use signpost_shared::schema::{self, EntryKey, FollowUpClosed, Referral, Shift, Volunteer};
use signpost_shared::vocab::FollowUpOutcome;

impl World {
    pub(crate) fn text(&mut self, max: usize) -> String {
        signpost_sim::random::text(&mut self.rng, max)
    }

    pub(crate) fn random_referral(&mut self, id: String, day: chrono::NaiveDate) -> Referral {
        let roster: Vec<String> = (0..3).map(|v| format!("vol-{v}")).collect();
        signpost_sim::random::referral(&mut self.rng, id, &roster, day)
    }

    /// The date a document claims (its header's), for the times of what is written in it.
    pub(crate) fn date_of(&self, i: usize, doc: DocumentId) -> chrono::NaiveDate {
        self.tablets[i].peer.doc(&doc).and_then(|d| schema::read_header(d).ok()).and_then(|h| h.date).unwrap_or(self.date)
    }

    /// Now, on the tablet's clock, as a time within the day it files under: the relay's date
    /// (moved by the tablet's clock's error), at `now` milliseconds into it.
    pub(crate) fn clock_ms(&self, i: usize) -> i64 {
        let day = self.tablet_date(i);
        signpost_sim::random::midnight_ms(day) + (self.now as i64 % 86_400_000)
    }

    /// One random thing happens.
    pub(crate) fn step(&mut self) {
        let i = self.rng.random_range(0..self.tablets.len());
        match self.rng.random_range(0..125) {
            0..=29 => {
                let doc = self.today(i);
                let id = self.id("r");
                let day = self.date_of(i, doc);
                let r = self.random_referral(id, day);
                self.commit(i, doc, |tx| schema::write_referral(tx, &r).unwrap());
                self.note(i, doc, &r);
            }
            30..=39 => {
                // Correct a referral this tablet holds (any day it has).
                let Some((doc, old)) = self.pick_referral(i) else { return };
                let day = self.date_of(i, doc);
                let mut r = self.random_referral(old.id.clone(), day);
                r.recorded_at_ms = old.recorded_at_ms;
                r.volunteer = old.volunteer.clone();
                self.commit(i, doc, |tx| schema::correct_referral(tx, &r).unwrap());
                let r = schema::read_referral(self.tablets[i].peer.doc(&doc).unwrap(), &r.id).unwrap().unwrap();
                self.note(i, doc, &r);
            }
            40..=41 => {
                // A follow-up is closed, on whichever tablet of the desk (any day it holds), with
                // a random outcome: two tablets may close the same one offline.
                let Some((doc, old)) = self.pick_referral(i) else { return };
                if !old.follow_up || old.follow_up_closed.is_some() {
                    return;
                }
                let outcome = FollowUpOutcome::ALL[self.rng.random_range(0..FollowUpOutcome::ALL.len())];
                let c = FollowUpClosed { outcome, at_ms: self.clock_ms(i), by: None };
                self.commit(i, doc, |tx| schema::close_follow_up(tx, &old.id, &c).unwrap());
                let r = schema::read_referral(self.tablets[i].peer.doc(&doc).unwrap(), &old.id).unwrap().unwrap();
                self.note(i, doc, &r);
            }
            42..=43 => {
                let Some((doc, old)) = self.pick_referral(i) else { return };
                let reason = self.text(schema::MAX_TEXT_CHARS);
                let at = self.clock_ms(i);
                self.commit(i, doc, |tx| schema::void_referral(tx, &old.id, &reason, at).unwrap());
                let r = schema::read_referral(self.tablets[i].peer.doc(&doc).unwrap(), &old.id).unwrap().unwrap();
                self.note(i, doc, &r);
            }
            44..=49 => match self.tablets[i].shift.take() {
                None => {
                    let doc = self.today(i);
                    let s = Shift {
                        id: self.id("s"),
                        volunteer: format!("vol-{}", self.rng.random_range(0..3)),
                        start_ms: self.clock_ms(i),
                        end_ms: None,
                    };
                    self.commit(i, doc, |tx| schema::write_shift(tx, &s).unwrap());
                    self.note_key(i, doc, EntryKey::Shift(s.id.clone()));
                    self.tablets[i].shift = Some((doc, s));
                }
                Some((doc, mut s)) => {
                    // Ends in the document where it started, even past midnight.
                    s.end_ms = Some(s.start_ms + self.rng.random_range(-60_000..20 * 3_600_000));
                    self.commit(i, doc, |tx| schema::write_shift(tx, &s).unwrap());
                }
            },
            50..=61 => self.offline(i),
            62..=75 => self.online(i),
            76..=79 => self.restart(i),
            80 => self.kill_relay(),
            81 => self.midnight(),
            82..=84 => {
                // A coordinator edits the roster (a server-side edit through the relay).
                self.tickets += 1;
                let vol = Volunteer {
                    id: format!("vol-{}", self.tickets + 10),
                    name: self.text(60),
                    active: true,
                    pin: None,
                };
                let out = self.relay.edit(
                    self.directory,
                    self.tickets,
                    Box::new(move |tx| schema::write_volunteer(tx, &vol).map_err(|e| e.to_string())),
                    self.now,
                );
                self.handle(out);
            }
            85 => self.erase(),
            86..=87 => {
                self.now += 50;
                let out = self.relay.tick(self.now);
                self.handle(out);
            }
            100..=114 => self.hostile_step(),
            115..=116 => {
                // The tablet's clock jumps (a flat battery, a wrong setting), or is put right.
                self.tablets[i].clock_days = [0, 0, 1, -1, -30, 5, -20_000][self.rng.random_range(0..7)];
            }
            117 => {
                // A backup of the relay's database.
                self.backup = Some((self.store.clone(), self.rewritten.len()));
            }
            118 => self.restore(),
            _ => {
                let n = self.rng.random_range(1..40);
                self.deliver(n);
            }
        }
    }

    /// The relay is restored from the last backup (if no day was rewritten since: a restore
    /// brings back what an erasure removed, as the documentation says, and that is the operator's
    /// to redo) while tablets hold newer changes, which they send again.
    pub(crate) fn restore(&mut self) {
        let Some((store, rewrites)) = self.backup.clone() else { return };
        if rewrites != self.rewritten.len() {
            return;
        }
        self.kill_relay();
        self.store = store;
        self.restores += 1;
    }

    pub(crate) fn pick_referral(&mut self, i: usize) -> Option<(DocumentId, Referral)> {
        let peer = &self.tablets[i].peer;
        let mut all = Vec::new();
        for doc in self.tablets[i].disk.keys() {
            let Some(d) = peer.doc(doc) else { continue };
            for k in schema::entry_keys(d) {
                if let EntryKey::Referral(id) = k {
                    if let Ok(Some(r)) = schema::read_referral(d, &id) {
                        if r.void.is_none() {
                            all.push((*doc, r));
                        }
                    }
                }
            }
        }
        if all.is_empty() {
            return None;
        }
        let k = self.rng.random_range(0..all.len());
        Some(all.swap_remove(k))
    }

    pub(crate) fn note(&mut self, i: usize, doc: DocumentId, r: &Referral) {
        let e = self.ledger.entries.entry((doc, EntryKey::Referral(r.id.clone()).root_key())).or_default();
        e.0.insert(i);
        e.1 = Some(r.clone());
    }

    pub(crate) fn note_key(&mut self, i: usize, doc: DocumentId, key: EntryKey) {
        self.ledger.entries.entry((doc, key.root_key())).or_default().0.insert(i);
    }
}
