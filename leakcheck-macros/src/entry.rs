//! Parsing of `#[leak_test(...)]` into options with spanned errors, and the expansion: a `#[test]`
//! whose body is one call into `leakcheck::__private::run_test` with the original body as a
//! closure.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Attribute, ItemFn, LitBool, LitInt, LitStr, Path, ReturnType};

/// The options `#[leak_test]` accepts, with the kind of value each takes.
const OPTIONS: &[(&str, Kind)] = &[
    ("iterations", Kind::Int),
    ("warmup", Kind::Int),
    ("max_iterations", Kind::Int),
    ("settle_ms", Kind::Int),
    ("timeout", Kind::Int),
    ("isolate", Kind::Bool),
    ("attribute", Kind::Bool),
    ("max_allocs_per_iter", Kind::Int),
    ("max_bytes_per_iter", Kind::Int),
    ("crate", Kind::Path),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Path,
}

pub(crate) fn leak_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let options = parse_options(args, &mut errors);
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(_) => {
            errors.push(syn::Error::new(
                first_span(&item),
                "#[leak_test] goes on a test function: `#[leak_test] fn my_test() { ... }`",
            ));
            // Keep the item so that its own errors and uses stay sensible.
            return quote!(#item #errors);
        }
    };
    check_signature(&func, &mut errors);
    if !errors.is_empty() {
        // Emit the function unchanged (not as a test) so that only our errors are reported.
        return quote!(#func #errors);
    }
    expand(func, options)
}

#[derive(Default)]
struct Parsed {
    ints: Vec<(&'static str, LitInt)>,
    bools: Vec<(&'static str, LitBool)>,
    krate: Option<Path>,
}

fn parse_options(args: TokenStream, errors: &mut Errors) -> Parsed {
    let mut parsed = Parsed::default();
    let mut seen: Vec<String> = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.to_token_stream().to_string().replace(' ', "");
        let Some(&(name, kind)) = OPTIONS.iter().find(|(name, _)| *name == key) else {
            let valid: Vec<&str> = OPTIONS.iter().map(|(n, _)| *n).collect();
            return Err(meta.error(format!(
                "unknown option `{key}`; valid options are: {}",
                valid.join(", ")
            )));
        };
        if seen.contains(&key) {
            return Err(meta.error(format!("`{key}` is given more than once")));
        }
        seen.push(key);
        let value = meta.value().map_err(|_| {
            syn::Error::new(
                meta.path.span(),
                format!("`{name}` needs a value, e.g. `{name} = {}`", example(kind)),
            )
        })?;
        match kind {
            Kind::Int => {
                // syn folds a leading `-` into the literal but can only span the `-` on stable.
                let minus: Option<syn::Token![-]> = value.parse()?;
                let lit: syn::Lit = value.parse()?;
                match lit {
                    syn::Lit::Int(int) if minus.is_none() => {
                        int.base10_parse::<u64>()?;
                        parsed.ints.push((name, int));
                    }
                    other => {
                        let not = if minus.is_some() {
                            "cannot be negative: it "
                        } else {
                            ""
                        };
                        return Err(syn::Error::new_spanned(
                            quote!(#minus #other),
                            format!("`{name}` {not}takes a whole number, e.g. `{name} = 16`"),
                        ));
                    }
                }
            }
            Kind::Bool => {
                let lit: syn::Lit = value.parse()?;
                match lit {
                    syn::Lit::Bool(b) => parsed.bools.push((name, b)),
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            format!("`{name}` takes `true` or `false`"),
                        ))
                    }
                }
            }
            Kind::Path => {
                let lit: LitStr = value.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "`crate` takes a path in a string, e.g. `crate = \"my_leakcheck\"`",
                    )
                })?;
                parsed.krate = Some(lit.parse()?);
            }
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(args) {
        errors.push(e);
    }
    parsed
}

fn example(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "16",
        Kind::Bool => "false",
        Kind::Path => "\"leakcheck\"",
    }
}

fn check_signature(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if let Some(asyncness) = &sig.asyncness {
        errors.push(syn::Error::new(
            asyncness.span(),
            "#[leak_test] does not support `async fn` yet; call your async code through a runtime's `block_on` inside a plain fn",
        ));
    }
    if !sig.inputs.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            "a #[leak_test] function takes no arguments: the harness calls it many times",
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a #[leak_test] function cannot be generic",
        ));
    }
    if let Some(test) = func.attrs.iter().find(|a| is_test_attribute(a)) {
        errors.push(syn::Error::new_spanned(
            test,
            "remove this attribute: #[leak_test] already makes the function a test",
        ));
    }
}

fn is_test_attribute(attr: &Attribute) -> bool {
    let path = attr.path();
    path.is_ident("test")
        || path
            .segments
            .last()
            .is_some_and(|s| s.ident == "test" && path.segments.len() > 1)
}

fn expand(func: ItemFn, options: Parsed) -> TokenStream {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    let krate = options
        .krate
        .map_or_else(|| quote!(::leakcheck), |p| p.into_token_stream());
    let name = &sig.ident;
    let ret = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => ty.to_token_stream(),
    };
    let fields = options.ints.iter().map(|(key, lit)| {
        let field = match *key {
            "timeout" => syn::Ident::new("timeout_secs", lit.span()),
            other => syn::Ident::new(other, lit.span()),
        };
        quote_spanned!(lit.span()=> #field: ::core::option::Option::Some(#lit),)
    });
    let bools = options.bools.iter().map(|(key, b)| {
        let field = syn::Ident::new(key, b.span());
        quote_spanned!(b.span()=> #field: ::core::option::Option::Some(#b),)
    });
    let line = quote_spanned!(name.span()=> ::core::line!());
    quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() {
            #krate::__private::run_test(
                #krate::__private::TestMeta {
                    fn_name: ::core::stringify!(#name),
                    package: ::core::option_env!("CARGO_PKG_NAME"),
                    module_path: ::core::module_path!(),
                    file: ::core::file!(),
                    line: #line,
                },
                #krate::__private::Options {
                    #(#fields)*
                    #(#bools)*
                    ..#krate::__private::Options::NONE
                },
                || -> #ret #block,
            )
        }
    }
}

/// Errors collected while parsing, emitted together as `compile_error!`s.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl ToTokens for Errors {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        if let Some(e) = &self.0 {
            tokens.extend(e.to_compile_error());
        }
    }
}

fn first_span(item: &TokenStream) -> Span {
    item.clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}
