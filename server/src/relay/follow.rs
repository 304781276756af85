//! Several relays on one PostgreSQL database: what the relay thread does, inside each batch's
//! transaction, to follow what the others store and to tell them what it stored. Every chunk is
//! written under the database's write lock, so chunks commit in `seq` order and a relay that has
//! read up to some `seq` has missed nothing below it.

use signpost_domain::db::documents;
use signpost_domain::sql::Connection;
use signpost_shared::ids::DocumentId;
use signpost_shared::relay::{Output, Relay};
use std::collections::BTreeSet;

/// Merges into the live documents the chunks other relays stored after `from` (by `seq`). The
/// newest `seq` read, and what the merges ask of the driver (sends, and loads of documents a
/// device here waited for that were created elsewhere).
pub(super) fn catch_up(relay: &mut Relay, tx: &Connection, from: i64) -> anyhow::Result<(i64, Output)> {
    let (mut newest, mut out) = (from, Output::default());
    for (doc, last) in documents::stored_after(tx, from)? {
        newest = newest.max(last);
        if relay.follows(&doc) {
            let meta = documents::meta_of(tx, &doc)?;
            out.append(relay.stored_elsewhere(doc, meta.as_ref(), &documents::chunks_after(tx, &doc, from)?));
        }
    }
    Ok((newest, out))
}

/// At the end of a batch, still under the write lock: the newest chunk's `seq` (this batch's
/// own, or one already merged), and if the batch stored chunks since `before`, a NOTIFY naming
/// the documents it `touched`, delivered to the other relays once the batch commits. `None`
/// when the newest chunk could not be read (the next batch reads from where it was).
pub(super) fn announce<'a>(tx: &Connection, before: i64, touched: impl Iterator<Item = &'a DocumentId>) -> Option<i64> {
    let after = documents::last_chunk_seq(tx)
        .inspect_err(|e| tracing::warn!(error = %e, "reading the newest chunk failed"))
        .ok()?;
    if after > before {
        let docs: Vec<DocumentId> = touched.copied().collect::<BTreeSet<_>>().into_iter().collect();
        if let Err(e) = documents::announce_changed(tx, &docs) {
            tracing::warn!(error = %e, "telling other relays of stored changes failed");
        }
    }
    Some(after)
}
