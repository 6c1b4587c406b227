//! Fuzz target `recording_url`: see `pivotforge::fuzzing::recording_url`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pivotforge::fuzzing::recording_url(data));
