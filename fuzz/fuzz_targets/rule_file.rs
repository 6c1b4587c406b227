//! Fuzz target `rule_file`: see `pivotforge::fuzzing::rule_file`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pivotforge::fuzzing::rule_file(data));
