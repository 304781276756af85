//! Erasure in a schedule: a coordinator erases a referral or redacts its notes as the server
//! does (the day rewritten, the old one retired as replaced), and tablets follow as the app does
//! when the relay says a day they hold is gone.

use crate::world::World;
use rand::Rng;
use signpost_shared::ids::DocumentId;
use signpost_shared::schema;

impl World {
    /// A coordinator erases a referral the relay stored, or redacts its notes, as the server
    /// does: the day rewritten into a new document, the old one retired as replaced.
    pub(crate) fn erase(&mut self) {
        use signpost_shared::relay::{Meta, StoredDoc, Write};
        use signpost_shared::replace::{rewrite, Erasure};
        let mut candidates = Vec::new();
        for (id, stored) in &self.store.docs {
            let Meta::Doc(h) = &stored.meta else { continue };
            // The honest desks' days (the coordinator of this scheme erases in its own desks).
            if h.kind != schema::DocKind::DeskDay || !self.tablets.iter().any(|t| h.site.as_deref() == Some(t.site.as_str())) {
                continue;
            }
            for k in schema::entry_keys(&self.store.load(id)) {
                if let schema::EntryKey::Referral(r) = k {
                    candidates.push((*id, h.clone(), r));
                }
            }
        }
        if candidates.is_empty() {
            return;
        }
        let (old, header, entry) = candidates.swap_remove(self.rng.random_range(0..candidates.len()));
        let how = if self.rng.random_bool(0.5) { Erasure::Erase } else { Erasure::RedactNotes };
        let day = rewrite(&self.store.load(&old), &entry, how).unwrap();
        let new = DocumentId::random(self.rng.random());
        self.store.apply(Write::Create { doc: new, meta: Meta::Doc(header.clone()), chunk: day.save() });
        if let Some(projection) = signpost_shared::projection::project_all(&day, &header) {
            self.store.apply(Write::Project { doc: new, projection });
        }
        self.store.docs.insert(old, StoredDoc { meta: Meta::Retired { replaced_by: Some(new) }, chunks: vec![] });
        self.store.facts.retain(|(d, _), _| *d != old);
        self.rewritten.insert(old, (new, entry.clone()));
        if how == Erasure::Erase {
            self.erased.insert(entry);
        }
        let out = self.relay.retire([(old, Some(new))]);
        self.handle(out);
    }

    /// The relay says a document is unavailable: if the server replaced it, the tablet asks
    /// where it went (as the app asks the API) and follows.
    pub(crate) fn unavailable(&mut self, i: usize, doc: DocumentId) {
        let Some((new, _)) = self.rewritten.get(&doc).cloned() else { return };
        let t = &mut self.tablets[i];
        t.replaced.insert(doc, new);
        for target in t.following.values_mut() {
            if *target == doc {
                *target = new;
            }
        }
        if t.peer.doc(&doc).is_some_and(|d| !d.get_heads().is_empty()) {
            t.following.insert(doc, new);
        } else {
            // Only a placeholder of an earlier search.
            t.peer.remove(&doc);
            t.disk.remove(&doc);
        }
        if t.following.values().any(|n| *n == new) && t.peer.doc(&new).is_none() {
            let out = t.peer.find(new);
            self.send(i, out.sends);
        }
    }

    /// Carries over into each replacement that has arrived, then drops the old day.
    pub(crate) fn follow(&mut self, i: usize) {
        let pending: Vec<(DocumentId, DocumentId)> = self.tablets[i].following.iter().map(|(o, n)| (*o, *n)).collect();
        for (old, new) in pending {
            let t = &mut self.tablets[i];
            let Some((_, out)) = signpost_shared::replace::follow(&mut t.peer, old, new).unwrap() else { continue };
            t.following.remove(&old);
            t.disk.remove(&old);
            t.persist(new);
            if matches!(&t.shift, Some((d, _)) if *d == old) {
                if let Some((d, _)) = &mut t.shift {
                    *d = new;
                }
            }
            self.send(i, out.sends);
        }
    }
}
