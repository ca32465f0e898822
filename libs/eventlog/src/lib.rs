//! The Gantry event log: one append-only NATS JetStream stream that is the
//! source of truth of the whole mesh, and the machinery every service uses to
//! write to it and to keep its Postgres view of it.
//!
//! # Layout
//!
//! - [`backoff`]: capped, jittered exponential pauses between retries.
//! - [`envelope`]: the event envelope, its type names, encoding and decoding.
//! - [`stream`]: the stream's settings and its idempotent creation.
//! - [`log`]: [`EventLog`] — append with optimistic concurrency and
//!   de-duplication, load one aggregate (following one live is [`tail`]).
//! - [`reader`]: [`read_log`], one reader's own cursor over the whole log
//!   (from a sequence, a time or now; one subject filter).
//! - [`tail`]: [`Tail`], one live reader of a subject filter shared by
//!   every watch of an aggregate.
//! - [`trace`]: W3C trace context carried in NATS headers.
//! - [`projection`]: the [`View`] trait a service's view implements (one
//!   `apply` per batch) or its two-phase form [`Projection`],
//!   and the checkpoint and parked-event tables.
//! - [`runner`]: [`ProjectionRunner`], the durable consumer that applies
//!   events to a view in batches, exactly once per event.
//! - [`rebuild`]: drop a view and replay it from the first event.
//! - [`reactor`]: [`Reactor`] and [`ReactorRunner`] — effects outside
//!   Postgres, triggered by events and recorded as events, with a durable
//!   work queue, leases, retries with backoff and a recorded give-up.

pub mod backoff;
pub mod envelope;
pub mod log;
pub mod projection;
pub mod reactor;
pub mod reader;
pub mod rebuild;
pub mod runner;
pub mod stream;
pub mod tail;
pub mod trace;

pub use envelope::{Decoded, NewEvent, RecordedEvent, event_type_of};
pub use log::{AppendError, Appended, EventLog, ExpectedSequence};
pub use projection::{ParkedEvent, Prepared, Projection, View};
pub use reactor::{ReactContext, ReactError, Reactor, ReactorFault, ReactorOptions, ReactorRunner, Work};
pub use reader::{LogEntry, StartAt, read_log};
pub use rebuild::Rebuilt;
pub use runner::{FaultPoint, ProjectionRunner, RunEnd, RunnerOptions};
pub use stream::StreamSettings;
pub use tail::{FollowError, Tail};
