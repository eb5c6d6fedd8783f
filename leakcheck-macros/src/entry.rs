//! Parsing of `#[leak_test(...)]` into options with spanned errors, and the expansion: a `#[test]`
//! that holds the original function, unchanged, and hands it to `leakcheck::__private::run_test`.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Attribute, ItemFn, LitBool, LitInt, LitStr, Path};

/// The options `#[leak_test]` accepts, with the kind of value each takes.
const OPTIONS: &[(&str, Kind)] = &[
    ("iterations", Kind::Int),
    ("warmup", Kind::Int),
    ("max_iterations", Kind::Int),
    ("settle_ms", Kind::Int),
    ("timeout", Kind::Int),
    ("isolate", Kind::Bool),
    ("attribute", Kind::Bool),
    ("profile", Kind::Bool),
    ("max_allocs_per_iter", Kind::Int),
    ("max_bytes_per_iter", Kind::Int),
    ("heap", Kind::Bool),
    ("threads", Kind::Bool),
    ("fds", Kind::Bool),
    ("tasks", Kind::Bool),
    (
        "suspicious",
        Kind::Choice(&[("pass", "Pass"), ("fail", "Fail")]),
    ),
    ("suppress_threads", Kind::Patterns),
    ("suppress_fds", Kind::Patterns),
    ("suppress_heap", Kind::Patterns),
    (
        "flavor",
        Kind::Choice(&[
            ("current_thread", "CurrentThread"),
            ("multi_thread", "MultiThread"),
        ]),
    ),
    ("worker_threads", Kind::Int),
    ("runs", Kind::Int),
    ("crate", Kind::Path),
];

/// Options that only make sense for an `async fn`.
pub(crate) const ASYNC_ONLY: &[&str] = &["flavor", "worker_threads"];

