//! In a `#[leak_tests]` module, errors in a test's body and in its own options point at them,
//! not at the module's attribute.

leakcheck::global_allocator!();

#[leakcheck::leak_tests(iterations = 4)]
mod tests {
    #[test]
    fn type_error_in_body() {
        let count: usize = "three"; //~ ERROR mismatched types
        assert_eq!(count, 3);
    }

    #[leakcheck::leak_test(warmup = "two")] //~ ERROR `warmup` takes a whole number
    fn bad_own_option() {}

    mod nested {
        #[test]
        fn unknown_name() {
            drop(not_defined_anywhere); //~ ERROR cannot find value `not_defined_anywhere`
        }
    }
}

fn main() {}
