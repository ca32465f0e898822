//! Start-up work shared by the service and the admin tools: settings, the
//! migrated schema, the open stream, the view's projection.

use crate::settings::IntakeSettings;
use crate::view::{MIGRATOR, RequestsView, VIEW_NAME};
use anyhow::Context as _;
use gantry_eventlog::{EventLog, Rebuilt, StreamSettings};
use gantry_runtime::Config;
use gantry_runtime::config::{DatabaseSettings, NatsSettings};
use sqlx::PgPool;
use std::sync::Arc;

/// What intake needs connected before it does anything.
pub(crate) struct Parts {
    pub(crate) settings: IntakeSettings,
    pub(crate) pool: PgPool,
    pub(crate) log: EventLog,
    pub(crate) view: Arc<RequestsView>,
}

impl Parts {
    /// Reads the settings, migrates the schema and opens the stream.
    pub(crate) async fn connect(config: &Config) -> anyhow::Result<Self> {
        let settings: IntakeSettings = config.section("intake")?;
        let database: DatabaseSettings = config.section("database")?;
        let stream: StreamSettings = config.section("stream")?;
        let pool = gantry_runtime::postgres::connect(&database, &settings.schema).await?;
        MIGRATOR.run(&pool).await.context("migrating the intake schema")?;
        gantry_eventlog::projection::install(&pool, VIEW_NAME).await?;
        let client = config.section::<NatsSettings>("nats")?.connect().await?;
        let log = EventLog::open(client, stream).await?;
        let view = Arc::new(RequestsView::new(log.settings().subjects_of("request")));
        Ok(Self { settings, pool, log, view })
    }
}

/// What `gantry admin rebuild intake` did.
#[derive(Debug, Clone, Copy)]
pub struct RebuildReport {
    /// The view's checkpoint afterwards.
    pub checkpoint: u64,
    /// False when a running intake replays the view itself.
    pub replayed_here: bool,
}

impl RebuildReport {
    /// A note for the operator when the replay happens elsewhere.
    pub fn note(&self) -> &'static str {
        if self.replayed_here { "" } else { "; a running intake leads the view and is replaying it" }
    }
}

/// Drops the intake view and replays it from the first event.
pub async fn rebuild(config: &Config) -> anyhow::Result<RebuildReport> {
    let parts = Parts::connect(config).await?;
    let Rebuilt { checkpoint, replayed_here } =
        gantry_eventlog::rebuild::rebuild(&parts.log, &parts.pool, parts.view, parts.settings.projection_batch_size)
            .await?;
    Ok(RebuildReport { checkpoint, replayed_here })
}
