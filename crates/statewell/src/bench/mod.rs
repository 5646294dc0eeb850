//! `statewell bench`. PLACEHOLDER: being written (performance work item).

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct BenchArgs {}

pub fn run(_args: BenchArgs) -> ExitCode {
    ExitCode::FAILURE
}
