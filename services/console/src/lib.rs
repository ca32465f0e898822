//! Console: the operators' read side of Gantry. It serves the event log as
//! a live, filtered, resumable stream — `gantry.events.v1.EventService/Watch`
//! over gRPC and the same stream as Server-Sent Events (`GET /v1/events`) —
//! and a page (`GET /`) that shows what needs attention: requests pending
//! approval with their age, provisioning in flight and failed, credentials
//! due soon and overdue, and each view's lag behind the log. The page
//! updates from the event stream with the browser's own `EventSource` and
//! reads as plain tables without JavaScript.
//!
//! Everything the page summarises comes from console's own view of the
//! log (schema `console`), never from another service's tables.
//!
//! # Layout
//!
//! - [`settings`]: the HTTP listener, per-client buffer and cut-off, watch limit.
//! - `filter`: a watch's start and filters, checked field by field.
//! - `scope`: the environment and tenant of an event (from its aggregate).
//! - `access`: which events a principal may see.
//! - `watch`: [`Watches`](watch::Watches) — one bounded reader per client.
//! - `json`: an event as JSON (the canonical protobuf JSON of its envelope).
//! - `grpc`: the `EventService`.
//! - `view`: the `console` view (requests and credentials) and its reads.
//! - `lag`: each durable consumer's lag behind the log, from JetStream.
//! - `http`: the SSE endpoint, the page (its handlers, and its HTML in
//!   `http::render`), its login and assets.
//! - `app`: [`Console`] on the service skeleton, and [`ConsoleServer`],
//!   which serves gRPC and HTTP side by side.

pub mod settings;

mod access;
mod app;
mod filter;
mod grpc;
mod http;
mod json;
mod lag;
mod scope;
mod view;
mod watch;

pub use app::{Console, ConsoleServer, run};
pub use json::event_json;
pub use settings::ConsoleSettings;
