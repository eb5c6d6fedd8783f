//! Rewriting a crate's Rust files: `#[test]` → `#[leak_test]`, the `use` that names it, and the
//! `global_allocator!` line of each test crate.
//!
//! Files are parsed with `syn` to learn where things are, and edited as text at the exact
//! positions of those tokens (`proc-macro2`'s span locations): everything else — formatting,
//! comments, the insides of macros — stays byte for byte, and a file is never re-printed.

use proc_macro2::{LineColumn, Span};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use syn::spanned::Spanned;
use syn::{Attribute, Item, Meta, UseTree};

/// Which tests a crate root holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CrateKind {
    /// The unit tests of a library or binary (`src/lib.rs`, `src/main.rs`): test code is the code
    /// under `#[cfg(test)]`, and the allocator line goes there too.
    Unit,
    /// An integration test (`tests/*.rs`, `tests/*/main.rs`): a crate of test code only.
    Integration,
}

/// What an edit does, for the summary of a file's changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum EditKind {
    /// `#[test]` → `#[leak_test]`.
    Test,
    /// `use leakcheck::leak_test;` added to a module.
    Import,
    /// `leakcheck::global_allocator!();` added to a crate root.
    Allocator,
    /// A `#[global_allocator]` static of the user's, now counted over: its attribute removed (or
    /// kept for non-test builds) and `leakcheck::global_allocator!(NAME);` added.
    Wrap,
}

/// One replacement: the bytes `start..end` of the file become `text`. Ordered by position, so
/// that a set of them applies front to back; the same edit reached from two crates (a module
/// shared by two test files) is kept once.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Edit {
    start: usize,
    end: usize,
    /// Among insertions at one position: the allocator line before the `use`.
    order: u8,
    text: String,
    kind: EditKind,
}

/// A file read and the edits planned for it.
#[derive(Debug)]
struct SourceFile {
    text: String,
    edits: BTreeSet<Edit>,
}

/// A file that changes, and how.
#[derive(Debug)]
pub(crate) struct FileChange {
    /// The file.
    pub(crate) path: PathBuf,
    /// Its text after the change.
    pub(crate) text: String,
    /// How many `#[test]` became `#[leak_test]`.
    pub(crate) tests: usize,
    /// How many `use leakcheck::leak_test;` were added.
    pub(crate) imports: usize,
    /// Whether `leakcheck::global_allocator!();` was added.
    pub(crate) allocator: bool,
    /// The `#[global_allocator]` static now counted over, when there is one.
    pub(crate) wrapped: Option<String>,
}

/// The Rust files of the crates converted so far, with their planned edits.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    files: BTreeMap<PathBuf, SourceFile>,
    /// Files that could not be read or parsed, with why: they are left as they are.
    pub(crate) unreadable: BTreeSet<(PathBuf, String)>,
    /// `#[test]` functions outside `#[cfg(test)]` in a library or binary, left alone: the
    /// dev-dependency is not there in a normal build: file, line, name.
    pub(crate) left_alone: BTreeSet<(PathBuf, usize, String)>,
    /// The `#[global_allocator]` static now counted over, per file.
    wrapped: BTreeMap<PathBuf, String>,
}

/// What one crate's walk found.
#[derive(Default)]
struct CrateScan {
    /// `#[leak_test]`s after the conversion (converted ones and those already there).
    leak_tests: usize,
    /// A `leakcheck::global_allocator!(…)` line is already there.
    has_allocator_line: bool,
    /// The first `#[global_allocator]` static of the user's.
    user_allocator: Option<UserAllocator>,
    /// Where the crate root's first item starts.
    first_item: Option<usize>,
}

struct UserAllocator {
    file: PathBuf,
    name: String,
    /// The attribute `#[global_allocator]`.
    attr: (usize, usize),
    /// Its `global_allocator` word.
    word: (usize, usize),
    /// The end of the static item.
    item_end: usize,
    /// Whether the static is only in test builds (a test crate, or under `#[cfg(test)]`).
    in_test: bool,
}

/// Where a module is, for the walk.
#[derive(Clone)]
struct Ctx {
    /// Everything here is built for tests only.
    in_test: bool,
    /// Where `mod name;` inside this module looks for `name.rs` and `name/mod.rs`.
    dir: PathBuf,
    /// The directory of the file the module is written in (`#[path]` is relative to it).
    file_dir: PathBuf,
    /// Inside an inline `mod name { … }`.
    inline: bool,
}

