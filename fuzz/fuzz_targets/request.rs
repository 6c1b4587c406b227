//! Fuzz target `request`: see `pivotforge::fuzzing::request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pivotforge::fuzzing::request(data));
