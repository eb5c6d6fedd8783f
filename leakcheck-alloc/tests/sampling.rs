//! The heap sampler through the real global allocator over System: what it records, what it
//! forgets, and that it estimates a known heap without bias (the checks are in
//! `sampling/checks.rs`, shared with the jemalloc and mimalloc fixture).

leakcheck_alloc::global_allocator!();

#[path = "sampling/checks.rs"]
mod checks;