impl Sources {
    /// Plans the conversion of the crate whose root file is `root`: every file its `mod`s reach.
    pub(crate) fn convert_crate(&mut self, root: &Path, kind: CrateKind) {
        let dir = root.parent().unwrap_or(Path::new(".")).to_owned();
        let ctx = Ctx {
            in_test: kind == CrateKind::Integration,
            dir: dir.clone(),
            file_dir: dir,
            inline: false,
        };
        let mut scan = CrateScan::default();
        let mut queue = vec![(root.to_owned(), ctx)];
        let mut seen = BTreeSet::new();
        while let Some((path, ctx)) = queue.pop() {
            if seen.insert(path.clone()) {
                let is_root = path == root;
                self.scan_file(&path, ctx, is_root, &mut scan, &mut queue);
            }
        }
        if scan.leak_tests > 0 && !scan.has_allocator_line {
            self.add_allocator(root, kind, scan);
        }
    }

    fn scan_file(
        &mut self,
        path: &Path,
        mut ctx: Ctx,
        is_root: bool,
        scan: &mut CrateScan,
        queue: &mut Vec<(PathBuf, Ctx)>,
    ) {
        if !self.files.contains_key(path) {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    let file = SourceFile {
                        text,
                        edits: BTreeSet::new(),
                    };
                    self.files.insert(path.to_owned(), file);
                }
                Err(e) => {
                    self.unreadable.insert((path.to_owned(), e.to_string()));
                    return;
                }
            }
        }
        let text = &self.files[path].text;
        let parsed = match syn::parse_file(text) {
            Ok(parsed) => parsed,
            Err(e) => {
                let at = e.span().start();
                let why = format!("line {}: {e} (syn cannot parse it)", at.line);
                self.unreadable.insert((path.to_owned(), why));
                return;
            }
        };
        ctx.in_test |= parsed.attrs.iter().any(is_cfg_test);
        let mut walk = Walk {
            file: path,
            at: Locator::new(text),
            edits: Vec::new(),
            scan,
            queue,
            left_alone: &mut self.left_alone,
        };
        if is_root {
            walk.scan.first_item = parsed
                .items
                .first()
                .map(|i| walk.at.offset(i.span().start()));
        }
        walk.module(&parsed.items, &ctx);
        let edits = walk.edits;
        if let Some(file) = self.files.get_mut(path) {
            file.edits.extend(edits);
        }
    }

    /// The crate's allocator line: wrapping the user's `#[global_allocator]`, or a new one at
    /// the top of the crate root.
    fn add_allocator(&mut self, root: &Path, kind: CrateKind, scan: CrateScan) {
        if let Some(user) = scan.user_allocator {
            let Some(file) = self.files.get_mut(&user.file) else {
                return;
            };
            let at = Locator::new(&file.text);
            let indent = at.indent(user.attr.0).to_owned();
            let line = format!("leakcheck::global_allocator!({});", user.name);
            self.wrapped.insert(user.file.clone(), user.name.clone());
            let mut edit = |start, end, text: String| {
                file.edits.insert(Edit {
                    start,
                    end,
                    order: 0,
                    text,
                    kind: EditKind::Wrap,
                });
            };
            if user.in_test {
                let (start, end) = at.whole_lines(user.attr.0, user.attr.1);
                edit(start, end, String::new());
                edit(user.item_end, user.item_end, format!("\n{indent}{line}"));
            } else {
                // A normal build keeps the user's allocator as it was.
                let (start, end) = user.word;
                edit(start, end, "cfg_attr(not(test), global_allocator)".into());
                let text = format!("\n{indent}#[cfg(test)]\n{indent}{line}");
                edit(user.item_end, user.item_end, text);
            }
            return;
        }
        let (Some(file), Some(start)) = (self.files.get_mut(root), scan.first_item) else {
            return;
        };
        let cfg = if kind == CrateKind::Unit {
            "#[cfg(test)]\n"
        } else {
            ""
        };
        let text = format!("{cfg}leakcheck::global_allocator!();\n\n");
        let at = Locator::new(&file.text);
        let start = if at.alone(start) {
            at.line_start(start)
        } else {
            start
        };
        file.edits.insert(Edit {
            start,
            end: start,
            order: 0,
            text,
            kind: EditKind::Allocator,
        });
    }

    /// The files that change, with their new text, in path order.
    pub(crate) fn changes(&self) -> Vec<FileChange> {
        let mut out = Vec::new();
        for (path, file) in &self.files {
            if file.edits.is_empty() {
                continue;
            }
            let mut text = String::with_capacity(file.text.len() + 256);
            let mut pos = 0;
            let count = |kind| file.edits.iter().filter(|e| e.kind == kind).count();
            // Added lines end as the file's lines do.
            let newline = if file.text.contains("\r\n") {
                "\r\n"
            } else {
                "\n"
            };
            for edit in &file.edits {
                // Overlapping edits cannot come from one parse; skip rather than corrupt.
                if edit.start < pos {
                    continue;
                }
                text.push_str(&file.text[pos..edit.start]);
                text.push_str(&edit.text.replace('\n', newline));
                pos = edit.end;
            }
            text.push_str(&file.text[pos..]);
            out.push(FileChange {
                path: path.clone(),
                text,
                tests: count(EditKind::Test),
                imports: count(EditKind::Import),
                allocator: count(EditKind::Allocator) > 0,
                wrapped: self.wrapped.get(path).cloned(),
            });
        }
        out
    }
}

