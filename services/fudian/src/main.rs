//! The `fudian` binary: one executable for every way of running the suite.
//!
//! - `fudian up` (the default): every service in one process;
//! - `fudian serve <service>`: one service, for production;
//! - `fudian grid ...`: load, check, trace, generate and benchmark grid packages;
//! - `fudian sim ...`: publish realistic field traffic for a grid package.
//!
//! It parses the command line and hands over to the modules; no logic lives here.

mod config;
mod demo;
mod grid_cli;
mod platform;
mod sim_cli;
mod up;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "fudian",
    version,
    about = "复电: outage dispatch and customer notification"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every service in one process (the default).
    Up(up::UpArgs),
    /// One service, for production.
    Serve(up::ServeArgs),
    /// Work with grid packages: check, trace, generate, bench.
    Grid(grid_cli::GridArgs),
    /// Publish realistic field traffic for a grid package, and write its ground truth.
    Sim(sim_cli::SimArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Grid(args)) => grid_cli::run(args),
        Some(Command::Sim(args)) => runtime()?.block_on(sim_cli::run(args)),
        Some(Command::Serve(args)) => runtime()?.block_on(up::run(args.up, &[args.service])),
        Some(Command::Up(args)) => runtime()?.block_on(up::run(args, &up::ServiceName::ALL)),
        None => runtime()?.block_on(up::run(
            up::UpArgs {
                grid: None,
                config: None,
                demo: false,
            },
            &up::ServiceName::ALL,
        )),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
