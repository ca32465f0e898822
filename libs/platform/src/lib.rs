//! The platform's resources as Gantry's services touch them, shared by the
//! provisioner (which makes them) and rotation (which changes passwords):
//!
//! - [`target`]: an environment's platform Postgres over an admin
//!   connection — roles and databases made, inspected, repaired, dropped,
//!   only ever for the request they belong to.
//! - [`password`]: passwords from OS randomness, sent to Postgres only as
//!   SCRAM-SHA-256 verifiers.
//! - [`secrets`]: database credentials in AWS Secrets Manager, tagged with
//!   their request.
//! - [`aws`]: the one AWS configuration both Secrets Manager and S3 clients
//!   are made from.
//!
//! Failures are [`gantry_eventlog::ReactError`]s: retryable when a
//! dependency may come back, permanent otherwise.

pub mod aws;
pub mod password;
pub mod secrets;
pub mod target;
