//! Documents and their sync states in IndexedDB.
//!
//! Stores: `docs` (document id → a full save, the base), `changes` (`[document id, n]` → the
//! changes made after the base, in order), `sync` (document id → sync state) and `meta` (small
//! strings: the tablet's set-up for background sync, when it last synced). A save appends
//! only what is new, so its cost follows the change, not the day's document; after
//! `signpost_shared::local::COMPACT_AFTER` appends the document is saved whole again and its changes are dropped, in one
//! transaction. A write is durable when the IndexedDB transaction reports `complete`; only then
//! does the app send the change or tell the volunteer it is saved.

use idb::{Database, DatabaseEvent, Factory, KeyRange, ObjectStoreParams, Query, TransactionMode, TransactionResult};
use js_sys::{Array, Reflect, Uint8Array};
use signpost_shared::ids::DocumentId;
use std::collections::BTreeMap;
use wasm_bindgen::JsValue;

const DB_NAME: &str = "signpost";
const DB_VERSION: u32 = 3;
const DOCS: &str = "docs";
const CHANGES: &str = "changes";
const SYNC: &str = "sync";
const META: &str = "meta";

pub struct LocalStore {
    db: Database,
}

/// A stored document: its base save, then its appended changes in order.
pub struct Saved {
    pub id: DocumentId,
    pub chunks: Vec<Vec<u8>>,
    pub sync: Option<Vec<u8>>,
}

/// What to tell the volunteer. (IndexedDB's own message would only add a browser's internals,
/// and formatting it costs the download several kilobytes.)
fn err(what: &str) -> impl Fn(idb::Error) -> String + '_ {
    move |_| what.to_owned()
}

fn bytes_of(v: &JsValue) -> Option<Vec<u8>> {
    if v.is_undefined() || v.is_null() {
        return None;
    }
    // Version 1 stored `{doc, sync}` objects; read them too.
    if let Ok(doc) = Reflect::get(v, &"doc".into()) {
        if !doc.is_undefined() {
            return Some(Uint8Array::new(&doc).to_vec());
        }
    }
    Some(Uint8Array::new(v).to_vec())
}

fn change_key(id: &DocumentId, n: u32) -> JsValue {
    Array::of2(&JsValue::from_str(&id.to_string()), &JsValue::from(n)).into()
}

fn changes_of(id: &DocumentId) -> Result<Query, String> {
    let lower = Array::of2(&JsValue::from_str(&id.to_string()), &JsValue::from(0)).into();
    let upper = Array::of2(&JsValue::from_str(&id.to_string()), &JsValue::from(u32::MAX)).into();
    KeyRange::bound(&lower, &upper, None, None).map(Query::from).map_err(err("key range"))
}

impl LocalStore {
    pub async fn open() -> Result<LocalStore, String> {
        let factory = Factory::new().map_err(err("this browser has no IndexedDB"))?;
        let mut req = factory.open(DB_NAME, Some(DB_VERSION)).map_err(err("cannot open local storage"))?;
        req.on_upgrade_needed(|event| {
            if let Ok(db) = event.database() {
                let names = db.store_names();
                for name in [DOCS, CHANGES, SYNC, META] {
                    if !names.iter().any(|n| n == name) {
                        let _ = db.create_object_store(name, ObjectStoreParams::new());
                    }
                }
            }
        });
        let db = req.await.map_err(err("cannot open local storage"))?;
        Ok(LocalStore { db })
    }

    pub async fn load_all(&self) -> Result<Vec<Saved>, String> {
        let read = err("cannot read local storage");
        let tx = self.db.transaction(&[DOCS, CHANGES, SYNC], TransactionMode::ReadOnly).map_err(&read)?;
        let all = |name: &'static str| -> Result<_, String> { tx.object_store(name).map_err(&read) };
        let (docs, changes, sync) = (all(DOCS)?, all(CHANGES)?, all(SYNC)?);
        let doc_keys = docs.get_all_keys(None, None).map_err(&read)?.await.map_err(&read)?;
        let doc_values = docs.get_all(None, None).map_err(&read)?.await.map_err(&read)?;
        let change_keys = changes.get_all_keys(None, None).map_err(&read)?.await.map_err(&read)?;
        let change_values = changes.get_all(None, None).map_err(&read)?.await.map_err(&read)?;
        let sync_keys = sync.get_all_keys(None, None).map_err(&read)?.await.map_err(&read)?;
        let sync_values = sync.get_all(None, None).map_err(&read)?.await.map_err(&read)?;
        let mut out: BTreeMap<String, Saved> = BTreeMap::new();
        for (k, v) in doc_keys.into_iter().zip(doc_values) {
            let Some(key) = k.as_string() else { continue };
            let (Ok(id), Some(base)) = (key.parse(), bytes_of(&v)) else { continue };
            // Version 1 kept the sync state beside the document.
            let old_sync = Reflect::get(&v, &"sync".into())
                .ok()
                .filter(|s| !s.is_undefined())
                .map(|s| Uint8Array::new(&s).to_vec());
            out.insert(key, Saved { id, chunks: vec![base], sync: old_sync });
        }
        // Keys sort as [id, n]: each document's changes arrive in order.
        for (k, v) in change_keys.into_iter().zip(change_values) {
            let key = Array::from(&k).get(0).as_string().unwrap_or_default();
            if let (Some(saved), Some(bytes)) = (out.get_mut(&key), bytes_of(&v)) {
                saved.chunks.push(bytes);
            }
        }
        for (k, v) in sync_keys.into_iter().zip(sync_values) {
            if let (Some(saved), Some(bytes)) = (k.as_string().and_then(|key| out.get_mut(&key)), bytes_of(&v)) {
                saved.sync = Some(bytes);
            }
        }
        Ok(out.into_values().collect())
    }

