//! Lineage's integration tests: each starts lineage on its own stream and
//! schema against the real Postgres and JetStream, feeds it events as
//! ingest's contracts in `proto/` define them, and asks it over gRPC. Real
//! ingest uploads feeding lineage are the mesh's test
//! (`services/gantry/tests/cli/lineage.rs`).

mod export;
mod graph;
mod helpers;
mod openlineage;
mod rebuild;
mod upgrade;
