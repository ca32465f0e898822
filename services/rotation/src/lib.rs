//! Rotation: every credential Gantry stored has a deadline from its data's
//! risk (the tier table), and is rotated with Secrets Manager's staged
//! protocol without breaking a running application's next login.
//!
//! Rotation runs on schedule (before each deadline, spread per credential)
//! and on demand (`RotateNow`), single user or alternating users, resuming
//! a half-done rotation after a crash and rolling back one that gives up;
//! it reports each credential due soon and overdue once per deadline.
//! `GetRotationStatus` and `ListRotations` show every credential's period,
//! deadline and state (ok, due soon, overdue, rotating, failed);
//! `SetRotationPolicy` sets a credential's own period and strategy.
//!
//! # Layout
//!
//! - `rotate`: the reactor: the schedule's work items and the rotation's
//!   steps (each idempotent).
//! - `schedule`: deadlines, warning windows and spread rotation times (pure).
//! - `history`: a credential as its request's events tell it.
//! - [`view`]: credentials and their deadlines, from the log.
//! - `api`: the gRPC service.
//! - `settings`: environments, the warning window, retries.
//! - `app`: [`Rotation`] declared on the service skeleton.

pub mod view;

mod api;
mod app;
mod history;
mod rotate;
mod schedule;
mod settings;

pub use app::{Rotation, run};
pub use settings::RotationSettings;
