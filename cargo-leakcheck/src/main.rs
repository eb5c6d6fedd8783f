//! `cargo leakcheck`: see the library for the commands and the exit-code table.

// Counts allocations for `simulate`'s case processes, which check a case in this binary.
leakcheck::global_allocator!();

fn main() {
    std::process::exit(cargo_leakcheck::run(std::env::args_os()));
}
