//! `#[leak_tests]` on an inline module: every `#[test]` in it (and in its inline submodules)
//! becomes a `#[leak_test]` with the module's options; a `#[leak_test(...)]` already there gets
//! the module's options it does not set itself.

use crate::entry::{parse_options, Errors, ASYNC_ONLY};
use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Item, ItemFn, ItemMod, Meta, Token};

type Options = Punctuated<Meta, Token![,]>;

pub(crate) fn leak_tests(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    // Checked once here, so that a bad module option is one error and not one per test; the
    // tests then get no module options at all.
    let parsed = parse_options(args.clone(), &mut errors);
    let options = if errors.is_empty() {
        Options::parse_terminated.parse2(args).unwrap_or_default()
    } else {
        Options::new()
    };
    let krate = parsed
        .krate
        .map_or_else(|| quote!(::leakcheck), |p| p.into_token_stream());
    let mut module = match syn::parse2::<ItemMod>(item.clone()) {
        Ok(module) => module,
        Err(_) => {
            errors.push(syn::Error::new(
                crate::entry::first_span(&item),
                "#[leak_tests] goes on an inline module of tests: `#[leak_tests] mod tests { ... }`; \
                 for one test function, write #[leak_test] instead of #[test]",
            ));
            return quote!(#item #errors);
        }
    };
    match &mut module.content {
        Some((_, items)) => convert(items, &options, &krate),
        None => errors.push(syn::Error::new(
            module.span(),
            "#[leak_tests] needs the module's tests inline (`mod tests { ... }`): stable Rust \
             does not run attribute macros on `mod tests;`; move the attribute onto the tests' \
             functions as #[leak_test], or the module's contents into this file",
        )),
    }
    quote!(#module #errors)
}

/// Rewrites the tests among `items`, descending into inline modules.
fn convert(items: &mut [Item], module: &Options, krate: &TokenStream) {
    for item in items {
        match item {
            Item::Fn(func) => convert_fn(func, module, krate),
            // A module with a `#[leak_tests]` of its own converts its tests with its options.
            Item::Mod(ItemMod {
                attrs,
                content: Some((_, items)),
                ..
            }) if !attrs.iter().any(|a| is_named(a, "leak_tests")) => convert(items, module, krate),
            _ => {}
        }
    }
}

fn convert_fn(func: &mut ItemFn, module: &Options, krate: &TokenStream) {
    let is_async = func.sig.asyncness.is_some();
    // The module's options a test has not set, minus those only an `async fn` takes.
    let inherited = |own: &Options| -> Vec<Meta> {
        module
            .iter()
            .filter(|m| !own.iter().any(|o| key(o) == key(m)))
            .filter(|m| is_async || !ASYNC_ONLY.iter().any(|name| m.path().is_ident(name)))
            .cloned()
            .collect()
    };
    if let Some(attr) = func.attrs.iter_mut().find(|a| is_named(a, "leak_test")) {
        let own = match &attr.meta {
            Meta::Path(_) => Options::new(),
            // Options it cannot split are left to #[leak_test] to report, as written.
            Meta::List(list) => match Options::parse_terminated.parse2(list.tokens.clone()) {
                Ok(own) => own,
                Err(_) => return,
            },
            Meta::NameValue(_) => return,
        };
        let added = inherited(&own);
        if !added.is_empty() {
            let path = attr.path().clone();
            let all = own.iter().chain(&added);
            *attr = syn::parse_quote_spanned!(attr.span()=> #[#path(#(#all),*)]);
        }
    } else if let Some(attr) = func.attrs.iter_mut().find(|a| a.path().is_ident("test")) {
        let options = inherited(&Options::new());
        *attr = syn::parse_quote_spanned!(attr.span()=> #[#krate::leak_test(#(#options),*)]);
    }
}

/// An option's name, as written (`crate` included).
fn key(meta: &Meta) -> String {
    meta.path().to_token_stream().to_string()
}

/// Whether `attr` is leakcheck's attribute `name` by any path (`leak_test`,
/// `leakcheck::leak_test`, a renamed crate's).
fn is_named(attr: &Attribute, name: &str) -> bool {
    attr.path().segments.last().is_some_and(|s| s.ident == name)
}

#[cfg(test)]
mod tests;
