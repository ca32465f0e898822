//! Ingest: the artifact store. Orchestrator agents stream artifacts of any
//! size in (`gantry.artifacts.v1.ArtifactService/Upload`); each distinct
//! content is stored once, content-addressed by its SHA-256 (BLAKE3
//! beside it), on the local filesystem or S3 behind `gantry-storage`'s
//! `BlobStore`; every artifact records its producer (tenant, run, step,
//! agent and version) and its lineage inputs on the log
//! (`artifact.stored.v1`), and is served back whole or by byte range to
//! its tenant only.
//!
//! # Layout
//!
//! - `header`: the upload header checked at the edge (pure).
//! - `access`: which principal sees and stores which tenant's artifacts.
//! - `digest`: SHA-256 and BLAKE3 in one pass over each chunk.
//! - `blob_log`: the blob's subject, where every ingest event is; its fold.
//! - `routing`: which backend an upload goes to (residency pins, routes).
//! - `backend`: the configured stores by name, each opened on first use; key layout and URIs.
//! - `staging`: staged uploads removed unless promoted; the start-up cleanup.
//! - `sweeper`: retention: expire artifacts, delete unreferenced blobs.
//! - `orphans`: delete blobs no event accounts for (an upload that died
//!   between promote and record), listed from the store.
//! - `upload`: stage, hash, verify, promote or deduplicate, record.
//! - `download`: ranged reads, checked on their way out, DATA_LOSS.
//! - `integrity`: blob events and `Verify` (re-read every blob).
//! - `runs`: `CompleteRun` and `WriteRunManifest`; `layout_reactor`: the
//!   layout of every completed run, written even if its caller died; `run_layout`: the keys of
//!   a run's browsable layout; `manifest`: its documents; `audit`: its
//!   audit lines.
//! - [`view`]: the artifacts, blobs and run events view, and its reads.
//! - `api`: the gRPC service; `error`: its one error and status codes.
//! - [`settings`]: backends, routes, key prefix, limits.
//! - `app`: [`Ingest`] declared on the service skeleton.

pub mod settings;
pub mod view;

mod access;
mod api;
mod app;
mod audit;
mod backend;
mod blob_log;
mod digest;
mod download;
mod error;
mod header;
mod integrity;
mod layout_reactor;
mod manifest;
mod orphans;
mod routing;
mod run_layout;
mod runs;
mod staging;
mod sweeper;
mod upload;

pub use access::{PLATFORM_TEAM, TENANT_GROUP_PREFIX};
pub use app::{Ingest, run};
pub use settings::{IngestSettings, RouteSettings, StorageSettings};
