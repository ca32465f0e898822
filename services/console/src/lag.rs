//! Each view's and reactor's lag behind the log, as JetStream counts it:
//! every durable consumer on the stream (the skeleton names them
//! `<stream>-<schema>-<view or reactor>`) and the events matching its
//! filter that it has not been delivered yet, or not acknowledged.

use futures::TryStreamExt as _;
use gantry_eventlog::EventLog;

/// One durable consumer's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConsumerLag {
    /// `<schema>-<name>` (the stream's name left off).
    pub(crate) name: String,
    /// Its filter subject.
    pub(crate) filter_subject: String,
    /// Matching events not delivered yet.
    pub(crate) pending: u64,
    /// Events delivered and not acknowledged yet.
    pub(crate) unacknowledged: u64,
    /// The last stream sequence it acknowledged.
    pub(crate) acknowledged_sequence: u64,
}

/// Reads every durable consumer of the log's stream, most behind first.
pub(crate) async fn consumer_lags(log: &EventLog) -> anyhow::Result<Vec<ConsumerLag>> {
    let stream_name = &log.settings().name;
    let stream = log.jetstream().get_stream(stream_name).await?;
    let infos: Vec<_> = stream.consumers().try_collect().await?;
    let prefix = format!("{stream_name}-");
    let mut lags: Vec<ConsumerLag> = infos
        .into_iter()
        .filter(|info| info.config.durable_name.is_some())
        .map(|info| ConsumerLag {
            name: info.name.strip_prefix(&prefix).unwrap_or(&info.name).to_owned(),
            filter_subject: info.config.filter_subject.clone(),
            pending: info.num_pending,
            unacknowledged: info.num_ack_pending as u64,
            acknowledged_sequence: info.ack_floor.stream_sequence,
        })
        .collect();
    lags.sort_by(|a, b| (b.pending + b.unacknowledged).cmp(&(a.pending + a.unacknowledged)).then(a.name.cmp(&b.name)));
    Ok(lags)
}
