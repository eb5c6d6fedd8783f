//! `cargo leakcheck trend FILES…|DIR`: placeholder, being written.

use crate::CliError;

/// Arguments of `trend`.
#[derive(Debug, clap::Args)]
pub struct TrendArgs {
    /// Report files, or a directory of them.
    pub inputs: Vec<std::path::PathBuf>,
}

/// Runs `trend`.
pub fn run(_args: &TrendArgs) -> Result<i32, CliError> {
    Err(CliError("trend: not written yet".into()))
}
