//! What every Gantry service shares, so a service crate holds only its own
//! domain: configuration, telemetry, the gRPC server, identity, shutdown and
//! its Postgres schema.
//!
//! # Layout
//!
//! - [`config`]: layered settings (defaults → file → `GANTRY_*` variables).
//! - [`telemetry`]: JSON logs, OpenTelemetry traces over OTLP when
//!   configured, the Prometheus `/metrics` endpoint.
//! - [`grpc`]: the server bootstrap — health, reflection (v1 and v1alpha),
//!   per-RPC metrics and trace context, TLS from reloaded certificate files,
//!   connection limits and idle timeout, bad bytes as the caller's error,
//!   graceful shutdown; and the client endpoint (TLS with a CA).
//! - [`auth`]: bearer tokens (stored only as SHA-256 hashes) to principals.
//! - [`shutdown`]: one signal that every task of the process waits on.
//! - [`postgres`]: a lazy pool bound to one service's own schema, and
//!   which errors mean "Postgres is unavailable".

pub mod auth;
pub mod config;
pub mod grpc;
pub mod postgres;
pub mod shutdown;
pub mod telemetry;

pub use auth::{Authenticator, TokenStore, principal_of};
pub use config::Config;
pub use shutdown::{Shutdown, ShutdownTrigger};
