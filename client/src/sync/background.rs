//! Background sync: entries saved while offline reach the relay once the network returns, even
//! if the app was closed by then.
//!
//! The page asks the browser for a one-off Background Sync ([`request`]) whenever entries wait
//! with no connection. The browser wakes the service worker when it is online again; the worker
//! loads this same module and calls [`background_sync`], which opens the tablet's documents,
//! connects with the stored set-up, and stays until the relay has acknowledged every local change
//! (or gives up, and the browser tries again later). The page and the worker never write local
//! storage at the same time: both hold the Web Lock `signpost-local-data` while they do (see
//! `index.html` and `sw.js`).

use super::random_suffix;
use crate::credential::Setup;
use crate::sync::connection::{Connection, Status};
use crate::sync::replica::{Replica, META_SETUP};
use js_sys::{Function, Promise, Reflect};
use signpost_shared::ids::DocumentId;
use signpost_shared::peer::Event;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use yew::Callback;

/// The Background Sync tag the service worker answers to.
pub const TAG: &str = "signpost-sync";
/// How long one background sync may take before it leaves the rest to the browser's next try.
/// Short: a volunteer opening the app meanwhile waits for it.
const LIMIT_MS: f64 = 20_000.0;
/// How long the relay may take to answer the connection.
const CONNECT_MS: f64 = 5_000.0;

fn get(target: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    Reflect::get(target, &key.into())
}

/// Asks the browser to run background sync when it is next online. Does nothing where the
/// browser lacks Background Sync or no service worker controls the page.
pub fn request() {
    wasm_bindgen_futures::spawn_local(async {
        let _ = register().await;
    });
}

async fn register() -> Result<(), JsValue> {
    let workers = get(&get(&js_sys::global(), "navigator")?, "serviceWorker")?;
    if workers.is_undefined() || get(&workers, "controller")?.is_null() {
        return Ok(());
    }
    let registration = JsFuture::from(get(&workers, "ready")?.dyn_into::<Promise>()?).await?;
    let sync = get(&registration, "sync")?;
    if sync.is_undefined() {
        return Ok(());
    }
    let register: Function = get(&sync, "register")?.dyn_into()?;
    JsFuture::from(register.call1(&sync, &TAG.into())?.dyn_into::<Promise>()?).await?;
    Ok(())
}

/// Sends what waits to the relay. Called by the service worker's `sync` event while it holds the
/// local-data lock. Resolves to the number of documents still holding changes the relay has not
/// acknowledged: 0 when done (or when the tablet is not set up), more when the worker should
/// let the browser try again.
#[wasm_bindgen]
pub async fn background_sync() -> Result<u32, JsValue> {
    let rep = Replica::open(&format!("tablet-{}", random_suffix())).await?;
    let Some(setup) = rep.store.meta(META_SETUP).await?.as_deref().and_then(Setup::decode) else {
        return Ok(0);
    };
    if rep.unsynced_docs().is_empty() {
        return Ok(0);
    }
    let arrived: Rc<RefCell<Vec<(DocumentId, bool)>>> = Rc::default();
    let gave_up = Rc::new(Cell::new(false));
    let ready = Rc::new(Cell::new(false));
    let (a, g, r) = (arrived.clone(), gave_up.clone(), ready.clone());
    let conn = Connection::start(
        &setup.token,
        rep.peer.clone(),
        // One attempt: if the relay cannot be reached, the browser schedules the next.
        Callback::from(move |s: Status| g.set(g.get() || !matches!(s, Status::Online | Status::Connecting))),
        Callback::from(move |e: Event| match e {
            Event::Ready { .. } => r.set(true),
            Event::Changed(id) => a.borrow_mut().push((id, false)),
            Event::Synced(id) => a.borrow_mut().push((id, true)),
            _ => {}
        }),
    );
    let started = js_sys::Date::now();
    loop {
        gloo_timers::future::TimeoutFuture::new(50).await;
        let batch = std::mem::take(&mut *arrived.borrow_mut());
        for (id, synced) in batch {
            rep.persist(id).await?;
            if synced {
                rep.note_synced(js_sys::Date::now() as i64).await?;
            }
        }
        let done = rep.unsynced_docs().is_empty() && arrived.borrow().is_empty();
        let waited = js_sys::Date::now() - started;
        if done || gave_up.get() || waited > LIMIT_MS || (!ready.get() && waited > CONNECT_MS) {
            break;
        }
    }
    conn.stop();
    Ok(rep.unsynced_docs().len() as u32)
}