/// Walks one file's modules, collecting its edits.
struct Walk<'a> {
    file: &'a Path,
    at: Locator<'a>,
    edits: Vec<Edit>,
    scan: &'a mut CrateScan,
    queue: &'a mut Vec<(PathBuf, Ctx)>,
    left_alone: &'a mut BTreeSet<(PathBuf, usize, String)>,
}

impl Walk<'_> {
    fn module(&mut self, items: &[Item], ctx: &Ctx) {
        let mut converted = 0;
        let mut imported = false;
        // The module's last group of `use`s (a blank line or another item ends a group).
        let mut uses: Vec<(usize, usize, SortKey)> = Vec::new();
        let mut group_ended = false;
        for item in items {
            if !matches!(item, Item::Use(_)) {
                group_ended = true;
            }
            match item {
                Item::Fn(f) => {
                    let mut leak_test = f.attrs.iter().any(is_leak_test);
                    if let Some(word) = f.attrs.iter().find_map(test_word) {
                        let name = f.sig.ident.to_string();
                        if ctx.in_test || f.attrs.iter().any(is_cfg_test) {
                            self.edit(word, "leak_test", EditKind::Test, 0);
                            converted += 1;
                            leak_test = true;
                        } else {
                            let at = (self.file.to_owned(), word.start().line, name);
                            self.left_alone.insert(at);
                        }
                    }
                    if leak_test {
                        self.scan.leak_tests += 1;
                    }
                }
                Item::Mod(m) => self.child_module(m, ctx),
                Item::Use(u) => {
                    let (start, end) = self.at.range(item.span());
                    let gap = uses
                        .last()
                        .map_or("", |&(_, prev, _)| &self.at.text[prev..start]);
                    if group_ended || gap.matches('\n').count() > 1 {
                        uses.clear();
                    }
                    group_ended = false;
                    uses.push((start, end, sort_key(&u.tree, u.leading_colon.is_some())));
                    imported |= names_leak_test(&u.tree);
                }
                Item::Static(s) => {
                    let Some(attr) = s.attrs.iter().find(|a| is_word(a, "global_allocator")) else {
                        continue;
                    };
                    if self.scan.user_allocator.is_none() {
                        let in_test = ctx.in_test || s.attrs.iter().any(is_cfg_test);
                        self.scan.user_allocator = Some(UserAllocator {
                            file: self.file.to_owned(),
                            name: s.ident.to_string(),
                            attr: (
                                self.at.offset(attr.pound_token.span.start()),
                                self.at.offset(attr.bracket_token.span.close().end()),
                            ),
                            word: self.at.range(attr.path().span()),
                            item_end: self.at.offset(item.span().end()),
                            in_test,
                        });
                    }
                }
                Item::Macro(m) => {
                    let path = &m.mac.path;
                    let first = path.segments.first().map(|s| s.ident.to_string());
                    let last = path.segments.last().map(|s| s.ident.to_string());
                    if first.as_deref() == Some("leakcheck")
                        && last.as_deref() == Some("global_allocator")
                    {
                        self.scan.has_allocator_line = true;
                    }
                }
                _ => {}
            }
        }
        if converted > 0 && !imported {
            self.add_import(items, &uses);
        }
    }

    fn child_module(&mut self, m: &syn::ItemMod, ctx: &Ctx) {
        let in_test = ctx.in_test || m.attrs.iter().any(is_cfg_test);
        let name = m.ident.to_string();
        if let Some((_, items)) = &m.content {
            let inner = Ctx {
                in_test,
                dir: ctx.dir.join(&name),
                file_dir: ctx.file_dir.clone(),
                inline: true,
            };
            self.module(items, &inner);
            return;
        }
        let explicit = m.attrs.iter().find_map(path_attr);
        let (file, dir) = match explicit {
            Some(p) => {
                let base = if ctx.inline { &ctx.dir } else { &ctx.file_dir };
                let file = base.join(p);
                let dir = file.parent().unwrap_or(base).to_owned();
                (file, dir)
            }
            None => {
                let flat = ctx.dir.join(format!("{name}.rs"));
                let nested = ctx.dir.join(&name).join("mod.rs");
                let file = if flat.is_file() || !nested.is_file() {
                    flat
                } else {
                    nested
                };
                (file, ctx.dir.join(&name))
            }
        };
        let file_dir = file.parent().unwrap_or(&dir).to_owned();
        let inner = Ctx {
            in_test,
            dir,
            file_dir,
            inline: false,
        };
        self.queue.push((file, inner));
    }

    /// `use leakcheck::leak_test;` in the module's last group of `use`s where rustfmt would sort
    /// it, or before the module's first item.
    fn add_import(&mut self, items: &[Item], uses: &[(usize, usize, SortKey)]) {
        const USE: &str = "use leakcheck::leak_test;";
        let ours = sort_key(&syn::parse_quote!(leakcheck::leak_test), false);
        let after = uses
            .iter()
            .find(|(start, _, key)| *key > ours && self.at.alone(*start));
        if let Some(&(start, _, _)) = after {
            let indent = self.at.indent(start).to_owned();
            let line_start = self.at.line_start(start);
            self.insert(line_start, format!("{indent}{USE}\n"), EditKind::Import, 1);
            return;
        }
        if let Some(&(_, end, _)) = uses.last() {
            let indent = self.at.indent(end).to_owned();
            let rest = self.at.rest_of_line(end);
            let trimmed = rest.trim();
            if trimmed.is_empty() || trimmed.starts_with("//") {
                let eol = end + rest.len();
                self.insert(eol, format!("\n{indent}{USE}"), EditKind::Import, 1);
            } else {
                self.insert(end, format!(" {USE}"), EditKind::Import, 1);
            }
            return;
        }
        let Some(first) = items.first() else {
            return;
        };
        let start = self.at.offset(first.span().start());
        if self.at.alone(start) {
            let indent = self.at.indent(start).to_owned();
            let line_start = self.at.line_start(start);
            self.insert(
                line_start,
                format!("{indent}{USE}\n\n"),
                EditKind::Import,
                1,
            );
        } else {
            self.insert(start, format!("{USE} "), EditKind::Import, 1);
        }
    }

    fn edit(&mut self, span: Span, text: &str, kind: EditKind, order: u8) {
        let (start, end) = self.at.range(span);
        self.edits.push(Edit {
            start,
            end,
            order,
            text: text.to_owned(),
            kind,
        });
    }

    fn insert(&mut self, at: usize, text: String, kind: EditKind, order: u8) {
        self.edits.push(Edit {
            start: at,
            end: at,
            order,
            text,
            kind,
        });
    }
}

