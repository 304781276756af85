//! Documents and their sync states in IndexedDB: one record per document,
//! `{doc: <automerge save>, sync: <sync state>}`, keyed by document id.
//!
//! A save is durable when the IndexedDB transaction reports `complete`; only then does the app
//! send the change or tell the volunteer it is saved.

use idb::{Database, DatabaseEvent, Factory, ObjectStoreParams, TransactionMode, TransactionResult};
use js_sys::{Object, Reflect, Uint8Array};
use signpost_shared::ids::DocumentId;
use wasm_bindgen::JsValue;

const DB_NAME: &str = "signpost";
const DOCS: &str = "docs";

pub struct LocalStore {
    db: Database,
}

pub struct Saved {
    pub id: DocumentId,
    pub doc: Vec<u8>,
    pub sync: Option<Vec<u8>>,
}

fn err(what: &str) -> impl Fn(idb::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl LocalStore {
    pub async fn open() -> Result<LocalStore, String> {
        let factory = Factory::new().map_err(err("this browser has no IndexedDB"))?;
        let mut req = factory.open(DB_NAME, Some(1)).map_err(err("cannot open local storage"))?;
        req.on_upgrade_needed(|event| {
            if let Ok(db) = event.database() {
                let _ = db.create_object_store(DOCS, ObjectStoreParams::new());
            }
        });
        let db = req.await.map_err(err("cannot open local storage"))?;
        Ok(LocalStore { db })
    }

    pub async fn load_all(&self) -> Result<Vec<Saved>, String> {
        let tx = self.db.transaction(&[DOCS], TransactionMode::ReadOnly).map_err(err("cannot read local storage"))?;
        let store = tx.object_store(DOCS).map_err(err("cannot read local storage"))?;
        let keys = store.get_all_keys(None, None).map_err(err("cannot read"))?.await.map_err(err("cannot read"))?;
        let values = store.get_all(None, None).map_err(err("cannot read"))?.await.map_err(err("cannot read"))?;
        let mut out = Vec::new();
        for (k, v) in keys.into_iter().zip(values) {
            let Some(id) = k.as_string().and_then(|s| s.parse().ok()) else { continue };
            let bytes = |name: &str| {
                Reflect::get(&v, &name.into()).ok().filter(|x| !x.is_undefined()).map(|x| Uint8Array::new(&x).to_vec())
            };
            if let Some(doc) = bytes("doc") {
                out.push(Saved { id, doc, sync: bytes("sync") });
            }
        }
        Ok(out)
    }

    /// Stores a document and its sync state; returns once the write is durable.
    pub async fn save(&self, id: &DocumentId, doc: &[u8], sync: Option<&[u8]>) -> Result<(), String> {
        let value = Object::new();
        let set = |k: &str, b: &[u8]| Reflect::set(&value, &k.into(), &Uint8Array::from(b).into());
        set("doc", doc).map_err(|_| "cannot encode the document".to_owned())?;
        if let Some(s) = sync {
            set("sync", s).map_err(|_| "cannot encode the sync state".to_owned())?;
        }
        let tx = self.db.transaction(&[DOCS], TransactionMode::ReadWrite).map_err(err("cannot write local storage"))?;
        let store = tx.object_store(DOCS).map_err(err("cannot write local storage"))?;
        store
            .put(&value, Some(&JsValue::from_str(&id.to_string())))
            .map_err(err("cannot write local storage"))?
            .await
            .map_err(err("cannot write local storage"))?;
        match tx
            .commit()
            .map_err(err("cannot write local storage"))?
            .await
            .map_err(err("cannot write local storage"))?
        {
            TransactionResult::Committed => Ok(()),
            TransactionResult::Aborted => Err("the tablet refused to store the entry (storage full?)".into()),
        }
    }
}
