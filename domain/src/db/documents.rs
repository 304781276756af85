//! Documents as stored: each an ordered list of automerge chunks, and the statistics facts
//! projected from them (referrals, shifts, rosters), written in the relay's transactions.

use super::immediate;
use crate::sql::{params, Connection, OptionalExtension};
use crate::util::now_ms;
use anyhow::Context;
use signpost_shared::ids::DocumentId;
use signpost_shared::projection::{self, Fact, Projection, Roster};
use signpost_shared::quota::Usage;
use signpost_shared::relay::{Meta, StoredDoc, Write};
use signpost_shared::schema::{DocKind, EntryKey, Header};

fn meta_columns(meta: &Meta) -> (&'static str, String, Option<String>, Option<String>) {
    match meta {
        Meta::Draft { scheme, site } => ("draft", scheme.clone(), Some(site.clone()), None),
        Meta::Doc(h) => {
            (h.kind.as_str(), h.scheme.clone(), h.site.clone(), h.date.map(|d| d.format("%Y-%m-%d").to_string()))
        }
        // Only desk days are set aside; the kind keeps them out of everything that reads days.
        Meta::SetAside(h) => (SET_ASIDE_KIND, h.scheme.clone(), h.site.clone(), h.date.map(|d| d.format("%Y-%m-%d").to_string())),
        // Never written as a document's row: a retired document has a row in `retired_documents`.
        Meta::Retired { .. } => ("retired", String::new(), None, None),
    }
}

/// The `kind` of a desk day set aside ([`Meta::SetAside`]).
pub const SET_ASIDE_KIND: &str = "set-aside";

/// Why a document was retired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retirement {
    /// Its day passed the scheme's retention period.
    Purged,
    /// An entry was erased or its notes redacted: a rewritten copy took its place.
    Replaced(DocumentId),
}

/// What a retired document was: its scheme, site and day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retired {
    pub doc: DocumentId,
    pub scheme: String,
    pub site: Option<String>,
    pub day: Option<String>,
}

/// Removes a stored document for good, in the caller's transaction: its chunks, every fact
/// projected from it (the quarter figures follow, by their triggers) and its row; what stays is
/// a row in `retired_documents` that makes the relay refuse the id from then on. `None` if there
/// was no such document.
pub fn retire(tx: &Connection, doc: &DocumentId, why: Retirement) -> anyhow::Result<Option<Retired>> {
    let key = doc.to_string();
    let row = tx
        .prepare_cached("SELECT scheme_id, site_id, day FROM documents WHERE id = ?1")?
        .query_row([&key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get(2)?)))
        .optional()?;
    let Some((scheme, site, day)) = row else { return Ok(None) };
    apply_write(tx, &Write::Discard { doc: *doc })?;
    let (reason, replaced_by) = match why {
        Retirement::Purged => ("purged", None),
        Retirement::Replaced(by) => ("replaced", Some(by.to_string())),
    };
    tx.prepare_cached(
        "INSERT INTO retired_documents(id, scheme_id, site_id, day, reason, replaced_by, retired_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![key, scheme, site, day, reason, replaced_by, now_ms()])?;
    Ok(Some(Retired { doc: *doc, scheme, site, day }))
}

/// Documents retired since `since` (ms), with what replaced each: how a relay learns of
/// retirements made elsewhere (an admin command, another process).
pub fn retired_since(conn: &Connection, since: i64) -> anyhow::Result<Vec<(DocumentId, Option<DocumentId>)>> {
    let mut stmt = conn.prepare_cached("SELECT id, replaced_by FROM retired_documents WHERE retired_at >= ?1")?;
    let rows = stmt.query_map([since], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, by) = row?;
        let Ok(id) = id.parse::<DocumentId>() else { continue };
        out.push((id, by.and_then(|b| b.parse().ok())));
    }
    Ok(out)
}

