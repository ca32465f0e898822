//! Rotation: every credential Gantry stored has a deadline from its data's
//! risk (the tier table), and is rotated with Secrets Manager's staged
//! protocol without breaking a running application's next login.
//!
//! This build rotates on demand (`RotateNow`), single user, resuming a
//! half-done rotation after a crash and rolling back one that gives up;
//! `GetRotationStatus` and `ListRotations` show every credential's period,
//! deadline and state (ok, due soon, overdue, rotating, failed). The
//! schedule, due-soon and overdue events and alternating users come next.
//!
//! # Layout
//!
//! - `rotate`: the reactor and its steps (each idempotent).
//! - [`view`]: credentials and their deadlines, from the log.
//! - `api`: the gRPC service.
//! - `settings`: environments, the warning window, retries.
//! - `app`: [`Rotation`] declared on the service skeleton.

pub mod view;

mod api;
mod app;
mod rotate;
mod settings;

pub use app::{Rotation, run};
pub use settings::RotationSettings;
