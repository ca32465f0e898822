//! The provisioner: approved requests become real resources, exactly once,
//! and everyone learns of each step through events on the request.
//!
//! This build provisions databases: on `request approved` (or a request
//! auto-approved by a rule) for a database, it makes a login role with a
//! generated password and a database it owns on the environment's shared
//! platform Postgres, with the tiers' limits and controls, and stores the
//! credentials in AWS Secrets Manager. Buckets come next.
//!
//! # Layout
//!
//! - `databases`: the reactor and its steps (each idempotent, each recorded).
//! - `target`: the environment's platform Postgres (role, database, grants).
//! - `secrets`: credentials in Secrets Manager.
//! - `password`: passwords from OS randomness, sent as SCRAM verifiers.
//! - [`view`]: what the provisioner made, from its own events.
//! - `settings`: environments, the secret prefix, retries (AWS is the
//!   shared `aws` section).
//! - `app`: [`Provisioner`] declared on the service skeleton.

pub mod view;

mod app;
mod databases;
mod password;
mod secrets;
mod settings;
mod target;

pub use app::{Provisioner, run};
pub use settings::{EnvironmentTarget, ProvisionerSettings};
