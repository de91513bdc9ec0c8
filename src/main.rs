fn main() {
    std::process::exit(callscript::cli::main());
}