/// Options that count body runs, which `runs = 1` fixes at one.
const REPEATED_RUNS: &[&str] = &["iterations", "warmup", "max_iterations"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    /// One of a few strings, each naming a variant of the option's enum in `__private`.
    Choice(&'static [(&'static str, &'static str)]),
    /// A string or an array of strings: glob patterns.
    Patterns,
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
    let mut signature = Errors::default();
    check_signature(&func, &mut signature);
    if let Some(e) = signature.0 {
        errors.push(e);
        // Emit the function unchanged (not as a test): a test of it would add errors of its own
        // (arguments no one passes, a second `#[test]`).
        return quote!(#func #errors);
    }
    check_combinations(&func, &options, &mut errors);
    if errors.is_empty() {
        return expand(func, options);
    }
    // A bad option still leaves the test, with the defaults, next to the error (as tokio-macros
    // does): an IDE keeps showing and running it, and its body is still checked.
    let defaults = Parsed {
        krate: options.krate,
        ..Parsed::default()
    };
    let mut tokens = expand(func, defaults);
    errors.to_tokens(&mut tokens);
    tokens
}

/// A value written for an option.
enum Value {
    Int(LitInt),
    Bool(LitBool),
    /// The literal written and the enum variant it names.
    Choice(LitStr, &'static str),
    Patterns(Vec<LitStr>),
}

#[derive(Default)]
pub(crate) struct Parsed {
    /// Every option written but `crate`, with its key's span, in the order written.
    written: Vec<(&'static str, Span, Value)>,
    pub(crate) krate: Option<Path>,
}

impl Parsed {
    fn choice(&self, name: &str) -> Option<&'static str> {
        self.written.iter().find_map(|(n, _, value)| match value {
            Value::Choice(_, variant) if *n == name => Some(*variant),
            _ => None,
        })
    }

    fn span_of(&self, name: &str) -> Option<Span> {
        self.written
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, span, _)| *span)
    }
}

pub(crate) fn parse_options(args: TokenStream, errors: &mut Errors) -> Parsed {
    let mut parsed = Parsed::default();
    let mut seen: Vec<String> = Vec::new();
    let parser = syn::meta::parser(|meta| {
        let key = meta.path.to_token_stream().to_string().replace(' ', "");
        let Some(&(name, kind)) = OPTIONS.iter().find(|(name, _)| *name == key) else {
            let valid: Vec<&str> = OPTIONS.iter().map(|(n, _)| *n).collect();
            let hint = closest(&key, &valid)
                .map(|near| format!("did you mean `{near}`? "))
                .unwrap_or_default();
            return Err(meta.error(format!(
                "unknown option `{key}`; {hint}valid options are: {}",
                valid.join(", ")
            )));
        };
        if seen.contains(&key) {
            return Err(meta.error(format!("`{key}` is given more than once")));
        }
        seen.push(key);
        let key_span = meta.path.span();
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
                        parsed.written.push((name, key_span, Value::Int(int)));
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
                    syn::Lit::Bool(b) => parsed.written.push((name, key_span, Value::Bool(b))),
                    other => {
                        return Err(syn::Error::new(
                            other.span(),
                            format!("`{name}` takes `true` or `false`"),
                        ))
                    }
                }
            }
            Kind::Choice(choices) => {
                let names: Vec<String> = choices.iter().map(|(s, _)| format!("\"{s}\"")).collect();
                let wrong = |span| {
                    syn::Error::new(span, format!("`{name}` takes one of {}", names.join(", ")))
                };
                let lit: LitStr = value.parse().map_err(|e| wrong(e.span()))?;
                let Some(&(_, variant)) = choices.iter().find(|(s, _)| *s == lit.value()) else {
                    return Err(wrong(lit.span()));
                };
                parsed
                    .written
                    .push((name, key_span, Value::Choice(lit, variant)));
            }
            Kind::Patterns => {
                let hint = format!(
                    "`{name}` takes a pattern or a list of them, e.g. `{name} = [\"pool-*\", \"io\"]` \
                     (`*` matches anything, `?` one character)"
                );
                let list: Vec<LitStr> = if value.peek(syn::token::Bracket) {
                    let content;
                    syn::bracketed!(content in value);
                    content
                        .parse_terminated(|p| p.parse::<LitStr>(), syn::Token![,])
                        .map_err(|e| syn::Error::new(e.span(), &hint))?
                        .into_iter()
                        .collect()
                } else {
                    vec![value
                        .parse::<LitStr>()
                        .map_err(|e| syn::Error::new(e.span(), &hint))?]
                };
                if let Some(empty) = list.iter().find(|l| l.value().trim().is_empty()) {
                    return Err(syn::Error::new(
                        empty.span(),
                        format!("an empty pattern in `{name}` would match nothing; remove it"),
                    ));
                }
                parsed.written.push((name, key_span, Value::Patterns(list)));
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

/// The valid option nearest to a misspelt one, if it is near enough to be a typo.
fn closest<'a>(key: &str, valid: &[&'a str]) -> Option<&'a str> {
    let distance = |a: &str, b: &str| {
        // Levenshtein over chars, one row at a time.
        let b: Vec<char> = b.chars().collect();
        let mut row: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut prev = row[0];
            row[0] = i + 1;
            for (j, cb) in b.iter().enumerate() {
                let cost = usize::from(ca != *cb);
                let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
                prev = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[b.len()]
    };
    valid
        .iter()
        .map(|v| (distance(key, v), *v))
        .filter(|(d, v)| *d <= v.len() / 3 + 1)
        .min()
        .map(|(_, v)| v)
}

fn example(kind: Kind) -> String {
    match kind {
        Kind::Int => "16".into(),
        Kind::Bool => "false".into(),
        Kind::Choice(choices) => format!("\"{}\"", choices[0].0),
        Kind::Patterns => "[\"pattern-*\"]".into(),
        Kind::Path => "\"leakcheck\"".into(),
    }
}

/// Checks that need the function and all options: async-only options on a plain `fn`,
/// `worker_threads` without the multi-thread runtime, `runs` other than 1 or beside the options
/// it overrides.
fn check_combinations(func: &ItemFn, options: &Parsed, errors: &mut Errors) {
    check_runs(options, errors);
    if func.sig.asyncness.is_none() {
        for &name in ASYNC_ONLY {
            if let Some(span) = options.span_of(name) {
                errors.push(syn::Error::new(
                    span,
                    format!("`{name}` configures the runtime of an `async fn` test; this test is a plain `fn`"),
                ));
            }
        }
    } else if let Some(span) = options.span_of("worker_threads") {
        if options.choice("flavor") != Some("MultiThread") {
            errors.push(syn::Error::new(
                span,
                "`worker_threads` needs the multi-thread runtime: add `flavor = \"multi_thread\"`",
            ));
        }
    }
}

/// `runs = 1` is the single-run mode, the one value besides the default: more runs are what
/// `warmup` and `iterations` say.
fn check_runs(options: &Parsed, errors: &mut Errors) {
    let Some(runs) = options
        .written
        .iter()
        .find_map(|(name, _, value)| match value {
            Value::Int(lit) if *name == "runs" => Some(lit),
            _ => None,
        })
    else {
        return;
    };
    if runs.base10_parse::<u64>().ok() != Some(1) {
        errors.push(syn::Error::new(
            runs.span(),
            "`runs` supports only `runs = 1`: the body runs once, for a test that cannot run \
             twice; to run it more often, set `warmup` and `iterations` instead",
        ));
        return;
    }
    for &name in REPEATED_RUNS {
        if let Some(span) = options.span_of(name) {
            errors.push(syn::Error::new(
                span,
                format!("`{name}` does not apply with `runs = 1`, which runs the body once; remove one of them"),
            ));
        }
    }
}

fn check_signature(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    if !sig.inputs.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.inputs,
            "a #[leak_test] function takes no arguments: the harness calls it many times; build the \
             inputs inside the body, or call a helper that takes them from a test without arguments",
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a #[leak_test] function cannot be generic: the harness must know which instance to \
             run; write one test per type that calls a generic helper",
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
    // Inner attributes (`#![allow(..)]` in the body) stay in the body; the rest go on the test.
    let (inner_attrs, attrs): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    let body = ItemFn {
        attrs: inner_attrs,
        vis: syn::Visibility::Inherited,
        sig,
        block,
    };
    let sig = &body.sig;
    let krate = options
        .krate
        .map_or_else(|| quote!(::leakcheck), |p| p.into_token_stream());
    let name = &sig.ident;
    // One builder call per option, named after it (`timeout` is in seconds) and spanned on the
    // value written: a value of the wrong type is reported there.
    let calls = options.written.iter().map(|(key, _, value)| {
        let (span, arg) = match value {
            Value::Int(lit) => (lit.span(), lit.to_token_stream()),
            Value::Bool(b) => (b.span(), b.to_token_stream()),
            Value::Choice(lit, variant) => {
                let ty = if *key == "flavor" {
                    "Flavor"
                } else {
                    "Suspicious"
                };
                let ty = syn::Ident::new(ty, lit.span());
                let variant = syn::Ident::new(variant, lit.span());
                let arg = quote_spanned!(lit.span()=> #krate::__private::#ty::#variant);
                (lit.span(), arg)
            }
            Value::Patterns(list) => {
                let span = list.first().map_or_else(Span::call_site, LitStr::span);
                (span, quote_spanned!(span=> &[#(#list),*]))
            }
        };
        let method = if *key == "timeout" {
            "timeout_secs"
        } else {
            key
        };
        let method = syn::Ident::new(method, span);
        quote_spanned!(span=> .#method(#arg))
    });
    let line = quote_spanned!(name.span()=> ::core::line!());
    // The body stays a function with the test's own signature, nested in the test and handed
    // to the runtime as a fn item: it is type-checked on its own, exactly as under `#[test]`
    // (as a closure argument of a generic function, inference would change), and `?`, `return`
    // and the return type work as written. An `async fn` likewise: each iteration awaits a fresh
    // future of it on the test's runtime.
    let (run, requires_tokio) = match &sig.asyncness {
        None => (quote!(run_test), TokenStream::new()),
        Some(asyncness) => {
            // Outside the test function, which non-test builds delete before expanding it.
            // leakcheck drops the error when its `tokio` feature is on.
            let message = format!(
                "`#[leak_test] async fn` runs on tokio, which needs leakcheck's `tokio` feature: \
                 `leakcheck = {{ version = \"{}\", features = [\"tokio\"] }}` in [dev-dependencies]",
                env!("CARGO_PKG_VERSION")
            );
            let requires = quote_spanned! {asyncness.span()=>
                #krate::__private::requires_tokio! {
                    ::core::compile_error! { #message }
                }
            };
            (quote!(run_async_test), requires)
        }
    };
    // `#[should_panic]`: the panic is expected on every run, and the leak check runs over the
    // panicking body (see `run_should_panic_test`).
    let (run, expected) = match should_panic(&attrs) {
        Some(expected) => {
            let expected = match expected {
                Some(lit) => quote!(::core::option::Option::Some(#lit)),
                None => quote!(::core::option::Option::None),
            };
            let run = if sig.asyncness.is_none() {
                quote!(run_should_panic_test)
            } else {
                quote!(run_async_should_panic_test)
            };
            (run, quote!(#expected,))
        }
        None => (run, TokenStream::new()),
    };
    quote! {
        #requires_tokio
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() {
            #body
            #krate::__private::#run(
                #krate::__private::TestMeta {
                    fn_name: ::core::stringify!(#name),
                    package: ::core::option_env!("CARGO_PKG_NAME"),
                    module_path: ::core::module_path!(),
                    file: ::core::file!(),
                    line: #line,
                    manifest_dir: ::core::option_env!("CARGO_MANIFEST_DIR"),
                },
                #krate::__private::Options::new() #(#calls)*,
                #expected
                #name,
            )
        }
    }
}

/// `Some(expected)` when the function is `#[should_panic]`: the `expected` message, if one is
/// given (`#[should_panic(expected = "..")]` or `#[should_panic = ".."]`). A malformed one is
/// libtest's to report, and is treated as having none.
fn should_panic(attrs: &[Attribute]) -> Option<Option<LitStr>> {
    let attr = attrs.iter().find(|a| a.path().is_ident("should_panic"))?;
    let expected = match &attr.meta {
        syn::Meta::NameValue(nv) => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(lit),
                ..
            }) => Some(lit.clone()),
            _ => None,
        },
        syn::Meta::List(_) => {
            let mut expected = None;
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("expected") {
                    expected = Some(meta.value()?.parse::<LitStr>()?);
                }
                Ok(())
            });
            expected
        }
        syn::Meta::Path(_) => None,
    };
    Some(expected)
}

/// Errors collected while parsing, emitted together as `compile_error!`s.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
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

pub(crate) fn first_span(item: &TokenStream) -> Span {
    item.clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

#[cfg(test)]
mod tests;
