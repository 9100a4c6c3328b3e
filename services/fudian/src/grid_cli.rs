//! `fudian grid ...`: the command line over `fudian-grid` (check, trace, generate, bench).

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct GridArgs {
    #[command(subcommand)]
    pub command: GridCommand,
}

#[derive(Debug, Subcommand)]
pub enum GridCommand {}

pub fn run(args: GridArgs) -> anyhow::Result<()> {
    match args.command {}
}
