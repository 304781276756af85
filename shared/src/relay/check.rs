//! What the relay does with a device's sync message: the checks in order (size and weight
//! before automerge loads anything, the bloom filters, access, what a reader may send), then
//! applying it to the live copy and checking the result (header, owner, day window, retention,
//! bounds, the device's allowance) before anything is written. What is refused is never stored.

use super::*;

impl Relay {
    pub(super) fn apply(&mut self, doc_id: DocumentId, p: Pending, now: u64, out: &mut Output) {
        let Some(Slot::Ready(live)) = self.docs.get_mut(&doc_id) else { return };
        let conn = &self.conns[&p.conn];
        live.last_used = now;
        let msg = match sync::Message::decode(&p.data) {
            Ok(m) => m,
            Err(e) => {
                self.fail(p.conn, &format!("invalid automerge sync message: {e}"), out);
                return;
            }
        };
        if let Err(e) = check_blooms(&msg) {
            self.fail(p.conn, &format!("invalid automerge sync message: {e}"), out);
            return;
        }
        let mut weight = chunks::Weight::default();
        for (i, raw) in msg.changes.iter().enumerate() {
            match chunks::weigh(raw, self.cfg.max_document) {
                Ok(w) => weight += w,
                Err(e @ chunks::ChunkError::TooLarge(..)) => {
                    self.fail(
                        p.conn,
                        &format!("sync message for {doc_id} refused: change {i} is too large ({e})"),
                        out,
                    );
                    return;
                }
                Err(e) => {
                    let why = format!("change {i} is not valid automerge data ({e})");
                    self.fail(p.conn, &format!("sync message for {doc_id} could not be applied: {why}"), out);
                    return;
                }
            }
            if weight.bytes > self.cfg.max_document.bytes || weight.ops > self.cfg.max_document.ops {
                let limit = self.cfg.max_document;
                self.fail(
                    p.conn,
                    &format!(
                        "sync message for {doc_id} refused: too large (over {} bytes or {} operations once loaded)",
                        limit.bytes, limit.ops
                    ),
                    out,
                );
                return;
            }
        }
        if let Some(Meta::Retired { .. }) = live.meta {
            // Removed for good: nothing sent for it is taken, whoever sends it.
            out.sends.push((p.conn, self.unavailable(p.conn, doc_id)));
            return;
        }
        let access = match &live.meta {
            Some(meta) => access(&conn.principal, meta),
            // Not stored yet: the device may create it, subject to the checks below.
            None => Access::Write,
        };
        if access == Access::None {
            // Content from another site at one of this device's own well-known ids (a draft, or
            // a document whose header does not derive the id) squats on it: it gives way.
            let squatting = match &live.meta {
                Some(Meta::Draft { .. }) => true,
                Some(Meta::Doc(h)) => h.well_known_id() != doc_id,
                Some(Meta::Retired { .. }) | None => false,
            };
            if squatting && self.own_day_id(&conn.principal, &doc_id) {
                self.discard(doc_id, out);
                return self.on_sync(doc_id, p, now, out);
            }
            out.sends.push((p.conn, self.unavailable(p.conn, doc_id)));
            return;
        }
        if live.meta.is_none() && msg.changes.is_empty() && p.request {
            // Asked for a document nobody has stored: say so, and remember to send it if it
            // appears and this device may read it.
            if live.states.is_empty() {
                self.docs.remove(&doc_id);
            }
            let c = self.conns.get_mut(&p.conn).expect("checked");
            if c.wanted.len() < MAX_WANTED_PER_CONN && c.wanted.insert(doc_id) {
                self.wanted.entry(doc_id).or_default().insert(p.conn);
            }
            out.sends.push((p.conn, self.unavailable(p.conn, doc_id)));
            return;
        }
        if access == Access::Read {
            // A reader may send only what the relay has. Which changes a message carries is
            // worked out only here: for a whole-document chunk that means loading it, which a
            // writer's message (applied below, and checked by automerge as it is) does not need.
            for (i, raw) in msg.changes.iter().enumerate() {
                match chunks::carried_changes(raw) {
                    Ok(hashes) if hashes.iter().all(|h| live.doc.get_change_by_hash(h).is_some()) => {}
                    Ok(_) => {
                        self.fail(p.conn, &format!("this device may not change document {doc_id}"), out);
                        return;
                    }
                    Err(e) => {
                        let why = format!("change {i} is not valid automerge data ({e})");
                        self.fail(p.conn, &format!("sync message for {doc_id} could not be applied: {why}"), out);
                        return;
                    }
                }
            }
        }
        let principal = conn.principal.clone();
        let before = live.doc.get_heads();
        let state = live.states.entry(p.conn).or_default();
        if let Err(e) = live.doc.receive_sync_message(state, msg) {
            self.fail(p.conn, &format!("sync message for {doc_id} could not be applied: {e}"), out);
            self.reload(doc_id, out);
            return;
        }
        self.conns.get_mut(&p.conn).expect("checked").docs.insert(doc_id);
        self.subs.entry(doc_id).or_default().insert(p.conn);
        let after = live.doc.get_heads();
        if after != before {
            if let Err(reason) = self.check_and_persist(doc_id, &principal, &before, out) {
                self.fail(p.conn, &format!("change to {doc_id} refused: {reason}"), out);
                self.reload(doc_id, out);
                return;
            }
            self.admit_waiting(doc_id);
        }
        self.fan_out(doc_id, out);
    }

