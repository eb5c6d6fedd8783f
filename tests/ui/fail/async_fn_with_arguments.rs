leakcheck::global_allocator!();

use leakcheck::leak_test;

#[leak_test(flavor = "multi_thread")]
async fn takes_a_port(port: u16) {
    let _ = port;
}

fn main() {}
