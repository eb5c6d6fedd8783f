//! `cargo leakcheck test [ARGS…]`: placeholder, being written.

use crate::CliError;

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Arguments passed on to `cargo test`.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub cargo_args: Vec<std::ffi::OsString>,
}

/// Runs `test`.
pub fn run(_args: &TestArgs) -> Result<i32, CliError> {
    Err(CliError("test: not written yet".into()))
}
