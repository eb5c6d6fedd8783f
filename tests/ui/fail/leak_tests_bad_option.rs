leakcheck::global_allocator!();

// Reported once, on the module's attribute, not once per test.
#[leakcheck::leak_tests(iterashuns = 4)]
mod tests {
    #[test]
    fn one() {}

    #[test]
    fn two() {}
}

fn main() {}
