//! The shape of a Gantry service, written once: a service crate supplies
//! its name, settings, migrations, views, reactors and API, and this crate
//! does what every service does with them — reads the config section,
//! connects the event log and a pool on the service's own schema, migrates
//! it, runs the projections and reactors, serves gRPC with auth, health,
//! reflection and message limits, and stops gracefully.
//!
//! A service outlives its dependencies. It starts while Postgres or NATS is
//! down and waits for them (capped, jittered backoff, every attempt
//! logged); while Postgres is down its writes go on (they need only the
//! log), its reads answer `UNAVAILABLE` within `database.acquire_timeout_ms`,
//! and its views catch up when Postgres returns; health reports each
//! service name `NOT_SERVING` while a dependency is down.
//!
//! # Layout
//!
//! - [`settings`]: what every service's config section holds.
//! - [`declare`]: [`Service`], the trait a service implements, and the
//!   [`Declaration`] of its views, reactors and API.
//! - [`run`]: [`Built`], start-up and the running service; [`rebuild`].
//! - [`tenancy`]: which principal reads and writes which tenant's data.
//! - `health`: the live health of a service's names.

pub mod api;
pub mod declare;
mod health;
pub mod run;
pub mod settings;
pub mod tenancy;

pub use declare::{Declaration, Parts, Readiness, Service, ViewNotReady};
pub use run::{Built, build, rebuild, run};
pub use settings::ServiceSettings;