/// What became of a document, as one of its site's tablets may ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Stored as it is.
    Stored,
    /// Removed for good (past the retention period), with nothing in its place.
    Removed,
    /// Replaced (an entry erased or its notes redacted): the live document now holding the day,
    /// after however many replacements.
    Replaced(DocumentId),
}

/// What became of `doc`, if it is (or was) a document of `site`; `None` for any other (a
/// tablet learns nothing of other sites' documents). Follows a chain of replacements to the
/// document that holds the day now.
pub fn fate(conn: &Connection, doc: &DocumentId, site: &str) -> anyhow::Result<Option<Fate>> {
    let site_of = |table: &str, id: &DocumentId| -> anyhow::Result<Option<Option<String>>> {
        Ok(conn
            .prepare_cached(&format!("SELECT site_id FROM {table} WHERE id = ?1"))?
            .query_row([id.to_string()], |r| r.get::<_, Option<String>>(0))
            .optional()?)
    };
    let mine = |s: Option<Option<String>>| s.is_some_and(|s| s.as_deref() == Some(site));
    let mut current = *doc;
    // A chain is one link per erasure of that day; the bound only stops a cycle no write makes.
    for hop in 0..64 {
        if let Some(by) = retired(conn, &current.to_string())? {
            if hop == 0 && !mine(site_of("retired_documents", &current)?) {
                return Ok(None);
            }
            match by {
                Some(next) => current = next,
                None => return Ok(Some(Fate::Removed)),
            }
            continue;
        }
        if hop == 0 {
            return Ok(mine(site_of("documents", &current)?).then_some(Fate::Stored));
        }
        return Ok(Some(Fate::Replaced(current)));
    }
    anyhow::bail!("document {doc} has a cycle of replacements")
}

/// Which of `docs` are retired, with what replaced each: a relay whose write to a document
/// failed asks, because the document may have been retired elsewhere a moment before.
pub fn retired_among(conn: &Connection, docs: &[DocumentId]) -> anyhow::Result<Vec<(DocumentId, Option<DocumentId>)>> {
    let mut out = Vec::new();
    for doc in docs {
        if let Some(by) = retired(conn, &doc.to_string())? {
            out.push((*doc, by));
        }
    }
    Ok(out)
}

fn retired(conn: &Connection, key: &str) -> anyhow::Result<Option<Option<DocumentId>>> {
    Ok(conn
        .prepare_cached("SELECT replaced_by FROM retired_documents WHERE id = ?1")?
        .query_row([key], |r| r.get::<_, Option<String>>(0))
        .optional()?
        .map(|by| by.and_then(|b| b.parse().ok())))
}

