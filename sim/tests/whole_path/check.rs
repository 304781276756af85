//! The invariants checked after a schedule, once every tablet is back online and the network
//! has settled.

use crate::world::World;
use automerge::{Automerge, ReadDoc};
use signpost_shared::ids::DocumentId;
use signpost_shared::projection::{self, Fact};
use signpost_shared::schema::{self, EntryKey};
use signpost_shared::relay::Meta;
use std::collections::{BTreeMap, BTreeSet};

impl World {
    /// Everyone back online until nothing moves; then the invariants.
    pub(crate) fn heal_and_check(&mut self) -> Result<(), String> {
        for _ in 0..3 {
            for i in 0..self.tablets.len() {
                self.online(i);
            }
            self.settle();
        }
        for (i, t) in self.tablets.iter().enumerate() {
            if !t.refused.is_empty() {
                return Err(format!("tablet {i} was refused: {:?}", t.refused));
            }
            // Honest desks are never closed; a wrong clock's day is set aside, not refused.
            if !t.refused_days.is_empty() {
                return Err(format!("tablet {i} was refused days: {:?}", t.refused_days));
            }
        }
        self.store.check_every_document_loads();
        // Every entry any tablet saved is stored, and a single writer's last value is what is
        // stored.
        let stored: BTreeMap<DocumentId, Automerge> =
            self.store.docs.keys().map(|id| (*id, self.store.load(id))).collect();
        // A day the server rewrote: its entries are looked for where the day is now, and only for
        // being there (a tablet's carried-over copy may meet another's later edit); an erased
        // referral must not be there.
        let mut docs_of: BTreeMap<(DocumentId, &str), usize> = BTreeMap::new();
        for (doc, key) in self.ledger.entries.keys() {
            *docs_of.entry((self.resolve(*doc), key.as_str())).or_default() += 1;
        }
        for ((written_to, key), (writers, last)) in &self.ledger.entries {
            let doc = &self.resolve(*written_to);
            let Some(d) = stored.get(doc) else { return Err(format!("document {doc} never stored")) };
            let erased = key.strip_prefix("referral:").is_some_and(|id| self.erased.contains(id));
            let there = d.get(automerge::ROOT, key.as_str()).map_err(|e| e.to_string())?.is_some();
            match (erased, there) {
                (true, true) => return Err(format!("{key}, erased, is back in {doc}")),
                (true, false) => continue,
                (false, false) => {
                    return Err(format!(
                        "{key} in {doc} (written by tablets {writers:?} to {written_to}) is not on the relay"
                    ))
                }
                (false, true) => {}
            }
            if doc != written_to || docs_of[&(*doc, key.as_str())] > 1 {
                continue;
            }
            if let (1, Some(r)) = (writers.len(), last) {
                let got = schema::read_referral(d, &r.id).map_err(|e| e.to_string())?;
                if got.as_ref() != Some(r) {
                    return Err(format!("{key}: stored {got:?}, the only writer wrote {r:?}"));
                }
            }
        }
        // No byte of an erased referral's key is in any stored document's history or any
        // tablet's copy.
        for id in &self.erased {
            let needle = format!("referral:{id}");
            let holds = |d: &Automerge| d.save_nocompress().windows(needle.len()).any(|w| w == needle.as_bytes());
            if let Some((doc, _)) = stored.iter().find(|(_, d)| holds(d)) {
                return Err(format!("erased {needle} is in the history of stored {doc}"));
            }
            for (i, t) in self.tablets.iter().enumerate() {
                if let Some(doc) = t.peer.doc_ids().into_iter().find(|d| t.peer.doc(d).is_some_and(holds)) {
                    return Err(format!("erased {needle} is on tablet {i}, in {doc}"));
                }
            }
        }
        // Every tablet holds the relay's copy of every document it has, and knows it is synced.
        for (i, t) in self.tablets.iter().enumerate() {
            for doc in t.disk.keys() {
                let mine = t.peer.doc(doc).map(|d| d.get_heads()).unwrap_or_default();
                let relay = stored.get(doc).map(|d| d.get_heads()).unwrap_or_default();
                // The directory, which a tablet only reads, may be ahead of a relay restored from
                // a backup (the server's edits since were lost with the restore): the tablet keeps
                // them, holds every change the relay has, and is never refused for it.
                if *doc == self.directory && self.restores > 0 {
                    let d = t.peer.doc(doc).expect("held");
                    if relay.iter().any(|h| d.get_change_by_hash(h).is_none()) {
                        return Err(format!("tablet {i} lacks the relay's directory"));
                    }
                    continue;
                }
                if mine != relay {
                    return Err(format!("tablet {i} and the relay differ on {doc}"));
                }
                if !t.peer.is_synced(doc) {
                    return Err(format!("tablet {i} does not know {doc} is synced"));
                }
            }
        }
        // Every day a tablet saw set aside was dated outside the window when it arrived, and is
        // counted nowhere.
        for (id, doc) in &self.store.docs {
            if let signpost_shared::relay::Meta::SetAside(h) = &doc.meta {
                let Some(s) = self.store.set_aside.get(id) else {
                    return Err(format!("{id} is set aside with no record of who and when"));
                };
                if h.date != Some(s.date) || (s.date - s.synced_on).num_days().abs() <= 2 {
                    return Err(format!("{id} set aside wrongly: {h:?} {s:?}"));
                }
                if self.store.facts.keys().any(|(d, _)| d == id) {
                    return Err(format!("{id} is set aside but counted"));
                }
            }
        }
        // The statistics equal an independent projection of the final documents.
        let mut expect: BTreeMap<(DocumentId, String), Fact> = BTreeMap::new();
        let mut recount = 0;
        for (id, doc) in &self.store.docs {
            let signpost_shared::relay::Meta::Doc(h) = &doc.meta else { continue };
            let d = &stored[id];
            if let Some(p) = projection::project_all(d, h) {
                for f in p.facts {
                    let key = match &f {
                        Fact::Referral(r) => EntryKey::Referral(r.id.clone()),
                        Fact::Shift(s) => EntryKey::Shift(s.id.clone()),
                        Fact::Invalid { key, .. } | Fact::Removed(key) => key.clone(),
                    };
                    if !matches!(f, Fact::Removed(_)) {
                        expect.insert((*id, key.root_key()), f);
                    }
                }
            }
            recount += schema::entry_keys(d)
                .into_iter()
                .filter(|k| match k {
                    // Counted: a referral that reads, is not voided, and was logged within a day
                    // of its day (docs/schema.md).
                    EntryKey::Referral(r) => schema::read_referral(d, r).ok().flatten().is_some_and(|r| {
                        r.void.is_none() && h.date.is_some_and(|day| projection::fits_day(day, r.recorded_at_ms))
                    }),
                    EntryKey::Shift(_) => false,
                })
                .count();
        }
        if expect != self.store.facts {
            let missing: Vec<_> = expect.keys().filter(|k| !self.store.facts.contains_key(k)).collect();
            let extra: Vec<_> = self.store.facts.keys().filter(|k| !expect.contains_key(k)).collect();
            let differ: Vec<_> = expect
                .iter()
                .filter(|(k, v)| self.store.facts.get(k).is_some_and(|f| f != *v))
                .map(|(k, _)| k)
                .collect();
            return Err(format!("facts differ: missing {missing:?}, extra {extra:?}, different {differ:?}"));
        }
        if self.store.counted_referrals() != recount {
            return Err(format!("counted {} referrals, the documents hold {recount}", self.store.counted_referrals()));
        }
        let honest_sites: BTreeSet<&str> = self.tablets.iter().map(|t| t.site.as_str()).collect();
        let site_of = |doc: &DocumentId| -> Option<String> {
            match &self.store.docs.get(doc)?.meta {
                Meta::Doc(h) | Meta::SetAside(h) => h.site.clone(),
                Meta::Draft { site, .. } => Some(site.clone()),
                Meta::Retired { .. } => None,
            }
        };
        for ((doc, key), f) in &self.store.facts {
            let honest = site_of(doc).is_some_and(|s| honest_sites.contains(s.as_str()));
            if honest && matches!(f, Fact::Invalid { .. }) {
                return Err(format!("{key} in {doc}, which an honest tablet wrote, was projected as invalid: {f:?}"));
            }
            // Sane figures, whoever wrote them.
            if let Fact::Shift(s) = f {
                if !(0..=signpost_shared::projection::MAX_SHIFT_MINUTES).contains(&s.minutes()) {
                    return Err(format!("{key} in {doc} counts {} minutes", s.minutes()));
                }
            }
        }
        // Every document of an honest desk was created by one of its tablets, and charged to it
        // once, across relay restarts, restores and midnights. (The server's rewrites are charged
        // to nobody; days rewritten were an honest desk's.)
        let honest_devices: BTreeSet<&str> = self.tablets.iter().map(|t| t.device.as_str()).collect();
        let charged: u64 =
            self.store.usage.iter().filter(|((d, _), _)| honest_devices.contains(d.as_str())).map(|(_, u)| u.documents).sum();
        let rewrites: BTreeSet<DocumentId> = self.rewritten.values().map(|(n, _)| *n).collect();
        let created = self
            .store
            .docs
            .iter()
            .filter(|(id, d)| {
                !rewrites.contains(id)
                    && match &d.meta {
                        Meta::Retired { .. } => true,
                        _ => site_of(id).is_some_and(|s| honest_sites.contains(s.as_str())),
                    }
            })
            .count();
        if charged != created as u64 {
            return Err(format!("tablets were charged for {charged} documents; they created {created}"));
        }
        Ok(())
    }
}
