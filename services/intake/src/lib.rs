//! Intake: where application teams ask for a database or a bucket, where
//! approvers decide, and where everyone follows a request's status.
//!
//! A command is validated, decided against the request's events loaded from
//! the log, appended (answered only once JetStream acknowledged it), and
//! later applied to this service's view, the request catalog in Postgres.
//!
//! # Layout
//!
//! - [`domain`]: the rules — specs, validation, policy, decider, `evolve`.
//! - `commands`: load → decide → append, with retries on concurrent writes;
//!   `commands::names`, the reservations that keep one live request per
//!   database, role and bucket name.
//! - [`view`]: the projection into Postgres and the queries on it.
//! - `catalog`: `rds-catalog.yaml` and Backstage entities from the view.
//! - `grpc`: the thin tonic service (parse → command or query → answer).
//! - `app`: [`Intake`] declared on the service skeleton (`gantry-service`).
//! - `error`: one error type and its mapping to gRPC status codes.
//! - `settings`: intake's own settings (the policy file).
//! - `convert`: protobuf ↔ domain at the edge.

pub mod domain;
pub mod view;

mod app;
mod catalog;
mod commands;
mod convert;
mod error;
mod grpc;
mod settings;

pub use app::{Intake, run};
pub use settings::IntakeSettings;
