//! The automerge-repo message decoder and the chunk weigher (`signpost_shared::fuzzing::wire`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signpost_shared::fuzzing::wire(data));
