//! The Signpost tablet app. Everything about documents and the sync protocol comes from
//! `signpost-shared`; this crate only holds screens and browser IO.

mod app;
mod background;
mod connection;
mod credential;
mod desk;
mod replica;
mod storage;

fn main() {
    // The service worker loads this module too, for background sync: no page to render there.
    if web_sys::window().is_some() {
        yew::Renderer::<app::App>::new().render();
    }
}
