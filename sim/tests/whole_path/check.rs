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
        // (The server's rewrites are charged to nobody.)
        let charged: u64 = self.store.usage.values().map(|u| u.documents).sum();
        let created = self.store.docs.len() - 1 - self.rewritten.len();
        if charged != created as u64 {
            return Err(format!("tablets were charged for {charged} documents; they created {created}"));
        }
        Ok(())
    }
}
