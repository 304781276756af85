//! The invariants checked after a schedule, once every tablet is back online and the network
//! has settled.

use crate::world::World;
use automerge::{Automerge, ReadDoc};
use signpost_shared::ids::DocumentId;
use signpost_shared::projection::{self, Fact};
use signpost_shared::schema::{self, EntryKey};
use std::collections::BTreeMap;

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
        }
        // Every entry any tablet saved is stored, and a single writer's last value is what is
        // stored.
        let stored: BTreeMap<DocumentId, Automerge> =
            self.store.docs.keys().map(|id| (*id, self.store.load(id))).collect();
        for ((doc, key), (writers, last)) in &self.ledger.entries {
            let Some(d) = stored.get(doc) else { return Err(format!("document {doc} never stored")) };
            if d.get(automerge::ROOT, key.as_str()).map_err(|e| e.to_string())?.is_none() {
                return Err(format!("{key} in {doc} (written by tablets {writers:?}) is not on the relay"));
            }
            if let (1, Some(r)) = (writers.len(), last) {
                let got = schema::read_referral(d, &r.id).map_err(|e| e.to_string())?;
                if got.as_ref() != Some(r) {
                    return Err(format!("{key}: stored {got:?}, the only writer wrote {r:?}"));
                }
            }
        }
        // Every tablet holds the relay's copy of every document it has, and knows it is synced.
        for (i, t) in self.tablets.iter().enumerate() {
            for doc in t.disk.keys() {
                let mine = t.peer.doc(doc).map(|d| d.get_heads()).unwrap_or_default();
                let relay = stored.get(doc).map(|d| d.get_heads()).unwrap_or_default();
                if mine != relay {
                    return Err(format!("tablet {i} and the relay differ on {doc}"));
                }
                if !t.peer.is_synced(doc) {
                    return Err(format!("tablet {i} does not know {doc} is synced"));
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
                    EntryKey::Referral(r) => {
                        schema::read_referral(d, r).ok().flatten().is_some_and(|r| r.void.is_none())
                    }
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
        if self.store.facts.values().any(|f| matches!(f, Fact::Invalid { .. })) {
            return Err("an entry a tablet wrote was projected as invalid".into());
        }
        // Every document but the directory was created by a tablet, and charged to it once,
        // across relay restarts and midnights.
        let charged: u64 = self.store.usage.values().map(|u| u.documents).sum();
        if charged != self.store.docs.len() as u64 - 1 {
            return Err(format!(
                "tablets were charged for {charged} documents; they created {}",
                self.store.docs.len() - 1
            ));
        }
        Ok(())
    }
}
