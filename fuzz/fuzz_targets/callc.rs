//! The `.callc` loader: any bytes load to a validated program or a load error, never a panic
//! or an allocation the input does not pay for.
#![no_main]

use callscript_compiler::bytecode::Program;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok((_, program)) = Program::from_bytes(data) {
        // A program that loads survives the disassembler and a second round trip.
        let _ = callscript_compiler::disasm::disassemble(&program);
        let bytes = program.to_bytes();
        Program::from_bytes(&bytes).expect("a loaded program reloads");
    }
});
