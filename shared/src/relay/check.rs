//! What the relay does with a device's sync message: the checks in order (size and weight
//! before automerge loads anything, the bloom filters, access, what a reader may send), then
//! applying it to the live copy and checking the result (header, owner, day window, closed
//! desks, retention, bounds, the device's allowance) before anything is written. What is refused
//! is never stored, and refuses that document only.

use super::*;

impl Relay {
    pub(super) fn apply(&mut self, doc_id: DocumentId, p: Pending, now: u64, out: &mut Output) {
        let Some(Slot::Ready(live)) = self.docs.get_mut(&doc_id) else { return };
        live.last_used = now;
        let mut msg = match sync::Message::decode(&p.data) {
            Ok(m) => m,
            Err(e) => {
                let r = refusal(why::INVALID, format!("invalid automerge sync message: {e}"));
                return self.refuse_doc(p.conn, doc_id, r, out);
            }
        };
        if let Err(e) = check_blooms(&msg) {
            let r = refusal(why::INVALID, format!("invalid automerge sync message: {e}"));
            return self.refuse_doc(p.conn, doc_id, r, out);
        }
        let mut weight = chunks::Weight::default();
        for (i, raw) in msg.changes.iter().enumerate() {
            match chunks::weigh(raw, self.cfg.max_document) {
                Ok(w) => weight += w,
                Err(e @ chunks::ChunkError::TooLarge(..)) => {
                    let r = refusal(why::TOO_LARGE, format!("sync message for {doc_id} refused: change {i} is too large ({e})"));
                    return self.refuse_doc(p.conn, doc_id, r, out);
                }
                Err(e) => {
                    let why = format!("change {i} is not valid automerge data ({e})");
                    let r = refusal(why::INVALID, format!("sync message for {doc_id} could not be applied: {why}"));
                    return self.refuse_doc(p.conn, doc_id, r, out);
                }
            }
            if weight.bytes > self.cfg.max_document.bytes || weight.ops > self.cfg.max_document.ops {
                let limit = self.cfg.max_document;
                let r = refusal(
                    why::TOO_LARGE,
                    format!(
                        "sync message for {doc_id} refused: too large (over {} bytes or {} operations once loaded)",
                        limit.bytes, limit.ops
                    ),
                );
                return self.refuse_doc(p.conn, doc_id, r, out);
            }
        }
        let Some(Slot::Ready(live)) = self.docs.get_mut(&doc_id) else { return };
        if let Some(Meta::Retired { .. }) = live.meta {
            // Removed for good: nothing sent for it is taken, whoever sends it.
            out.sends.push((p.conn, self.unavailable(p.conn, doc_id, None)));
            return;
        }
        let principal = self.conns[&p.conn].principal.clone();
        let access = match &live.meta {
            Some(meta) => access(&principal, meta),
            // Not stored yet: the device may create it, subject to the checks below.
            None => Access::Write,
        };
        if access == Access::None {
            // Content from another site at one of this device's own well-known ids (a draft, or
            // a document whose header does not derive the id) squats on it: it gives way.
            let squatting = match &live.meta {
                Some(Meta::Draft { .. }) => true,
                Some(Meta::Doc(h) | Meta::SetAside(h)) => h.well_known_id() != doc_id,
                Some(Meta::Retired { .. }) | None => false,
            };
            if squatting && self.own_day_id(&principal, &doc_id) {
                self.discard(doc_id, out);
                return self.on_sync(doc_id, p, now, out);
            }
            out.sends.push((p.conn, self.unavailable(p.conn, doc_id, None)));
            return;
        }
        let stored = live.meta.is_some();
        if !stored && msg.changes.is_empty() && (p.request || msg.heads.is_empty()) {
            // Asked for a document nobody has stored (a `sync` with nothing in it asks just as a
            // `request` does, and is answered the same way: it never subscribes). Say so, and
            // remember to send it if it appears and this device may read it then.
            if live.states.is_empty() {
                self.docs.remove(&doc_id);
            }
            let c = self.conns.get_mut(&p.conn).expect("checked");
            if c.wanted.len() < MAX_WANTED_PER_CONN && c.wanted.insert(doc_id) {
                self.wanted.entry(doc_id).or_default().insert(p.conn);
            }
            out.sends.push((p.conn, self.unavailable(p.conn, doc_id, None)));
            return;
        }
        if access == Access::Read {
            // A reader's changes are never taken: its sync state is read-only, so automerge
            // ignores them and tells the device not to send any (a tablet whose copy of the
            // directory is ahead of the relay's — after the relay was restored from a backup —
            // keeps its copy and goes on receiving the relay's changes).
            live.states.entry(p.conn).or_insert_with(sync::State::new_read_only).set_read_only(true);
            // A reader whose copy holds changes the relay does not (ignored, as above) says it
            // last synced at heads the relay lacks; automerge would then answer with a reset for
            // ever, never sending what the reader needs. What it last synced at is what of it the
            // relay has.
            for have in msg.have.iter_mut() {
                have.last_sync.retain(|h| live.doc.get_change_by_hash(h).is_some());
            }
        }
        let before = live.doc.get_heads();
        let state = live.states.entry(p.conn).or_default();
        if let Err(e) = live.doc.receive_sync_message(state, msg) {
            let r = refusal(why::INVALID, format!("sync message for {doc_id} could not be applied: {e}"));
            self.refuse_doc(p.conn, doc_id, r, out);
            self.reload(doc_id, out);
            return;
        }
        let after = live.doc.get_heads();
        if !self.hold_stranded(doc_id, p.conn, &p.data, now, out) {
            return;
        }
        if after != before {
            if let Err(r) = self.check_and_persist(doc_id, &principal, &before, out) {
                self.refuse_doc(p.conn, doc_id, r, out);
                self.reload(doc_id, out);
                return;
            }
            self.admit_waiting(doc_id);
        }
        // The sender follows the document once it is stored (its own, or one it may read).
        if matches!(self.docs.get(&doc_id), Some(Slot::Ready(l)) if l.meta.is_some()) {
            self.subscribe(doc_id, p.conn);
        } else {
            // Not stored: only the sender hears back (it may be bringing what the relay lacks).
            self.sync_conn(doc_id, p.conn, out);
        }
        self.fan_out(doc_id, out);
    }