/// Byte offsets of spans' line/column positions in one file.
struct Locator<'a> {
    text: &'a str,
    /// A leading byte-order mark, which syn skips before counting columns.
    bom: usize,
    /// The byte offset of each line's start.
    lines: Vec<usize>,
}

impl<'a> Locator<'a> {
    fn new(text: &'a str) -> Self {
        let bom = if text.starts_with('\u{feff}') { 3 } else { 0 };
        let lines = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Locator { text, bom, lines }
    }

    /// The byte offset of a line (1-based) and column (0-based, in characters).
    fn offset(&self, at: LineColumn) -> usize {
        let Some(&start) = self.lines.get(at.line.saturating_sub(1)) else {
            return self.text.len();
        };
        let start = if at.line == 1 {
            start + self.bom
        } else {
            start
        };
        let line = &self.text[start..];
        start
            + line
                .char_indices()
                .nth(at.column)
                .map_or(line.len(), |(i, _)| i)
    }

    fn range(&self, span: Span) -> (usize, usize) {
        (self.offset(span.start()), self.offset(span.end()))
    }

    fn line_start(&self, at: usize) -> usize {
        self.text[..at].rfind('\n').map_or(0, |i| i + 1)
    }

    /// Whether only whitespace precedes `at` on its line.
    fn alone(&self, at: usize) -> bool {
        self.text[self.line_start(at)..at].trim().is_empty()
    }

