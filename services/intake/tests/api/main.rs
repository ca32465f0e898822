//! Intake's API tests: the real service in-process on port 0 with its own
//! stream, schema and tokens, against the real JetStream and Postgres.

mod approval;
mod decommission;
mod durability;
mod faults;

mod helpers;
mod reads;
mod resilience;
mod roles;
mod server;
mod submit;
mod usability;