pub fn load_doc(conn: &Connection, id: &DocumentId) -> anyhow::Result<Option<StoredDoc>> {
    let Some(meta) = meta_of(conn, id)? else { return Ok(None) };
    if matches!(meta, Meta::Retired { .. }) {
        return Ok(Some(StoredDoc { meta, chunks: vec![] }));
    }
    let key = id.to_string();
    let mut stmt = conn.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let chunks = stmt.query_map([&key], |r| r.get::<_, Vec<u8>>(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(Some(StoredDoc { meta, chunks }))
}

/// What the store says a document is (`None`: it has no such document and never had).
pub fn meta_of(conn: &Connection, id: &DocumentId) -> anyhow::Result<Option<Meta>> {
    let key = id.to_string();
    let meta = conn
        .query_row("SELECT kind, scheme_id, site_id, day FROM documents WHERE id = ?1", [&key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
            ))
        })
        .optional()?;
    let Some((kind, scheme, site, day)) = meta else {
        return Ok(retired(conn, &key)?.map(|replaced_by| Meta::Retired { replaced_by }));
    };
    let meta = if kind == "draft" {
        Meta::Draft { scheme, site: site.unwrap_or_default() }
    } else if kind == SET_ASIDE_KIND {
        let date = day.map(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")).transpose()?;
        Meta::SetAside(Header { kind: DocKind::DeskDay, scheme, site, date })
    } else {
        let kind = DocKind::parse(&kind).with_context(|| format!("document {key} has unknown kind {kind}"))?;
        let date = day.map(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")).transpose()?;
        Meta::Doc(Header { kind, scheme, site, date })
    };
    Ok(Some(meta))
}

// ---------------------------------------------------------------------------------------------
// Several relays on one database (PostgreSQL). Every chunk is written under the database's write
// lock (`Connection::immediate_transaction`), so chunks are committed in the order of their
// `seq`: a relay that has read every chunk up to some `seq` misses none below it.

/// The newest chunk's `seq` (0 when none is stored).
pub fn last_chunk_seq(conn: &Connection) -> anyhow::Result<i64> {
    Ok(conn.query_row("SELECT coalesce(max(seq), 0) FROM doc_chunks", (), |r| r.get(0))?)
}

/// The documents with chunks stored after `seq`, each with its newest chunk's `seq`.
pub fn stored_after(conn: &Connection, seq: i64) -> anyhow::Result<Vec<(DocumentId, i64)>> {
    let mut stmt = conn.prepare_cached("SELECT doc_id, max(seq) FROM doc_chunks WHERE seq > ?1 GROUP BY doc_id")?;
    let rows = stmt.query_map([seq], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut out = Vec::new();
    for row in rows {
        let (id, last) = row?;
        out.push((id.parse().map_err(|e| anyhow::anyhow!("stored document id {id}: {e:?}"))?, last));
    }
    Ok(out)
}

/// A document's chunks stored after `seq`, in order.
pub fn chunks_after(conn: &Connection, doc: &DocumentId, seq: i64) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut stmt = conn.prepare_cached("SELECT bytes FROM doc_chunks WHERE doc_id = ?1 AND seq > ?2 ORDER BY seq")?;
    let rows = stmt.query_map(params![doc.to_string(), seq], |r| r.get::<_, Vec<u8>>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The channel on which relays tell each other that they stored chunks (PostgreSQL's
/// LISTEN/NOTIFY; the payload names the documents, and is only a hint: a relay that hears it
/// reads every chunk stored since the last it read).
pub const CHANGED_CHANNEL: &str = "signpost_changed";

/// Tells the other relays, once the open transaction commits, that `docs` changed.
pub fn announce_changed(tx: &Connection, docs: &[DocumentId]) -> anyhow::Result<()> {
    // NOTIFY's payload is at most 8000 bytes; past that it names no document (read them all).
    let mut payload = String::new();
    for d in docs {
        let d = d.to_string();
        if payload.len() + d.len() + 1 > 7_900 {
            payload.clear();
            break;
        }
        if !payload.is_empty() {
            payload.push(',');
        }
        payload.push_str(&d);
    }
    tx.execute("SELECT pg_notify(?1, ?2)", params![CHANGED_CHANNEL, payload])?;
    Ok(())
}

/// A stored document, loaded into automerge.
pub fn load_automerge(conn: &Connection, id: &DocumentId) -> anyhow::Result<Option<(Meta, automerge::Automerge)>> {
    let Some(stored) = load_doc(conn, id)? else { return Ok(None) };
    let doc = signpost_shared::chunks::load_stored(&stored.chunks)
        .map_err(|e| anyhow::anyhow!("document {id} does not load: {e}"))?;
    Ok(Some((stored.meta, doc)))
}

/// Applies the relay's writes inside the caller's transaction. A write for a retired document
/// fails: the relay may hold a live copy of one retired by another process a moment ago, and
/// nothing of it may be stored again (the relay then reloads it and learns it is retired).
pub fn apply_write(tx: &Connection, w: &Write) -> anyhow::Result<()> {
    if !matches!(w, Write::Usage { .. } | Write::Discard { .. }) && retired(tx, &w.doc().to_string())?.is_some() {
        anyhow::bail!("document {} was removed for good", w.doc());
    }
    match w {
        Write::Create { doc, meta, chunk } => {
            let (kind, scheme, site, day) = meta_columns(meta);
            tx.prepare_cached(
                "INSERT INTO documents(id, kind, scheme_id, site_id, day, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![doc.to_string(), kind, scheme, site, day, now_ms()])?;
            append_chunk(tx, doc, chunk)?;
        }
        Write::SetMeta { doc, meta } => {
            let (kind, scheme, site, day) = meta_columns(meta);
            tx.prepare_cached("UPDATE documents SET kind = ?2, scheme_id = ?3, site_id = ?4, day = ?5 WHERE id = ?1")?
                .execute(params![doc.to_string(), kind, scheme, site, day])?;
            if matches!(meta, Meta::Doc(_)) {
                // A day set aside whose date has come is counted, no longer set aside.
                tx.prepare_cached("DELETE FROM set_aside WHERE doc_id = ?1")?.execute([doc.to_string()])?;
            }
        }
        Write::Append { doc, chunk } => append_chunk(tx, doc, chunk)?,
        Write::Compact { doc, snapshot } => {
            tx.prepare_cached("DELETE FROM doc_chunks WHERE doc_id = ?1")?.execute([doc.to_string()])?;
            append_chunk(tx, doc, snapshot)?;
        }
        Write::Discard { doc } => {
            let doc = doc.to_string();
            for table in ["referral_categories", "referral_facts", "shift_facts"] {
                tx.prepare_cached(&format!("DELETE FROM {table} WHERE doc_id = ?1"))?.execute([&doc])?;
            }
            tx.prepare_cached("DELETE FROM invalid_entries WHERE doc_id = ?1")?.execute([&doc])?;
            tx.prepare_cached("DELETE FROM set_aside WHERE doc_id = ?1")?.execute([&doc])?;
            tx.prepare_cached("DELETE FROM doc_chunks WHERE doc_id = ?1")?.execute([&doc])?;
            tx.prepare_cached("DELETE FROM documents WHERE id = ?1")?.execute([&doc])?;
        }
        Write::Project { doc, projection } => project(tx, doc, projection)?,
        Write::SetAside { doc, set_aside } => {
            tx.prepare_cached(
                "INSERT INTO set_aside(doc_id, scheme_id, site_id, device, day, synced_on, set_aside_at)
                 SELECT id, scheme_id, site_id, ?2, day, ?3, ?4 FROM documents WHERE id = ?1
                 ON CONFLICT (doc_id) DO NOTHING",
            )?
            .execute(params![
                doc.to_string(),
                set_aside.device,
                set_aside.synced_on.format("%Y-%m-%d").to_string(),
                now_ms()
            ])?;
        }
        Write::Roster { roster, .. } => project_roster(tx, roster)?,
        Write::Usage { device, day, usage, .. } => {
            tx.prepare_cached(
                "INSERT INTO device_usage(device, day, bytes, documents) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(device, day) DO UPDATE SET bytes = excluded.bytes, documents = excluded.documents",
            )?
            .execute(params![
                device,
                day.format("%Y-%m-%d").to_string(),
                usage.bytes as i64,
                usage.documents as i64
            ])?;
        }
    }
    Ok(())
}

/// What a device stored on `day`, as the relay recorded it.
pub fn device_usage(conn: &Connection, device: &str, day: chrono::NaiveDate) -> anyhow::Result<Usage> {
    Ok(conn
        .prepare_cached("SELECT bytes, documents FROM device_usage WHERE device = ?1 AND day = ?2")?
        .query_row(params![device, day.format("%Y-%m-%d").to_string()], |r| {
            Ok(Usage { bytes: r.get::<_, i64>(0)? as u64, documents: r.get::<_, i64>(1)? as u64 })
        })
        .optional()?
        .unwrap_or_default())
}

fn project_roster(tx: &Connection, r: &Roster) -> anyhow::Result<()> {
    tx.prepare_cached("DELETE FROM roster_facts WHERE scheme_id = ?1")?.execute([&r.scheme])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO roster_facts(scheme_id, volunteer_id, active) VALUES (?1, ?2, ?3)
             ON CONFLICT (scheme_id, volunteer_id) DO UPDATE SET active = excluded.active",
    )?;
    for (volunteer, active) in &r.volunteers {
        insert.execute(params![r.scheme, volunteer, active])?;
    }
    Ok(())
}

/// Whether the volunteer is on the scheme's roster and active, as last projected.
pub fn on_roster(conn: &Connection, scheme: &str, volunteer: &str) -> anyhow::Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM roster_facts WHERE scheme_id = ?1 AND volunteer_id = ?2 AND active = 1")?
        .exists([scheme, volunteer])?)
}

/// Adds a chunk to a stored document. A document that is not stored (discarded a moment ago by
/// another relay, say) takes nothing: the write fails and the relay reads it again.
fn append_chunk(tx: &Connection, doc: &DocumentId, chunk: &[u8]) -> anyhow::Result<()> {
    let added = tx
        .prepare_cached(
            "INSERT INTO doc_chunks(doc_id, bytes) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM documents WHERE id = ?1)",
        )?
        .execute(params![doc.to_string(), chunk])?;
    if added != 1 {
        anyhow::bail!("document {doc} is not stored (removed a moment ago)");
    }
    Ok(())
}

fn project(tx: &Connection, doc: &DocumentId, p: &Projection) -> anyhow::Result<()> {
    let doc = doc.to_string();
    let day = p.date.format("%Y-%m-%d").to_string();
    for f in &p.facts {
        let key = match f {
            Fact::Referral(r) => EntryKey::Referral(r.id.clone()),
            Fact::Shift(s) => EntryKey::Shift(s.id.clone()),
            Fact::Invalid { key, .. } | Fact::Removed(key) => key.clone(),
        };
        // Start from nothing for this entry, then write what the document says now. Replaying
        // the same projection leaves the same rows: idempotent.
        match &key {
            EntryKey::Referral(id) => {
                tx.prepare_cached("DELETE FROM referral_facts WHERE doc_id = ?1 AND id = ?2")?
                    .execute(params![doc, id])?;
                tx.prepare_cached("DELETE FROM referral_categories WHERE doc_id = ?1 AND id = ?2")?
                    .execute(params![doc, id])?;
            }
            EntryKey::Shift(id) => {
                tx.prepare_cached("DELETE FROM shift_facts WHERE doc_id = ?1 AND id = ?2")?
                    .execute(params![doc, id])?;
            }
        }
        tx.prepare_cached("DELETE FROM invalid_entries WHERE doc_id = ?1 AND key = ?2")?
            .execute(params![doc, key.root_key()])?;
        match f {
            Fact::Referral(r) => {
                let (agency_kind, agency) = match &r.agency {
                    signpost_shared::schema::AgencyRef::Directory(a) => ("directory", a.as_str()),
                    signpost_shared::schema::AgencyRef::Other(o) => ("other", o.as_str()),
                };
                tx.prepare_cached(
                    "INSERT INTO referral_facts(doc_id, id, scheme_id, site_id, day, recorded_at, volunteer, helped, age_band, agency_kind, agency, help, follow_up, voided, follow_up_outcome, follow_up_closed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
                )?
                .execute(params![
                    doc,
                    r.id,
                    p.scheme,
                    p.site,
                    day,
                    r.recorded_at_ms,
                    r.volunteer,
                    r.helped.code(),
                    r.age_band.map(|a| a.code()),
                    agency_kind,
                    agency,
                    r.help.code(),
                    r.follow_up,
                    r.voided,
                    r.follow_up_closed.map(|(o, _)| o.code()),
                    r.follow_up_closed.map(|(_, at)| at)
                ])?;
                for c in &r.categories {
                    tx.prepare_cached(
                        "INSERT INTO referral_categories(doc_id, id, category, pathway) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![doc, r.id, c.code(), c.pathway().code()])?;
                }
            }
            Fact::Shift(s) => {
                tx.prepare_cached(
                    "INSERT INTO shift_facts(doc_id, id, scheme_id, site_id, day, volunteer, start_ms, end_ms, minutes)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![
                    doc,
                    s.id,
                    p.scheme,
                    p.site,
                    day,
                    s.volunteer,
                    s.start_ms,
                    s.end_ms,
                    s.minutes()
                ])?;
            }
            Fact::Invalid { reason, .. } => {
                tx.prepare_cached(
                    "INSERT INTO invalid_entries(doc_id, key, scheme_id, site_id, reason) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![doc, key.root_key(), p.scheme, p.site, reason])?;
            }
            Fact::Removed(_) => {}
        }
    }
    Ok(())
}

/// Stores a document written on the server side (such as a new scheme's directory).
pub fn create_server_doc(conn: &Connection, id: &DocumentId, header: &Header, bytes: &[u8]) -> anyhow::Result<()> {
    immediate(conn, |tx| {
        apply_write(tx, &Write::Create { doc: *id, meta: Meta::Doc(header.clone()), chunk: bytes.to_vec() })
    })
}

/// Rosters stored before they were projected as they change are projected from their
/// directory documents (a step of [`super::migrations`]).
pub(super) fn project_stored_rosters(tx: &Connection) -> anyhow::Result<()> {
    let ids: Vec<String> = tx
        .prepare("SELECT id FROM documents WHERE kind = ?1")?
        .query_map([DocKind::Directory.as_str()], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in ids.iter().filter_map(|id| id.parse::<DocumentId>().ok()) {
        match load_automerge(tx, &id) {
            Ok(Some((Meta::Doc(header), doc))) => {
                if let Some(roster) = projection::project_roster(&doc, &header) {
                    project_roster(tx, &roster)?;
                }
            }
            Ok(_) => {}
            // Its roster is projected when the relay next stores a change to it.
            Err(e) => tracing::warn!(document = %id, error = %e, "a stored directory document does not load"),
        }
    }
    Ok(())
}

/// Facts stored by a release that did not bound them (times far from their day, ids no address
/// can carry): their documents are projected again, whole, so that what is counted is what this
/// release's projection says (a step of [`super::migrations`]). Only the documents holding such
/// a fact are read.
pub(super) fn project_again_out_of_bounds(tx: &Connection) -> anyhow::Result<()> {
    use std::collections::BTreeSet;
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let bad_id = |id: &str| !signpost_shared::schema::addressable_id(id);
    let mut docs: BTreeSet<String> = BTreeSet::new();
    {
        let mut stmt = tx.prepare("SELECT doc_id, id, day, recorded_at, follow_up_closed_at FROM referral_facts")?;
        let mut rows = stmt.query(())?;
        while let Some(r) = rows.next()? {
            let (doc, id, d, recorded): (String, String, String, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            let closed: Option<i64> = r.get(4)?;
            let fits = day(&d).is_some_and(|d| {
                projection::fits_day(d, recorded) && closed.is_none_or(|at| projection::fits_later(d, at))
            });
            if !fits || bad_id(&id) {
                docs.insert(doc);
            }
        }
    }
    {
        let mut stmt = tx.prepare("SELECT doc_id, id, day, start_ms, end_ms FROM shift_facts")?;
        let mut rows = stmt.query(())?;
        while let Some(r) = rows.next()? {
            let (doc, id, d, start, end): (String, String, String, i64, Option<i64>) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?);
            let fits = day(&d)
                .is_some_and(|d| projection::fits_day(d, start) && end.is_none_or(|e| projection::fits_day(d, e)));
            if !fits || bad_id(&id) {
                docs.insert(doc);
            }
        }
    }
    for id in docs.iter().filter_map(|id| id.parse::<DocumentId>().ok()) {
        match load_automerge(tx, &id) {
            Ok(Some((Meta::Doc(header), doc))) => {
                if let Some(projection) = projection::project_all(&doc, &header) {
                    project(tx, &id, &projection)?;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(document = %id, error = %e, "a stored desk day does not load"),
        }
    }
    Ok(())
}
