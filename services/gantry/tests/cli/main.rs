//! The `gantry` client commands as a user runs them: the built binary
//! against a real intake started in-process on its own port, schema and
//! stream, checking stdout, stderr and the exit status.

mod errors;
mod first_run;
mod helpers;
mod show;
mod watch;
