//! Fuzz target `template`: see `pivotforge::fuzzing::template`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pivotforge::fuzzing::template(data));
