// The module of `leak_tests_out_of_line.rs`: an out-of-line module the attribute cannot see into.
#[test]
fn inside() {}
