//! Console against the real things: console alone, in-process on a test's
//! own stream and schema, the real NATS and Postgres, and a real headless
//! Chromium for the page. Tests append what the other services would
//! append straight to the log; those that need the other services running
//! beside console are the mesh's (`services/gantry/tests/cli/console.rs`).

mod browser;
mod helpers;
mod http;
mod watch;
