//! `cargo leakcheck diff BASE HEAD`: placeholder, being written.

use crate::CliError;

/// Arguments of `diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The base report: a report.json path or a saved baseline name.
    pub base: String,
    /// The head report.
    pub head: String,
}

/// Runs `diff`.
pub fn run(_args: &DiffArgs) -> Result<i32, CliError> {
    Err(CliError("diff: not written yet".into()))
}
