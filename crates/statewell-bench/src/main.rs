//! `statewell-bench`: the flags, then the bench (`lib.rs`).

use clap::Parser;

fn main() -> std::process::ExitCode {
    statewell_bench::run(statewell_bench::BenchArgs::parse())
}