    /// Subscribes the connections that asked for this document before it existed, if they may
    /// read it now that its owner is known.
    pub(super) fn admit_waiting(&mut self, doc_id: DocumentId) {
        let Some(Slot::Ready(live)) = self.docs.get(&doc_id) else { return };
        let Some(meta) = live.meta.as_ref() else { return };
        let Some(waiting) = self.wanted.remove(&doc_id) else { return };
        for conn in waiting {
            let Some(c) = self.conns.get_mut(&conn) else { continue };
            c.wanted.remove(&doc_id);
            if access(&c.principal, meta) >= Access::Read {
                c.docs.insert(doc_id);
                self.subs.entry(doc_id).or_default().insert(conn);
            }
        }
    }

    /// Checks a document that just changed and records the writes that make the change durable.
    pub(super) fn check_and_persist(
        &mut self,
        doc_id: DocumentId,
        principal: &Principal,
        before: &[automerge::ChangeHash],
        out: &mut Output,
    ) -> Result<(), String> {
        let Some(Slot::Ready(live)) = self.docs.get_mut(&doc_id) else { return Ok(()) };
        let header = match schema::read_header(&live.doc) {
            Ok(h) => Some(h),
            // An incomplete new document may wait as a draft; a broken one may not.
            Err(schema::SchemaError::Missing(_)) if !matches!(live.meta, Some(Meta::Doc(_))) => None,
            Err(e) => return Err(e.to_string()),
        };
        if let Some(h) = &header {
            let meta = Meta::Doc(h.clone());
            match &live.meta {
                Some(Meta::Doc(old)) if old != h => {
                    return Err("a document's type, scheme, site and date never change".into())
                }
                Some(Meta::Doc(_)) => {}
                _ => {
                    if access(principal, &meta) != Access::Write {
                        return Err("the document belongs to another site or scheme".into());
                    }
                    if let (Some(today), DocKind::DeskDay, Some(date)) = (self.today, h.kind, h.date) {
                        let days = (date - today).num_days();
                        let (back, ahead) = (self.cfg.days_back, self.cfg.days_ahead);
                        if !(-back..=ahead).contains(&days) {
                            return Err(format!(
                                "a desk's day must be within {back} days before today and {ahead} after it"
                            ));
                        }
                        let oldest = oldest_kept(&self.retention, &h.scheme, today);
                        if let Some(oldest) = oldest.filter(|oldest| date < *oldest) {
                            return Err(format!(
                                "{date} is past the scheme's retention period (its records before {oldest} \
                                 were removed); remove this day from the tablet"
                            ));
                        }
                    }
                }
            }
        }
        // A document that just became a Signpost document is projected whole; later changes
        // only for the entries they touched.
        let newly_checked = header.is_some() && !matches!(live.meta, Some(Meta::Doc(_)));
        let new_changes = live.doc.get_changes(before);
        let chunk: Vec<u8> = match live.meta {
            Some(_) => new_changes.iter().flat_map(|c| c.raw_bytes().iter().copied()).collect(),
            None => live.doc.save(),
        };
        // Every bound is checked before anything is written: what is refused is never stored.
        let added = chunks::weigh(&chunk, self.cfg.max_document).map_err(|e| e.to_string())?;
        let mut weight = if live.meta.is_some() { live.weight } else { Default::default() };
        weight += added;
        if header.is_none() && weight.bytes > self.cfg.max_draft_bytes as u64 {
            return Err(format!(
                "a document without a Signpost header may hold at most {} bytes",
                self.cfg.max_draft_bytes
            ));
        }
        let limit = self.cfg.max_document;
        if weight.bytes > limit.bytes || weight.ops > limit.ops {
            return Err(format!(
                "a document may hold at most {} bytes and {} operations once loaded",
                limit.bytes, limit.ops
            ));
        }
        let created = u64::from(live.meta.is_none());
        let charged = match principal.device.as_str() {
            SERVER_DEVICE => None,
            device => self.ledger.check(device, chunk.len() as u64, created, self.cfg.device_allowance)?,
        };
        if let (Some(usage), Some(day)) = (charged, self.ledger.today()) {
            self.ledger.charge(&principal.device, usage);
            out.writes.push(Write::Usage { doc: doc_id, device: principal.device.clone(), day, usage });
        }
        live.weight = weight;
        match (&live.meta, &header) {
            (None, h) => {
                let meta = match h {
                    Some(h) => Meta::Doc(h.clone()),
                    None => Meta::Draft { scheme: principal.scheme.clone(), site: principal.site.clone() },
                };
                out.writes.push(Write::Create { doc: doc_id, meta: meta.clone(), chunk });
                live.meta = Some(meta);
                live.appends = 1;
            }
            (Some(Meta::Draft { .. }), Some(h)) => {
                let meta = Meta::Doc(h.clone());
                out.writes.push(Write::SetMeta { doc: doc_id, meta: meta.clone() });
                out.writes.push(Write::Append { doc: doc_id, chunk });
                live.meta = Some(meta);
                live.appends += 1;
            }
            (Some(_), _) => {
                out.writes.push(Write::Append { doc: doc_id, chunk });
                live.appends += 1;
            }
        }
        if let Some(h) = &header {
            let projection = if newly_checked {
                projection::project_all(&live.doc, h)
            } else {
                projection::project(&live.doc, h, projection::touched_keys(&live.doc, &new_changes))
            };
            if let Some(projection) = projection.filter(|p| !p.facts.is_empty()) {
                out.writes.push(Write::Project { doc: doc_id, projection });
            }
            if let Some(roster) = projection::project_roster(&live.doc, h) {
                out.writes.push(Write::Roster { doc: doc_id, roster });
            }
        }
        if live.appends >= self.cfg.compact_after {
            out.writes.push(Write::Compact { doc: doc_id, snapshot: live.doc.save() });
            live.appends = 1;
        }
        Ok(())
    }
}

