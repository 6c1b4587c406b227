//! Fuzz target `journal`: see `pivotforge::fuzzing::journal_text`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pivotforge::fuzzing::journal_text(data));