    /// Accounts for changes of the message just applied that automerge holds back for their
    /// dependencies: their bytes are charged to the sending connection, within its bound and
    /// the relay's. `false` if they were over a bound and have been dropped (the live copy is
    /// read again and the sender reconnects).
    fn hold_stranded(&mut self, doc_id: DocumentId, conn: ConnId, data: &[u8], now: u64, out: &mut Output) -> bool {
        let Some(Slot::Ready(live)) = self.docs.get_mut(&doc_id) else { return true };
        if !holds_stranded_changes(live) {
            // Every dependency is here: nothing waits any more.
            let senders: Vec<ConnId> = std::mem::take(&mut live.stranded).into_keys().collect();
            for c in senders {
                if let Some(c) = self.conns.get_mut(&c) {
                    c.stranded.remove(&doc_id);
                }
            }
            return true;
        }
        // Read again only now (rarely): which of the message's changes automerge held back.
        let changes = sync::Message::decode(data).map(|m| m.changes).unwrap_or_else(|_| sync::ChunkList::empty());
        let held: u64 = changes
            .iter()
            .flat_map(chunks::pieces)
            .filter(|(hash, _)| hash.is_some_and(|h| live.doc.get_change_by_hash(&h).is_none()))
            .map(|(_, len)| len as u64)
            .sum();
        if held > 0 {
            let s = live.stranded.entry(conn).or_insert(Stranded { bytes: 0, since: now });
            s.bytes = s.bytes.saturating_add(held);
            if let Some(c) = self.conns.get_mut(&conn) {
                c.stranded.insert(doc_id);
            }
        }
        let of_conn: u64 = self.conns.get(&conn).map_or(0, |c| {
            c.stranded
                .iter()
                .filter_map(|d| match self.docs.get(d) {
                    Some(Slot::Ready(l)) => l.stranded.get(&conn).map(|s| s.bytes),
                    _ => None,
                })
                .sum()
        });
        if of_conn > self.cfg.max_stranded_bytes || self.stranded_bytes() > self.cfg.max_stranded_total {
            self.drop_stranded(doc_id, out);
            return false;
        }
        true
    }

