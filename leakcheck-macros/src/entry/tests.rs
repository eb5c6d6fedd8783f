//! The expansion itself, as tokens: what the compiler-driven tests in tests/macro_ui.rs cannot
//! see once an error stops the build.

use super::leak_test;
use proc_macro2::TokenStream;
use quote::quote;
use syn::{File, Item, ItemFn};

/// Expands `#[leak_test(args)] item` and splits the output into its test functions (with
/// whether each is marked `#[test]`) and the messages of its `compile_error!`s.
fn expand(args: TokenStream, item: TokenStream) -> (Vec<(ItemFn, bool)>, Vec<String>) {
    let out = leak_test(args, item);
    let file: File = syn::parse2(out.clone()).unwrap_or_else(|e| panic!("{e}: {out}"));
    let (mut fns, mut errors) = (Vec::new(), Vec::new());
    for item in file.items {
        match item {
            Item::Fn(f) => {
                let is_test = f
                    .attrs
                    .iter()
                    .any(|a| a.path().segments.last().is_some_and(|s| s.ident == "test"));
                fns.push((f, is_test));
            }
            Item::Macro(m) if m.mac.path.segments.last().unwrap().ident == "compile_error" => {
                let message: syn::LitStr = m.mac.parse_body().unwrap();
                errors.push(message.value());
            }
            other => panic!("unexpected item in the expansion: {}", quote!(#other)),
        }
    }
    (fns, errors)
}

fn squashed(tokens: impl quote::ToTokens) -> String {
    tokens.to_token_stream().to_string().replace(' ', "")
}

#[test]
fn options_become_builder_calls_into_private() {
    let (fns, errors) = expand(
        quote!(
            iterations = 40,
            warmup = 5,
            timeout = 9,
            suspicious = "fail",
            suppress_fds = ["a", "b"]
        ),
        quote!(
            fn t() {}
        ),
    );
    assert!(errors.is_empty(), "{errors:?}");
    let body = squashed(&fns[0].0.block);
    assert!(
        body.contains(
            "::leakcheck::__private::Options::new().iterations(40).warmup(5).timeout_secs(9)\
             .suspicious(::leakcheck::__private::Suspicious::Fail).suppress_fds(&[\"a\",\"b\"])"
        ),
        "{body}"
    );
    // No struct literal: a field added to `Options` cannot break an older expansion.
    assert!(!body.contains("Options{"), "{body}");
}

#[test]
fn a_bad_option_still_emits_the_test_next_to_the_error() {
    for args in [
        quote!(iterations = "ten"),
        quote!(iterashuns = 3),
        quote!(warmup = 2, flavor = "multi_thread"),
    ] {
        let (fns, errors) = expand(
            args.clone(),
            quote!(
                fn kept() {
                    let _x = 1;
                }
            ),
        );
        assert_eq!(errors.len(), 1, "{args}: {errors:?}");
        let [(test, true)] = &fns[..] else {
            let got: Vec<_> = fns
                .iter()
                .map(|(f, test)| (f.sig.ident.to_string(), *test))
                .collect();
            panic!("{args}: expected one #[test] fn, got (name, is test) {got:?}");
        };
        assert_eq!(test.sig.ident, "kept");
        // With the defaults: the options before the bad one are not half applied.
        let body = squashed(&test.block);
        assert!(
            body.contains("run_test(") && body.contains("Options::new(),"),
            "{body}"
        );
        assert!(body.contains("let_x=1;"), "the body is kept: {body}");
    }
}

#[test]
fn a_bad_option_keeps_a_renamed_crate() {
    let (fns, errors) = expand(
        quote!(crate = "renamed", iterations = "ten"),
        quote!(
            fn t() {}
        ),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(squashed(&fns[0].0.block).contains("renamed::__private::run_test("));
}

#[test]
fn a_bad_signature_leaves_the_function_as_written_and_not_a_test() {
    let (fns, errors) = expand(
        quote!(iterations = 4),
        quote!(
            fn takes(n: u32) {}
        ),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    let [(f, false)] = &fns[..] else {
        panic!("expected the function unchanged and not a test");
    };
    assert_eq!(f.sig.inputs.len(), 1);
}

#[test]
fn runs_one_is_the_single_run_mode_and_other_values_are_refused() {
    let (fns, errors) = expand(
        quote!(runs = 1),
        quote!(
            fn once() {}
        ),
    );
    assert!(errors.is_empty(), "{errors:?}");
    let body = squashed(&fns[0].0.block);
    assert!(body.contains("Options::new().runs(1)"), "{body}");

    for (args, message) in [
        (quote!(runs = 2), "`runs` supports only `runs = 1`"),
        (quote!(runs = 0), "`runs` supports only `runs = 1`"),
        (
            quote!(runs = 1, iterations = 4),
            "`iterations` does not apply with `runs = 1`",
        ),
    ] {
        let (_, errors) = expand(
            args.clone(),
            quote!(
                fn once() {}
            ),
        );
        assert!(
            errors.len() == 1 && errors[0].contains(message),
            "{args}: {errors:?}"
        );
    }
}

#[test]
fn the_body_is_a_nested_fn_with_its_own_signature_and_inner_attributes() {
    let (fns, errors) = expand(
        quote!(),
        quote!(
            /// Doc.
            #[allow(unused)]
            fn t() -> Result<(), String> {
                #![allow(unused_variables)]
                let x = 1;
                Ok(())
            }
        ),
    );
    assert!(errors.is_empty(), "{errors:?}");
    let (test, _) = &fns[0];
    // The test itself takes the outer attributes and returns `()`.
    assert_eq!(squashed(&test.sig), "fnt()");
    assert!(test
        .attrs
        .iter()
        .all(|a| matches!(a.style, syn::AttrStyle::Outer)));
    let inner = test
        .block
        .stmts
        .iter()
        .find_map(|s| match s {
            syn::Stmt::Item(Item::Fn(f)) => Some(f),
            _ => None,
        })
        .expect("a nested fn");
    assert_eq!(squashed(&inner.sig), "fnt()->Result<(),String>");
    assert!(matches!(inner.attrs[..], [ref a] if matches!(a.style, syn::AttrStyle::Inner(_))));
    let body = squashed(&test.block);
    assert!(body.contains("run_test("), "{body}");
    assert!(
        body.ends_with(",t,)}"),
        "the fn itself is handed over: {body}"
    );
}

#[test]
fn should_panic_hands_its_expected_message_to_the_runtime() {
    for (attr, expected) in [
        (quote!(#[should_panic]), "::core::option::Option::None"),
        (
            quote!(#[should_panic(expected = "boom")]),
            "::core::option::Option::Some(\"boom\")",
        ),
        (
            quote!(#[should_panic = "boom"]),
            "::core::option::Option::Some(\"boom\")",
        ),
    ] {
        let (fns, errors) = expand(quote!(), quote!(#attr fn t() { panic!("boom") }));
        assert!(errors.is_empty(), "{errors:?}");
        let body = squashed(&fns[0].0.block);
        let call = "run_should_panic_test(";
        assert!(body.contains(call), "{attr}: {body}");
        assert!(body.contains(expected), "{attr}: {body}");
    }
    // An async fn has its own: each run's future is polled with its panics caught.
    let out = squashed(leak_test(
        quote!(),
        quote!(
            #[should_panic]
            async fn t() {}
        ),
    ));
    assert!(out.contains("run_async_should_panic_test("), "{out}");
}
