//! `#[leak_tests]` on an inline module: its `#[test]`s (nested modules included) become leak
//! tests with the module's options, a `#[leak_test(...)]` keeps its own, other items stay.

leakcheck::global_allocator!();

#[leakcheck::leak_tests(iterations = 4, settle_ms = 5)]
mod tests {
    use leakcheck::leak_test;

    fn helper() -> Vec<u8> {
        vec![1, 2, 3]
    }

    #[test]
    fn plain() {
        assert_eq!(helper().len(), 3);
    }

    #[leak_test(iterations = 2)]
    fn own_options_win() {}

    #[leak_test]
    fn bare_leak_test() {}

    #[test]
    #[ignore = "slow"]
    fn ignored() {}

    #[test]
    #[should_panic(expected = "always")]
    fn panics() {
        panic!("always");
    }

    #[test]
    fn returns_a_result() -> Result<(), String> {
        Ok(())
    }

    mod nested {
        #[test]
        fn inside() {
            assert_eq!(super::helper()[0], 1);
        }
    }

    // Its own `#[leak_tests]` and options, not the outer module's.
    #[leakcheck::leak_tests(iterations = 2)]
    mod own_options {
        #[test]
        fn inside() {}
    }
}

#[leakcheck::leak_tests(flavor = "multi_thread", worker_threads = 2, crate = "leakcheck")]
mod async_options_go_to_async_tests {
    #[test]
    fn plain_fn_gets_no_flavor() {}

    #[leakcheck::leak_test]
    async fn async_fn_gets_the_flavor() {
        std::future::ready(()).await;
    }
}

fn main() {}
