//! `gantry`: the one binary. `gantry serve <service>... | all` runs services
//! in this process; the other commands are clients of a running mesh.
//!
//! # Layout
//!
//! - `cli`: the command line (clap).
//! - `serve`: runs any set of services until SIGTERM/ctrl-c.
//! - `client`: the `request` and `catalog` commands over gRPC.
//! - `output`: tables for humans, JSON for machines.
//! - `admin`: tokens and view rebuilds.

mod admin;
mod cli;
mod client;
mod output;
mod serve;

use clap::Parser as _;

/// mimalloc: the services allocate many small, short-lived buffers per call
/// and per event; glibc's malloc was a sixth of the CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::run(cli.config.as_deref(), args).await,
        cli::Command::Request(command) => client::request(&cli.client, command).await,
        cli::Command::Catalog(command) => client::catalog(&cli.client, command).await,
        cli::Command::Admin(command) => admin::run(cli.config.as_deref(), command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
