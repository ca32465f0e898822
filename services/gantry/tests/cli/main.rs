//! The `gantry` client commands as a user runs them: the built binary
//! against a real intake (and provisioner, rotation, ingest, lineage and
//! console, as a test needs them) started in-process on its own ports,
//! schemas and stream, checking stdout, stderr and the exit status. Tests
//! of one service against the others running beside it live here too, with
//! the mesh, since services share only `proto/` and the libs.

mod artifacts;
mod console;
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
