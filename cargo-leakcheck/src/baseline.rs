//! `cargo leakcheck baseline`: placeholder, being written.

use crate::CliError;

/// Baseline commands.
#[derive(Debug, clap::Subcommand)]
pub enum BaselineCommand {
    /// Saves the current report.json as a baseline named NAME.
    Save {
        /// The baseline's name.
        name: String,
    },
}

/// Runs a baseline command.
pub fn run(_command: &BaselineCommand) -> Result<i32, CliError> {
    Err(CliError("baseline: not written yet".into()))
}
