//! The `.callc` loader: any bytes load to a validated program or a load error, never a panic
//! or an allocation the input does not pay for.
//!
//! A mutated file almost never keeps its SHA-256, so on the bytes as given the loader stops at
//! the checksum (100 million inputs reached 153 edges). Each input is therefore also loaded
//! sealed again: its payload with a header whose checksum matches (the input's own header
//! when it has one, else a fresh one, the whole input being the payload), so the decoder and
//! the validator behind the checksum see the mutations too.
#![no_main]

use callscript_compiler::bytecode::{Header, MAGIC, Program, frame};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    load(data);
    load(&sealed(data));
});

fn load(bytes: &[u8]) {
    if let Ok((_, program)) = Program::from_bytes(bytes) {
        // A program that loads survives the disassembler and a second round trip.
        let _ = callscript_compiler::disasm::disassemble(&program);
        let bytes = program.to_bytes();
        Program::from_bytes(&bytes).expect("a loaded program reloads");
    }
}

/// The input's payload behind a header with the right checksum.
fn sealed(data: &[u8]) -> Vec<u8> {
    let framed = data.len() >= 16 && &data[..8] == MAGIC;
    let header_len = if framed { u32::from_le_bytes(data[12..16].try_into().unwrap()) as usize } else { 0 };
    let (header, payload) = match data.get(16..).and_then(|rest| rest.get(..header_len)) {
        Some(header) if framed => match postcard::from_bytes::<Header>(header) {
            Ok(header) => (header, &data[16 + header_len..]),
            Err(_) => (fresh(), data),
        },
        _ => (fresh(), data),
    };
    frame(&Header { payload_sha256: Sha256::digest(payload).into(), ..header }, payload)
}

fn fresh() -> Header {
    Header { compiler_version: "fuzz".to_string(), sources_sha256: String::new(), payload_sha256: [0; 32] }
}