    /// The whitespace `at`'s line starts with.
    fn indent(&self, at: usize) -> &'a str {
        let line = &self.text[self.line_start(at)..];
        &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
    }

    /// The text from `at` to the end of its line (without the newline).
    fn rest_of_line(&self, at: usize) -> &'a str {
        let rest = &self.text[at..];
        &rest[..rest.find('\n').unwrap_or(rest.len())]
    }

    /// `start..end` widened to whole lines (with the newline) when nothing else is on them, else
    /// to the blanks after it.
    fn whole_lines(&self, start: usize, end: usize) -> (usize, usize) {
        let rest = self.rest_of_line(end);
        if self.alone(start) && rest.trim().is_empty() {
            let newline = usize::from(end + rest.len() < self.text.len());
            return (self.line_start(start), end + rest.len() + newline);
        }
        // Next to other code on the line: the attribute and the blanks after it.
        (
            start,
            end + rest.len() - rest.trim_start_matches([' ', '\t']).len(),
        )
    }
}

/// The `test` word of a plain `#[test]` attribute.
fn test_word(attr: &Attribute) -> Option<Span> {
    is_word(attr, "test").then(|| attr.path().span())
}

/// `#[NAME]`, an outer attribute of one word.
fn is_word(attr: &Attribute, name: &str) -> bool {
    matches!(attr.style, syn::AttrStyle::Outer)
        && matches!(attr.meta, Meta::Path(_))
        && attr.path().is_ident(name)
}

/// `#[leak_test]`, `#[leak_test(...)]` or `#[leakcheck::leak_test]`.
fn is_leak_test(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "leak_test")
}

/// `#[cfg(test)]`, or `#[cfg(all(test, …))]`: code built for tests only.
fn is_cfg_test(attr: &Attribute) -> bool {
    attr.path().is_ident("cfg") && attr.parse_args::<Meta>().is_ok_and(|m| needs_test(&m))
}

fn needs_test(meta: &Meta) -> bool {
    match meta {
        Meta::Path(p) => p.is_ident("test"),
        Meta::List(list) if list.path.is_ident("all") => list
            .parse_args_with(syn::punctuated::Punctuated::<Meta, syn::Token![,]>::parse_terminated)
            .is_ok_and(|all| all.iter().any(needs_test)),
        _ => false,
    }
}

/// The file of `#[path = "…"]`.
fn path_attr(attr: &Attribute) -> Option<String> {
    let Meta::NameValue(nv) = &attr.meta else {
        return None;
    };
    if !nv.path.is_ident("path") {
        return None;
    }
    match &nv.value {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) => Some(s.value()),
        _ => None,
    }
}

/// How rustfmt orders a `use` (its default, "2015/2021" style): by path segment, `self`,
/// `super` and `crate` first, then a leading `::`, then names, lowercase before uppercase, then
/// globs and groups.
type SortKey = Vec<(u8, bool, String)>;

fn sort_key(tree: &UseTree, leading_colon: bool) -> SortKey {
    let mut key = Vec::new();
    let mut tree = tree;
    loop {
        let ident = match tree {
            UseTree::Path(p) => &p.ident,
            UseTree::Name(n) => &n.ident,
            UseTree::Rename(r) => &r.ident,
            UseTree::Glob(_) => {
                key.push((5, false, "*".to_owned()));
                return key;
            }
            UseTree::Group(_) => {
                key.push((6, false, "{".to_owned()));
                return key;
            }
        };
        let name = ident.to_string();
        let class = match name.as_str() {
            "self" => 0,
            "super" => 1,
            "crate" => 2,
            _ if key.is_empty() && leading_colon => 3,
            _ => 4,
        };
        let upper = name.starts_with(|c: char| c.is_uppercase());
        key.push((class, upper, name));
        match tree {
            UseTree::Path(p) => tree = &p.tree,
            _ => return key,
        }
    }
}

/// Whether a `use` brings `leak_test` into scope (by name, renamed to it, or by a glob of
/// `leakcheck`).
fn names_leak_test(tree: &UseTree) -> bool {
    match tree {
        UseTree::Path(p) => {
            matches!(&*p.tree, UseTree::Glob(_)) && p.ident == "leakcheck"
                || names_leak_test(&p.tree)
        }
        UseTree::Name(n) => n.ident == "leak_test",
        UseTree::Rename(r) => r.rename == "leak_test",
        UseTree::Glob(_) => false,
        UseTree::Group(g) => g.items.iter().any(names_leak_test),
    }
}
