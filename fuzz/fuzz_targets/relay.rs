//! The relay's state machine fed arbitrary schedules (`signpost_shared::fuzzing::relay`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signpost_shared::fuzzing::relay(data));
