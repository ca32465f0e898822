//! Lineage's integration tests: each starts lineage on its own stream and
//! schema against the real Postgres and JetStream, feeds it events (or
//! runs the real ingest beside it) and asks it over gRPC.

mod export;
mod graph;
mod helpers;
mod ingest;
mod openlineage;
mod rebuild;
