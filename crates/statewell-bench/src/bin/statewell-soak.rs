//! `statewell-soak`: the flags, then the soak (`statewell_bench::soak`).

use clap::Parser;

fn main() -> std::process::ExitCode {
    statewell_bench::soak::run(statewell_bench::soak::SoakArgs::parse())
}
