//! The provisioner: approved requests become real resources, exactly once,
//! and everyone learns of each step through events on the request.
//!
//! Databases: on `request approved` (or a request auto-approved by a rule),
//! a login role with a generated password and a database it owns on the
//! environment's shared platform Postgres, with the tiers' limits and
//! controls, and the credentials in AWS Secrets Manager. Buckets: an S3
//! bucket with versioning, encryption, public access blocked, a TLS-only
//! policy, tags, its purpose's lifecycle and replication. Break-glass
//! decommission drops a database, its role and its secret once approved.
//! A drift check compares what exists with what was made.
//!
//! # Layout
//!
//! - `steps`: what the reactors share (what an event approves, recording).
//! - `databases`, `buckets`, `decommission`: the reactors and their steps
//!   (each idempotent, each recorded).
//! - `gantry_platform` (a lib): the environment's platform Postgres, role
//!   passwords, credentials in Secrets Manager, the AWS configuration.
//! - `s3`: buckets on S3; `bucket_plan`: what a bucket must look like (pure).
//! - `drift`: the reconcile (check, record, repair when asked).
//! - [`view`]: what the provisioner made, from the log; `reads`, `catalog`,
//!   `audit`: what the API answers from it; `api`: the gRPC service (errors and field checks from `gantry_service::api`).
//! - `settings`: environments, the secret prefix, retries (AWS is the
//!   shared `aws` section).
//! - `app`: [`Provisioner`] declared on the service skeleton.

pub mod view;

mod api;
mod app;
mod audit;
mod bucket_plan;
mod buckets;
mod catalog;
mod databases;
mod decommission;
mod drift;
mod reads;
mod s3;
mod settings;
mod steps;

pub use app::{Provisioner, run};
pub use gantry_platform::target::EnvironmentTarget;
pub use settings::ProvisionerSettings;

/// Counts one attempt of a reactor by its outcome and, when it finished,
/// records how long the work took from its trigger (the approval, the
/// decommission's approval) to done: `provisioner_duration_seconds{kind}`.
fn count_attempt(kind: &'static str, work: &gantry_eventlog::Work, result: &Result<(), gantry_eventlog::ReactError>) {
    let outcome = match result {
        Ok(()) => "done",
        Err(error) if error.retryable => "retry",
        Err(_) => "failed",
    };
    metrics::counter!("provisioner_attempts_total", "kind" => kind, "outcome" => outcome).increment(1);
    if let (Ok(()), Some(trigger)) = (result, &work.trigger)
        && let Ok(took) = std::time::SystemTime::now().duration_since(trigger.occurred_at())
    {
        metrics::histogram!("provisioner_duration_seconds", "kind" => kind).record(took.as_secs_f64());
    }
}
