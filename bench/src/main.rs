//! `gantry-bench`: prints Gantry's figures from one run on this machine.
//!
//! - intake `RequestDatabase` over gRPC on loopback (each answer only after
//!   its events are durably appended) beside the floor of the stack: a bare
//!   tonic service answering the same message, driven by the same load
//!   generator at the same concurrency; and the raw JetStream
//!   acknowledged-publish rate;
//! - projection catch-up: replaying events into the intake view, beside a
//!   bulk upsert of as many rows into a table of the same shape;
//! - provisioning: approval → credentials stored for many databases, beside
//!   the bare `CREATE ROLE` + `CREATE DATABASE` + `CreateSecret` calls
//!   (needs the AWS API emulator, as the tests do);
//! - rotation: the scan of 100,000 tracked credentials for due and
//!   overdue, and rotations per second beside the bare staged-protocol
//!   calls (the emulator too);
//! - ingest: a 1 GiB upload beside the hash rate and the disk, the same
//!   upload to S3 beside a plain multipart upload, downloads;
//! - lineage: a generated graph of 1,000,000 edges: the view's catch-up
//!   rate, and Upstream / Downstream at depth 5 and 20 and Impact of a
//!   widely used input, p50 and p99 over gRPC.
//! - watch: one `EventService/Watch` client replaying 1,000,000 events
//!   beside a raw JetStream ordered consumer of the same stream, and the
//!   append → SSE delivery latency.
//!
//! Run with `cargo run --release -p gantry-bench -- --help`. It uses the
//! local Postgres, NATS and moto (like the tests: its own stream, schemas,
//! names and secrets, removed afterwards).
//!
//! # Layout
//!
//! - `load`: the closed-loop load generator and its latency histogram.
//! - `cpu`: the CPU each party (this process, NATS, Postgres) spent per call.
//! - `floor`: the bare tonic service.
//! - `platform`: where the local Postgres and the AWS emulator are.
//! - `requests`: intake vs floor, and raw JetStream publishing.
//! - `catchup`: the projection replay and the bulk-upsert baseline.
//! - `provision`: provisioning through Gantry and the bare calls.
//! - `rotation`: rotation's scan and rate, and the bare calls.
//! - `ingest`: artifact uploads and downloads, and their limits.
//! - `lineage`: the generated lineage graph, its catch-up and its queries.
//! - `watch`: the event stream's replay rate and its SSE latency.

mod catchup;
mod cpu;
mod floor;
mod ingest;
mod lineage;
mod load;
mod platform;
mod provision;
mod requests;
mod rotation;
mod watch;

use clap::Parser;

/// The same allocator as the `gantry` binary, so the figures are its figures.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Duration;

/// Gantry's benchmark: prints figures, asserts nothing.
#[derive(Debug, Parser)]
struct Args {
    /// Which figures: requests, catchup, provision, rotation, ingest, lineage, watch or all.
    #[arg(default_value = "all")]
    which: String,
    /// Concurrent clients of the request load.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections the clients share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Measured seconds per request load (after a one-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Events replayed by the catch-up figure.
    #[arg(long, default_value_t = 100_000)]
    events: usize,
    /// Events per projection transaction.
    #[arg(long, default_value_t = 1000)]
    batch_size: usize,
    /// Databases provisioned by the provisioning figure.
    #[arg(long, default_value_t = 200)]
    databases: usize,
    /// Databases provisioned (and credentials rotated) at once.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// Credentials in rotation's view for the scan figure.
    #[arg(long, default_value_t = 100_000)]
    tracked: usize,
    /// Credentials rotated by the rotation figure.
    #[arg(long, default_value_t = 200)]
    rotations: usize,
    /// Events the watch figure replays.
    #[arg(long, default_value_t = 1_000_000)]
    watch_events: usize,
    /// Appends timed by the watch figure's SSE latency.
    #[arg(long, default_value_t = 2000)]
    latency_samples: usize,
    /// Bytes of the artifact the ingest figure uploads.
    #[arg(long, default_value_t = 1 << 30)]
    artifact_bytes: u64,
    /// Bytes of the artifact uploaded to S3 (0: skip the S3 figure).
    #[arg(long, default_value_t = 1 << 30)]
    s3_bytes: u64,
    /// Edges of the generated lineage graph.
    #[arg(long, default_value_t = 1_000_000)]
    lineage_edges: usize,
    /// Calls per lineage query figure (Impact: at most 50).
    #[arg(long, default_value_t = 1000)]
    lineage_calls: usize,
    /// Nodes per lineage answer the queries ask for (0: the service's default, 10000).
    #[arg(long, default_value_t = 0)]
    lineage_max_nodes: u32,
    /// Keep the lineage figure's schema and stream for inspection (psql).
    #[arg(long)]
    lineage_keep: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    gantry_runtime::telemetry::install_metrics(None)?;
    let duration = Duration::from_secs(args.seconds);
    if matches!(args.which.as_str(), "all" | "requests") {
        requests::run(args.concurrency, args.connections, duration).await?;
    }
    if matches!(args.which.as_str(), "all" | "catchup") {
        catchup::run(args.events, args.batch_size).await?;
    }
    if matches!(args.which.as_str(), "all" | "provision") {
        provision::run(args.databases, args.in_flight).await?;
    }
    if matches!(args.which.as_str(), "all" | "rotation") {
        rotation::run(args.tracked, args.rotations, args.in_flight).await?;
    }
    if matches!(args.which.as_str(), "all" | "ingest") {
        ingest::run(args.artifact_bytes, args.s3_bytes).await?;
    }
    if matches!(args.which.as_str(), "all" | "lineage") {
        lineage::run(lineage::Options {
            edges: args.lineage_edges,
            batch_size: args.batch_size,
            calls: args.lineage_calls,
            max_nodes: args.lineage_max_nodes,
            keep: args.lineage_keep,
        })
        .await?;
    }
    if matches!(args.which.as_str(), "all" | "watch") {
        watch::run(args.watch_events, args.latency_samples).await?;
    }
    Ok(())
}

/// Adds a principal's token (`Bearer …`) to every call.
#[derive(Clone)]
pub(crate) struct Bearer(tonic::metadata::MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
}