    /// Stores a document whole (its base) and drops its appended changes; durable on return.
    pub async fn save_whole(&self, id: &DocumentId, doc: &[u8], sync: Option<&[u8]>) -> Result<(), String> {
        let write = err("cannot write local storage");
        let tx = self.db.transaction(&[DOCS, CHANGES, SYNC], TransactionMode::ReadWrite).map_err(&write)?;
        let key = JsValue::from_str(&id.to_string());
        tx.object_store(DOCS).map_err(&write)?.put(&Uint8Array::from(doc).into(), Some(&key)).map_err(&write)?;
        tx.object_store(CHANGES).map_err(&write)?.delete(changes_of(id)?).map_err(&write)?;
        if let Some(s) = sync {
            tx.object_store(SYNC).map_err(&write)?.put(&Uint8Array::from(s).into(), Some(&key)).map_err(&write)?;
        }
        Self::finish(tx).await
    }

    /// Appends the `n`-th change record of a document (after its base); durable on return.
    pub async fn append(&self, id: &DocumentId, n: u32, changes: &[u8], sync: Option<&[u8]>) -> Result<(), String> {
        let write = err("cannot write local storage");
        let tx = self.db.transaction(&[CHANGES, SYNC], TransactionMode::ReadWrite).map_err(&write)?;
        tx.object_store(CHANGES)
            .map_err(&write)?
            .put(&Uint8Array::from(changes).into(), Some(&change_key(id, n)))
            .map_err(&write)?;
        if let Some(s) = sync {
            let key = JsValue::from_str(&id.to_string());
            tx.object_store(SYNC).map_err(&write)?.put(&Uint8Array::from(s).into(), Some(&key)).map_err(&write)?;
        }
        Self::finish(tx).await
    }

    /// Stores only a document's sync state (after the relay acknowledged changes).
    pub async fn save_sync(&self, id: &DocumentId, sync: &[u8]) -> Result<(), String> {
        let write = err("cannot write local storage");
        let tx = self.db.transaction(&[SYNC], TransactionMode::ReadWrite).map_err(&write)?;
        let key = JsValue::from_str(&id.to_string());
        tx.object_store(SYNC).map_err(&write)?.put(&Uint8Array::from(sync).into(), Some(&key)).map_err(&write)?;
        Self::finish(tx).await
    }

    /// Removes a document, its appended changes and its sync state; gone on return.
    pub async fn delete(&self, id: &DocumentId) -> Result<(), String> {
        let write = err("cannot write local storage");
        let tx = self.db.transaction(&[DOCS, CHANGES, SYNC], TransactionMode::ReadWrite).map_err(&write)?;
        let key = JsValue::from_str(&id.to_string());
        tx.object_store(DOCS).map_err(&write)?.delete(key.clone()).map_err(&write)?;
        tx.object_store(CHANGES).map_err(&write)?.delete(changes_of(id)?).map_err(&write)?;
        tx.object_store(SYNC).map_err(&write)?.delete(key).map_err(&write)?;
        Self::finish(tx).await
    }

    /// A small value of the `meta` store.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, String> {
        let read = err("cannot read local storage");
        let tx = self.db.transaction(&[META], TransactionMode::ReadOnly).map_err(&read)?;
        let v =
            tx.object_store(META).map_err(&read)?.get(JsValue::from_str(key)).map_err(&read)?.await.map_err(&read)?;
        Ok(v.and_then(|v| v.as_string()))
    }

    /// Sets (`Some`) or removes (`None`) a value of the `meta` store; durable on return.
    pub async fn set_meta(&self, key: &str, value: Option<&str>) -> Result<(), String> {
        let write = err("cannot write local storage");
        let tx = self.db.transaction(&[META], TransactionMode::ReadWrite).map_err(&write)?;
        let store = tx.object_store(META).map_err(&write)?;
        let key = JsValue::from_str(key);
        match value {
            Some(v) => drop(store.put(&JsValue::from_str(v), Some(&key)).map_err(&write)?),
            None => drop(store.delete(key).map_err(&write)?),
        }
        Self::finish(tx).await
    }

    async fn finish(tx: idb::Transaction) -> Result<(), String> {
        let write = err("cannot write local storage");
        match tx.commit().map_err(&write)?.await.map_err(&write)? {
            TransactionResult::Committed => Ok(()),
            TransactionResult::Aborted => Err("the tablet refused to store the entry (storage full?)".into()),
        }
    }
}
