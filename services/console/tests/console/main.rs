//! Console against the real things: console in-process on a test's own
//! stream and schema (intake beside it where a test submits through the
//! API), the real NATS and Postgres, and a real headless Chromium for the
//! page.

mod browser;
mod helpers;
mod http;
mod secrets;
mod watch;
