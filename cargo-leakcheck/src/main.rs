//! `cargo leakcheck`: see the library for the commands and the exit-code table.

fn main() {
    std::process::exit(cargo_leakcheck::run(std::env::args_os()));
}