/// The oldest day of a scheme still within its retention period, if that is known.
fn oldest_kept(retention: &HashMap<String, u32>, scheme: &str, today: NaiveDate) -> Option<NaiveDate> {
    today.checked_sub_months(chrono::Months::new(*retention.get(scheme)?))
}

/// The most probes a peer's bloom filter may ask for per hash (automerge uses 7).
const MAX_BLOOM_PROBES: u64 = 64;

/// Checks the bloom filters a peer sent before automerge uses them. automerge 0.12 decodes any
/// filter but then divides by its size in bits and allocates one slot per probe for every hash
/// it tests: a filter with entries but no bits panics (found by fuzzing the relay), and one asking
/// for billions of probes takes gigabytes and minutes. A filter is empty, or has entries, at
/// least one bit each, and 1 to [`MAX_BLOOM_PROBES`] probes.
fn check_blooms(msg: &sync::Message) -> Result<(), String> {
    fn leb128(bytes: &mut &[u8]) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (b, rest) = bytes.split_first()?;
            *bytes = rest;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    for have in &msg.have {
        let raw = have.bloom.to_bytes();
        let mut rest = raw.as_slice();
        if rest.is_empty() {
            continue;
        }
        let fields = (leb128(&mut rest), leb128(&mut rest), leb128(&mut rest));
        let (Some(entries), Some(bits_per_entry), Some(probes)) = fields else {
            return Err("a bloom filter's header is incomplete".into());
        };
        if entries > 0 && (bits_per_entry == 0 || rest.is_empty()) {
            return Err("a bloom filter has entries but no bits".into());
        }
        if entries > 0 && !(1..=MAX_BLOOM_PROBES).contains(&probes) {
            return Err(format!("a bloom filter may use 1 to {MAX_BLOOM_PROBES} probes, not {probes}"));
        }
    }
    Ok(())
}