    /// Subscribes the connections that asked for this document before it existed, if they may
    /// read it now that its owner is known.
    pub(super) fn admit_waiting(&mut self, doc_id: DocumentId) {
        let Some(Slot::Ready(live)) = self.docs.get(&doc_id) else { return };
        let Some(meta) = live.meta.clone() else { return };
        let Some(waiting) = self.wanted.remove(&doc_id) else { return };
        for conn in waiting {
            let Some(c) = self.conns.get_mut(&conn) else { continue };
            c.wanted.remove(&doc_id);
            if access(&c.principal, &meta) >= Access::Read {
                self.subscribe(doc_id, conn);
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
    ) -> Result<(), Refusal> {
        let today = self.today;
        let Some(Slot::Ready(live)) = self.docs.get_mut(&doc_id) else { return Ok(()) };
        let header = match schema::read_header(&live.doc) {
            Ok(h) => Some(h),
            // An incomplete new document may wait as a draft; a broken one may not.
            Err(schema::SchemaError::Missing(_)) if live.meta.as_ref().and_then(Meta::header).is_none() => None,
            Err(e) => return Err(refusal(why::INVALID, e.to_string())),
        };
        // What the document is once this change is stored.
        let mut set_aside = None;
        let in_window = |date: NaiveDate| {
            today.is_none_or(|t| (-self.cfg.days_back..=self.cfg.days_ahead).contains(&(date - t).num_days()))
        };
        let meta = match (&live.meta, &header) {
            (Some(m @ (Meta::Doc(old) | Meta::SetAside(old))), Some(h)) => {
                if old != h {
                    return Err(refusal(why::HEADER_CHANGED, "a document's type, scheme, site and date never change"));
                }
                match m {
                    // Set aside for a date that has come (a clock a few days fast): the site's
                    // tablets now log their real day in it, so it counts from now on.
                    Meta::SetAside(h) if h.date.is_some_and(in_window) => Meta::Doc(h.clone()),
                    m => m.clone(),
                }
            }
            (Some(Meta::Doc(_) | Meta::SetAside(_)), None) => unreachable!("a missing header is refused above"),
            (_, Some(h)) => {
                if access(principal, &Meta::Doc(h.clone())) != Access::Write {
                    return Err(refusal(why::NOT_YOURS, "the document belongs to another site or scheme"));
                }
                match (today, h.kind, h.date) {
                    (Some(today), DocKind::DeskDay, Some(date)) => {
                        let days = (date - today).num_days();
                        let (back, ahead) = (self.cfg.days_back, self.cfg.days_ahead);
                        if !(-back..=ahead).contains(&days) {
                            // A wrong clock, most likely: kept, not counted, for the coordinator.
                            set_aside = Some(SetAside { device: principal.device.clone(), synced_on: today, date });
                            Meta::SetAside(h.clone())
                        } else {
                            let oldest = oldest_kept(&self.retention, &h.scheme, today);
                            if let Some(oldest) = oldest.filter(|oldest| date < *oldest) {
                                return Err(refusal(
                                    why::PAST_RETENTION,
                                    format!(
                                        "{date} is past the scheme's retention period (its records before {oldest} \
                                         were removed); remove this day from the tablet"
                                    ),
                                ));
                            }
                            Meta::Doc(h.clone())
                        }
                    }
                    _ => Meta::Doc(h.clone()),
                }
            }
            (Some(m @ Meta::Draft { .. }), None) => m.clone(),
            (None, None) => Meta::Draft { scheme: principal.scheme.clone(), site: principal.site.clone() },
            (Some(Meta::Retired { .. }), _) => return Err(refusal(why::INVALID, "the document was removed")),
        };
        // A closed desk takes nothing into a day dated after it closed, whenever that day was
        // opened; its earlier days still sync.
        if let Some(h) = header.as_ref().filter(|h| h.kind == DocKind::DeskDay) {
            let closed = h.site.as_deref().and_then(|s| self.closed.get(s));
            if let (Some(closed), Some(date)) = (closed, h.date) {
                if date > *closed {
                    return Err(refusal(
                        why::DESK_CLOSED,
                        format!("this desk was closed on {closed}: it takes no day after that"),
                    ));
                }
            }
        }
        let new_changes = live.doc.get_changes(before);
        if let (Some(h), true) = (&header, h_is_day(&header)) {
            let newly = !matches!(live.meta, Some(Meta::Doc(_) | Meta::SetAside(_)));
            let _ = h;
            check_entries(&live.doc, newly, &new_changes, &self.cfg)?;
        }
        // A document that just came to be counted is projected whole; later changes only for the
        // entries they touched.
        let newly_checked = matches!(meta, Meta::Doc(_)) && !matches!(live.meta, Some(Meta::Doc(_)));
        let chunk: Vec<u8> = match live.meta {
            Some(_) => new_changes.iter().flat_map(|c| c.raw_bytes().iter().copied()).collect(),
            None => snapshot(&live.doc).ok_or_else(|| refusal(why::INVALID, "the document does not load"))?,
        };
        // Every bound is checked before anything is written: what is refused is never stored.
        let added = chunks::weigh(&chunk, self.cfg.max_document).map_err(|e| refusal(why::TOO_LARGE, e.to_string()))?;
        let mut weight = if live.meta.is_some() { live.weight } else { Default::default() };
        weight += added;
        if header.is_none() && weight.bytes > self.cfg.max_draft_bytes as u64 {
            return Err(refusal(
                why::TOO_LARGE,
                format!("a document without a Signpost header may hold at most {} bytes", self.cfg.max_draft_bytes),
            ));
        }
        let limit = self.cfg.max_document;
        if weight.bytes > limit.bytes || weight.ops > limit.ops {
            return Err(refusal(
                why::TOO_LARGE,
                format!("a document may hold at most {} bytes and {} operations once loaded", limit.bytes, limit.ops),
            ));
        }
        let created = u64::from(live.meta.is_none());
        let charged = match principal.device.as_str() {
            SERVER_DEVICE => None,
            device => self
                .ledger
                .check(device, chunk.len() as u64, created, self.cfg.device_allowance)
                .map_err(|e| refusal(why::ALLOWANCE, e))?,
        };
        if let (Some(usage), Some(day)) = (charged, self.ledger.today()) {
            self.ledger.charge(&principal.device, usage);
            out.writes.push(Write::Usage { doc: doc_id, device: principal.device.clone(), day, usage });
        }
        live.weight = weight;
        match &live.meta {
            None => {
                out.writes.push(Write::Create { doc: doc_id, meta: meta.clone(), chunk });
                live.appends = 1;
            }
            Some(old) if *old != meta => {
                out.writes.push(Write::SetMeta { doc: doc_id, meta: meta.clone() });
                out.writes.push(Write::Append { doc: doc_id, chunk });
                live.appends += 1;
            }
            Some(_) => {
                out.writes.push(Write::Append { doc: doc_id, chunk });
                live.appends += 1;
            }
        }
        if let Some(s) = set_aside {
            out.writes.push(Write::SetAside { doc: doc_id, set_aside: s });
        }
        live.meta = Some(meta.clone());
        // Only counted documents become facts: a day set aside is counted once it is filed.
        if let Meta::Doc(h) = &meta {
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
            if let Some(snapshot) = snapshot(&live.doc) {
                out.writes.push(Write::Compact { doc: doc_id, snapshot });
                live.appends = 1;
            }
        }
        Ok(())
    }
}

fn h_is_day(header: &Option<schema::Header>) -> bool {
    header.as_ref().is_some_and(|h| h.kind == DocKind::DeskDay)
}

/// A desk's day holds no more entries than a desk ever makes, nor more shifts of one volunteer:
/// past either the change is refused (those the tablet already stored stay). Counted over the
/// whole day when it is new, and whenever a change adds an entry; shifts per volunteer only when
/// a change touched a shift.
fn check_entries(
    doc: &Automerge,
    newly: bool,
    changes: &[automerge::Change],
    cfg: &Config,
) -> Result<(), Refusal> {
    let touched = if newly { None } else { Some(projection::touched_keys(doc, changes)) };
    let keys = schema::entry_keys(doc);
    if keys.len() > cfg.max_entries_per_day {
        return Err(refusal(
            why::TOO_MANY_ENTRIES,
            format!("a desk's day may hold at most {} entries", cfg.max_entries_per_day),
        ));
    }
    let shifts_touched = touched.as_ref().is_none_or(|t| t.iter().any(|k| matches!(k, schema::EntryKey::Shift(_))));
    if shifts_touched {
        let mut per: HashMap<String, usize> = HashMap::new();
        for k in &keys {
            if let schema::EntryKey::Shift(id) = k {
                if let Ok(Some(s)) = schema::read_shift(doc, id) {
                    let n = per.entry(s.volunteer).or_default();
                    *n += 1;
                    if *n > cfg.max_shifts_per_volunteer {
                        return Err(refusal(
                            why::TOO_MANY_ENTRIES,
                            format!("one volunteer may have at most {} shifts in a day", cfg.max_shifts_per_volunteer),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
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
