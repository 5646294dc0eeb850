//! CLI verbs against a running engine. PLACEHOLDER: being written (binary work item).

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Print the groups that hold items.
    Groups,
}

pub fn run(_command: ClientCommand) -> ExitCode {
    ExitCode::FAILURE
}
