//! Hostile and faulty devices in a schedule: a tablet of another site of the scheme and one of
//! another scheme, each with a valid credential, doing what `signpost_sim::hostile` makes them
//! do at random moments, and having their site closed under them. Whatever they do, the world's
//! checks hold on every delivery (nobody is sent what it may not read; every stored document
//! loads) and at the end (honest tablets lost nothing, the figures equal a recount).

use crate::world::{World, SCHEME};
use rand::Rng;
use signpost_shared::ids::PeerId;
use signpost_shared::relay::{ConnId, Principal};
use signpost_shared::schema;
use signpost_shared::wire::Message;
use signpost_sim::hostile::{act, Act, Targets};

pub(crate) struct Hostile {
    pub(crate) principal: Principal,
    pub(crate) conn: Option<ConnId>,
    /// When its site was closed, if it was.
    pub(crate) closed_on: Option<chrono::NaiveDate>,
    /// Frames it was sent (each checked for who may receive it as it was delivered).
    pub(crate) frames: usize,
    pub(crate) actions: u32,
}

impl Hostile {
    pub(crate) fn new(device: &str, scheme: &str, site: &str) -> Hostile {
        Hostile {
            principal: Principal { device: device.into(), scheme: scheme.into(), site: site.into() },
            conn: None,
            closed_on: None,
            frames: 0,
            actions: 0,
        }
    }

    /// A frame from the relay (the egress check has already run on it).
    pub(crate) fn received(&mut self, _frame: &[u8]) {
        self.frames += 1;
    }

    fn me(&self) -> PeerId {
        PeerId::from(format!("{}-peer", self.principal.device).as_str())
    }
}

impl World {
    /// Zero to two hostile devices join the world.
    pub(crate) fn add_hostiles(&mut self) {
        if self.rng.random_bool(0.6) {
            self.hostiles.push(Hostile::new("hostile-site", SCHEME, "site-h"));
        }
        if self.rng.random_bool(0.5) {
            self.hostiles.push(Hostile::new("hostile-scheme", "scheme-x", "site-x"));
        }
    }

    /// One hostile device does one random thing.
    pub(crate) fn hostile_step(&mut self) {
        if self.hostiles.is_empty() {
            return;
        }
        let h = self.rng.random_range(0..self.hostiles.len());
        self.hostiles[h].actions += 1;
        let Some(conn) = self.hostiles[h].conn else {
            // Connect and join.
            let c = self.next_conn;
            self.next_conn += 1;
            let p = self.hostiles[h].principal.clone();
            self.relay.connect(c, p);
            let hostile = &mut self.hostiles[h];
            hostile.conn = Some(c);
            let join =
                Message::Join { sender_id: hostile.me(), supported_protocol_versions: vec!["1".into()], metadata: None }
                    .encode();
            self.to_relay.push_back((c, join));
            return;
        };
        // Honest sites' days around the relay's date, and the scheme's directory.
        let mut others = vec![self.directory];
        for t in &self.tablets {
            for k in -1..=2 {
                others.push(schema::desk_day_id(&t.site, self.date + chrono::Duration::days(k)));
            }
        }
        let targets = Targets { others, date: self.date, victim_site: self.tablets[0].site.clone() };
        let (own, me, relay) = (self.hostiles[h].principal.clone(), self.hostiles[h].me(), self.relay.peer_id().clone());
        self.next_id += 1;
        match act(&mut self.rng, &own, &me, &relay, &targets, self.next_id) {
            Act::Frame(f) => self.to_relay.push_back((conn, f)),
            Act::CloseSite => {
                if own.scheme == SCHEME && self.hostiles[h].closed_on.is_none() {
                    self.hostiles[h].closed_on = Some(self.date);
                    self.relay_knows_closed_sites();
                }
            }
            Act::Leave => {
                self.relay.disconnect(conn);
                self.hostiles[h].conn = None;
            }
        }
    }
}
