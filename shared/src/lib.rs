//! Signpost's pure core. Nothing here touches sockets, clocks, randomness or storage: time and
//! random bytes come in as arguments, effects go out as values. That keeps the same code running
//! on the relay and in the browser, and makes every protocol path testable in-process.

pub mod chunks;
pub mod disclosure;
pub mod equality;
/// Fuzz targets (not part of the tablet app).
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzzing;
pub mod ids;
pub mod local;
pub mod peer;
pub mod projection;
pub mod quota;
pub mod relay;
pub mod replace;
pub mod schema;
pub mod testkit;
pub mod vocab;
pub mod wire;
