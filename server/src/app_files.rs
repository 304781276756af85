//! The tablet app's files, embedded in the binary when it is built with the app (`cargo xtask
//! dist` builds the app first), so that `signpost serve` alone serves everything; `--static-dir`
//! serves a folder instead, for development. A debug build reads `client/dist` from the disk.
//!
//! Written here rather than with `tower_http::services::ServeDir` because that serves only a
//! folder: what it does for the app is small — the file's type, the build's brotli or gzip copy
//! when the browser takes it, and an `ETag` so that a service worker's check costs nothing.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(rust_embed::RustEmbed)]
#[folder = "../client/dist"]
#[allow_missing = true]
struct Built;

/// Whether this binary carries the tablet app (a release built without it serves the web pages
/// and the API only).
pub fn embedded() -> bool {
    Built::get("index.html").is_some()
}

/// Answers a request for one of the app's files.
pub async fn serve(req: Request) -> Response {
    let path = req.uri().path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    // Nothing hidden (the build's fingerprint) and no compressed copy asked for by name.
    if path.split('/').any(|p| p.starts_with('.')) || path.ends_with(".br") || path.ends_with(".gz") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(file) = Built::get(path) else { return StatusCode::NOT_FOUND.into_response() };
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(file.metadata.mimetype()).expect("a MIME type"));
    headers.insert(header::ETAG, HeaderValue::from_str(&etag).expect("an ETag"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let accepts = |coding: &str| {
        req.headers()
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|c| c.split(';').next().is_some_and(|c| c.trim() == coding) && !c.contains("q=0"))
    };
    for (coding, ext) in [("br", "br"), ("gzip", "gz")] {
        if accepts(coding) {
            if let Some(packed) = Built::get(&format!("{path}.{ext}")) {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
                return (headers, Body::from(packed.data.into_owned())).into_response();
            }
        }
    }
    (headers, Body::from(file.data.into_owned())).into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
