//! The Signpost tablet app. Everything about documents and the sync protocol comes from
//! `signpost-shared`; this crate only holds screens and browser IO.

mod app;
mod connection;
mod credential;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
