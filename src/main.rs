// mimalloc: parsing, checking and campaigns allocate many small short-lived values; glibc's
// malloc and free took about a third of a parse (docs/architecture.md, "Measured: check").
#[global_allocator]
static ALLOCATOR: callscript::allocator::Mimalloc = callscript::allocator::Mimalloc;

fn main() {
    std::process::exit(callscript::cli::main());
}
