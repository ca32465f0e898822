//! Lineage: where every artifact came from and what depends on it, now and
//! as of any earlier point of the log.
//!
//! Its graph is a view of ingest's artifact events (`ArtifactStored`,
//! `ArtifactExpired`) and of OpenLineage run events recorded through
//! `IngestOpenLineage`: artifacts and dataset versions are nodes, the steps
//! and OpenLineage runs that made them are producers, and each input →
//! output pair is an edge. Every row carries the stream sequence it
//! appeared at, so `as_of` (a sequence or a time) is a predicate on the
//! same view. `Upstream`, `Downstream` and `Impact` walk it breadth first
//! in one statement (a recursive query, or one scan per generation when
//! that would reach far more than it answers), then read the answer's
//! details a row per node; `Run` lists a run's inputs and outputs;
//! answers export as OpenLineage run events, Mermaid or DOT ([`render`]).
//!
//! # Layout
//!
//! - [`view`]: the graph view (its tables, its fold of the events, its checksum).
//! - `graph`: the view's reads, each as of a sequence: the walk, details, runs.
//! - `queries`: the answers assembled from those reads; an impact's runs.
//! - `request`: queries checked at the edge (pure).
//! - [`openlineage`]: OpenLineage run events checked at the edge (pure).
//! - [`render`]: Mermaid, DOT and OpenLineage JSON of an answer (pure).
//! - [`ids`]: the graph's derived ids.
//! - `api`: the gRPC service.
//! - [`settings`]: depth and size limits.
//! - `app`: [`Lineage`] declared on the service skeleton.

pub mod ids;
pub mod openlineage;
pub mod render;
pub mod settings;
pub mod view;

mod api;
mod app;
mod graph;
mod queries;
mod request;

pub use app::{Lineage, run};
pub use settings::LineageSettings;
