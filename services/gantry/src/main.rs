//! `gantry`: the one binary. `gantry serve <service>... | all` runs services
//! in this process; the other commands are clients of a running mesh.
//!
//! # Layout
//!
//! - `cli`: the command line (clap): commands, flags, help and examples.
//! - `serve`: runs any set of services until SIGTERM/ctrl-c.
//! - `client`: the commands that call intake, the provisioner, ingest, lineage, rotation or console over gRPC.
//! - `watch`: `request watch`: the history, what it waits for, the end.
//! - `external_secret`: the ExternalSecret manifest of a ready database.
//! - `backend_config`: Terraform S3 backend files in a backend-state bucket.
//! - `output`: tables for humans, JSON for machines.
//! - `failure`: errors as text or JSON on stderr, and exit statuses.
//! - `approvals`: which approvals a request still needs.
//! - `admin`: tokens and view rebuilds here; reconcile through the client.

mod admin;
mod approvals;
mod backend_config;
mod cli;
mod client;
mod external_secret;
mod failure;
mod output;
mod serve;
mod watch;

use clap::Parser as _;

/// mimalloc: the services allocate many small, short-lived buffers per call
/// and per event; glibc's malloc was a sixth of the CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let arguments: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cli::Cli::try_parse_from(&arguments) {
        Ok(cli) => cli,
        Err(error) => return failure::report_usage(&error, &arguments),
    };
    let output = cli.client.output;
    let result = match cli.command {
        cli::Command::Serve(args) => serve::run(cli.config.as_deref(), args).await,
        cli::Command::Request(command) => client::request(&cli.client, command).await,
        cli::Command::Database(command) => client::database(&cli.client, command).await,
        cli::Command::Bucket(command) => client::bucket(&cli.client, command).await,
        cli::Command::Rotation(command) => client::rotation(&cli.client, command).await,
        cli::Command::Artifact(command) => client::artifact(&cli.client, command).await,
        cli::Command::Lineage(command) => client::lineage(&cli.client, command).await,
        cli::Command::Events(command) => client::events(&cli.client, command).await,
        cli::Command::Catalog(command) => client::catalog(&cli.client, command).await,
        cli::Command::Audit(command) => client::audit(&cli.client, command).await,
        cli::Command::Admin(command) => admin::run(cli.config.as_deref(), &cli.client, command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => failure::report(&failure::from_error(error), output),
    }
}
