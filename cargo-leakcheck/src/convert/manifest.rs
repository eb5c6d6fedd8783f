//! The package's `Cargo.toml`: `leakcheck` added to `[dev-dependencies]`, with `toml_edit` so
//! that the rest of the file — comments, order, layout — is kept as it was.

use toml_edit::{DocumentMut, InlineTable, Item, Value};

/// Where the dev-dependency comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// crates.io, at this version requirement (`"0.1"`).
    Version(String),
    /// A checkout's `leakcheck/` folder.
    Path(String),
}

impl Source {
    /// crates.io at the version requirement that matches this CLI (`0.1` for 0.1.x).
    pub(crate) fn this_version() -> Source {
        let mut parts = env!("CARGO_PKG_VERSION").split('.');
        let major = parts.next().unwrap_or("0");
        let minor = parts.next().unwrap_or("0");
        Source::Version(format!("{major}.{minor}"))
    }

    /// The value as written in the manifest: `"0.1"` or `{ path = "…" }`.
    fn value(&self) -> Value {
        match self {
            Source::Version(v) => Value::from(v.as_str()),
            Source::Path(p) => {
                let mut table = InlineTable::new();
                table.insert("path", Value::from(p.as_str()));
                Value::InlineTable(table)
            }
        }
    }
}

/// The manifest `text` with `leakcheck` among its dev-dependencies, or `None` when it is already
/// a dependency or dev-dependency (any form: version, path, `workspace = true`). An error when
/// the text is not TOML.
pub(crate) fn add_dev_dependency(text: &str, source: &Source) -> Result<Option<String>, String> {
    let mut doc: DocumentMut = text.parse().map_err(|e| format!("{e}"))?;
    let has = |table: &str| {
        doc.get(table)
            .and_then(Item::as_table_like)
            .is_some_and(|t| t.contains_key("leakcheck"))
    };
    if has("dependencies") || has("dev-dependencies") {
        return Ok(None);
    }
    let dev = doc
        .entry("dev-dependencies")
        .or_insert_with(|| Item::Table(toml_edit::Table::new()));
    let Some(dev) = dev.as_table_like_mut() else {
        return Err("`dev-dependencies` is not a table".into());
    };
    dev.insert("leakcheck", Item::Value(source.value()));
    Ok(Some(doc.to_string()))
}

/// What the added line says, for the summary: `leakcheck = "0.1"`.
pub(crate) fn describe(source: &Source) -> String {
    format!("leakcheck = {}", source.value())
}
