//! The Signpost tablet app. Everything about documents and the sync protocol comes from
//! `signpost-shared`; this crate only holds screens and browser IO.

mod app;
mod connection;
mod credential;
mod desk;
mod storage;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
