//! What `#[leak_tests]` makes of a module, as tokens.

use super::leak_tests;
use proc_macro2::TokenStream;
use quote::quote;

fn squashed(tokens: TokenStream) -> String {
    tokens.to_string().replace(' ', "")
}

#[test]
fn tests_become_leak_tests_with_the_module_options_and_their_own_win() {
    let out = squashed(leak_tests(
        quote!(iterations = 4, threads = false),
        quote!(
            mod tests {
                fn helper() {}
                #[test]
                #[ignore]
                fn plain() {}
                #[leak_test(iterations = 2)]
                fn own() {}
                #[leakcheck::leak_test]
                fn bare() {}
                #[tokio::test]
                async fn other_harness() {}
                mod nested {
                    #[test]
                    fn inside() {}
                }
            }
        ),
    ));
    let expect = [
        "fnhelper(){}",
        "#[::leakcheck::leak_test(iterations=4,threads=false)]#[ignore]fnplain(){}",
        "#[leak_test(iterations=2,threads=false)]fnown(){}",
        "#[leakcheck::leak_test(iterations=4,threads=false)]fnbare(){}",
        "#[tokio::test]asyncfnother_harness(){}",
        "#[::leakcheck::leak_test(iterations=4,threads=false)]fninside(){}",
    ];
    for part in expect {
        assert!(out.contains(part), "{part} in {out}");
    }
    assert!(!out.contains("compile_error"), "{out}");
}

#[test]
fn runtime_options_go_to_async_tests_only_and_the_crate_path_to_all() {
    let out = squashed(leak_tests(
        quote!(flavor = "multi_thread", crate = "lc"),
        quote!(
            mod tests {
                #[test]
                fn sync() {}
                #[leak_test]
                async fn not_sync() {}
            }
        ),
    ));
    assert!(
        out.contains("#[lc::leak_test(crate=\"lc\")]fnsync"),
        "{out}"
    );
    assert!(
        out.contains("#[leak_test(flavor=\"multi_thread\",crate=\"lc\")]asyncfnnot_sync"),
        "{out}"
    );
}

#[test]
fn a_bad_module_option_is_one_error_and_the_tests_get_none() {
    let out = squashed(leak_tests(
        quote!(iterashuns = 4),
        quote!(
            mod tests {
                #[test]
                fn a() {}
                #[test]
                fn b() {}
            }
        ),
    ));
    assert_eq!(out.matches("compile_error").count(), 1, "{out}");
    assert_eq!(
        out.matches("#[::leakcheck::leak_test()]").count(),
        2,
        "{out}"
    );
}

#[test]
fn anything_but_an_inline_module_is_an_error_kept_next_to_the_item() {
    for item in [
        quote!(
            fn f() {}
        ),
        quote!(
            mod elsewhere;
        ),
    ] {
        let out = squashed(leak_tests(quote!(), item.clone()));
        assert!(out.contains("compile_error"), "{item}: {out}");
        assert!(out.contains(&squashed(item.clone())), "{item}: {out}");
    }
}

#[test]
fn a_submodule_with_its_own_leak_tests_keeps_its_options() {
    let out = squashed(leak_tests(
        quote!(iterations = 4),
        quote!(
            mod outer {
                #[leakcheck::leak_tests(iterations = 9)]
                mod inner {
                    #[test]
                    fn t() {}
                }
            }
        ),
    ));
    // Left for the inner attribute, which expands next with its own options.
    assert!(out.contains("#[test]fnt(){}"), "{out}");
}
