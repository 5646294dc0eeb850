//! The `statewell` binary: `serve` runs the engine; the other verbs talk to a
//! running engine. (The load generator is a crate of its own, `statewell-bench`.)

mod cli;
mod duration;
mod serve;
mod signals;

use clap::{CommandFactory, Parser, Subcommand};

/// Values are built on the reactor threads and freed on the commit thread
/// (and the other way round): glibc's malloc then serialises on its arena
/// locks. mimalloc frees to the owning thread's heap without a lock.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "statewell",
    version,
    about = "A durable state engine for event-driven backends"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine.
    Serve(serve::ServeArgs),
    #[command(flatten)]
    Client(cli::ClientCommand),
    /// Print a completion script for a shell, e.g.
    /// `statewell completions bash > /etc/bash_completion.d/statewell`.
    Completions {
        /// bash, zsh, fish, powershell or elvish.
        shell: clap_complete::Shell,
    },
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match args.command {
        Command::Serve(args) => serve::run(args),
        Command::Client(command) => cli::run(command),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Args::command(),
                "statewell",
                &mut std::io::stdout(),
            );
            std::process::ExitCode::SUCCESS
        }
    }
}
