//! The Signpost tablet app. Everything about documents and the sync protocol comes from
//! `signpost-shared`; this crate only holds screens and browser IO.

// Layers, each importing only those below it: app → {setup, desk} → {ui, sync} → credential;
// `lang` (English or Welsh) is used by every screen.
mod app;
mod credential;
mod desk;
mod lang;
mod setup;
mod sync;
mod ui;

fn main() {
    // The service worker loads this module too, for background sync: no page to render there.
    if web_sys::window().is_some() {
        lang::init();
        yew::Renderer::<app::App>::new().render();
    }
}
