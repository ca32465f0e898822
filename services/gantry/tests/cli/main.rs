//! The `gantry` client commands as a user runs them: the built binary
//! against a real intake (and provisioner, and rotation) started in-process on its own
//! ports, schemas and stream, checking stdout, stderr and the exit status.

mod artifacts;
mod errors;
mod events;
mod first_run;
mod helpers;
mod lineage;
mod operations;
mod provisioner;
mod rotation;
mod show;
mod traces;
mod watch;
