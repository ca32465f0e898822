//! The lineage gRPC service: thin tonic methods over the checked queries
//! ([`crate::request`]), the graph's reads and answers ([`crate::graph`],
//! [`crate::queries`]) and the tenant rule; and `IngestOpenLineage`, which
//! checks an OpenLineage event and appends it to the log.

use crate::graph::{self, Direction, Walk};
use crate::queries;
use crate::request::{Point, Query, RunQuery};
use crate::settings::LineageSettings;
use crate::view::VIEW_NAME;
use crate::{ids, openlineage, render};
use gantry_eventlog::{AppendError, EventLog, ExpectedSequence, NewEvent};
use gantry_proto::events::envelope::Payload;
use gantry_proto::lineage::lineage_service_server::LineageService;
use gantry_proto::lineage::{self as pb, export_open_lineage_request};
use gantry_proto::types::Principal;
use gantry_runtime::principal_of;
use gantry_service::api::{ApiError, Checks, ViewReads};
use gantry_service::tenancy::{may_read, may_write};
use std::time::SystemTime;
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// The aggregate type of lineage's own events (`<prefix>.lineage.<tenant>.<run>`).
pub(crate) const LINEAGE: &str = "lineage";

/// The lineage API over the graph view and the log.
#[derive(Debug, Clone)]
pub(crate) struct LineageApi {
    pub(crate) reads: ViewReads,
    pub(crate) log: EventLog,
    pub(crate) settings: LineageSettings,
}

impl LineageApi {
    /// Waits for the view and returns the sequence the graph is read as of.
    async fn resolve(&self, point: Point, min_sequence: u64) -> Result<i64, ApiError> {
        match point {
            Point::Now => {
                self.reads.at(min_sequence).await?;
                Ok(gantry_eventlog::projection::checkpoint(&self.reads.pool, VIEW_NAME).await? as i64)
            }
            Point::Sequence(sequence) => {
                self.reads.at(min_sequence.max(sequence)).await?;
                Ok(sequence.min(i64::MAX as u64) as i64)
            }
            Point::Time(seconds) => {
                self.reads.at(min_sequence).await?;
                Ok(graph::sequence_at(&self.reads.pool, seconds).await?)
            }
        }
    }

    /// Walks from a node the caller sees, as of the query's point;
    /// `by_generation` for a walk expected to reach far more than it answers.
    async fn walk(
        &self,
        caller: &Principal,
        query: &Query,
        direction: Direction,
        by_generation: bool,
    ) -> Result<pb::Graph, ApiError> {
        if let Some(tenant) = query.tenant.as_ref().filter(|tenant| !may_read(caller, tenant)) {
            return Err(ApiError::PermissionDenied(format!("you do not see tenant {tenant}")));
        }
        let as_of = self.resolve(query.point, query.min_sequence).await?;
        let pool = &self.reads.pool;
        let visible = graph::tenant_of(pool, query.node, as_of)
            .await?
            .filter(|tenant| may_read(caller, tenant) && query.tenant.as_ref().is_none_or(|wanted| wanted == tenant));
        if visible.is_none() {
            return Err(ApiError::NotFound(format!("no node {} (as of sequence {as_of})", query.node)));
        }
        let limits = Walk { direction, depth: query.depth, max_nodes: query.max_nodes, as_of, by_generation };
        let found = graph::walk(pool, query.node, limits).await?;
        let mut answer = queries::answer(found, as_of as u64, query.agent.as_deref());
        answer.nodes.retain(|node| may_read(caller, &node.tenant));
        Ok(answer)
    }

    async fn run_graph(&self, caller: &Principal, query: &RunQuery) -> Result<pb::Graph, ApiError> {
        let missing = || ApiError::NotFound(format!("no run {} of tenant {}", query.run_id, query.tenant));
        if !may_read(caller, &query.tenant) {
            return Err(missing());
        }
        let as_of = self.resolve(query.point, query.min_sequence).await?;
        let pool = &self.reads.pool;
        let producers = graph::run_producers(pool, &query.tenant, &query.run_id, as_of).await?;
        if producers.is_empty() {
            return Err(missing());
        }
        let found = queries::run(pool, &producers, as_of).await?;
        let mut answer = queries::answer(found, as_of as u64, None);
        // The run's own steps only (its inputs' producers are other runs').
        let own: std::collections::HashSet<String> = producers.iter().map(Uuid::to_string).collect();
        answer.producers.retain(|producer| own.contains(&producer.producer_id));
        // A run whose outputs are not in the graph yet (an OpenLineage run
        // still going) is listed with its producers all the same.
        let listed: std::collections::HashSet<String> =
            answer.producers.iter().map(|producer| producer.producer_id.clone()).collect();
        let missing_producers: Vec<Uuid> =
            producers.into_iter().filter(|producer| !listed.contains(&producer.to_string())).collect();
        answer.producers.extend(graph::producers(pool, &missing_producers, as_of).await?);
        queries::in_order_of_appearance(&mut answer.producers);
        Ok(answer)
    }

    async fn impact(&self, caller: &Principal, query: &Query) -> Result<pb::ImpactResponse, ApiError> {
        let graph = self.walk(caller, query, Direction::Downstream, true).await?;
        Ok(pb::ImpactResponse { runs: queries::runs_to_rerun(&graph), graph: Some(graph) })
    }

    async fn export(
        &self,
        caller: &Principal,
        message: pb::ExportOpenLineageRequest,
    ) -> Result<pb::ExportOpenLineageResponse, ApiError> {
        let settings = &self.settings;
        let graph = match message.query {
            Some(export_open_lineage_request::Query::Upstream(walk)) => {
                let query =
                    Query::parse("upstream", &walk, settings, settings.default_depth).map_err(ApiError::Invalid)?;
                self.walk(caller, &query, Direction::Upstream, false).await?
            }
            Some(export_open_lineage_request::Query::Downstream(walk)) => {
                let query =
                    Query::parse("downstream", &walk, settings, settings.default_depth).map_err(ApiError::Invalid)?;
                self.walk(caller, &query, Direction::Downstream, false).await?
            }
            Some(export_open_lineage_request::Query::Run(run)) => {
                let query = RunQuery::parse("run", &run).map_err(ApiError::Invalid)?;
                self.run_graph(caller, &query).await?
            }
            None => {
                let why = "required: upstream, downstream or run".to_owned();
                return Err(ApiError::Invalid(vec![("query".to_owned(), why)]));
            }
        };
        let as_of = graph.as_of_sequence.min(i64::MAX as u64) as i64;
        let datasets = queries::producer_datasets(&self.reads.pool, &graph.producers, as_of).await?;
        let run_events = graph
            .producers
            .iter()
            .map(|producer| {
                let (inputs, outputs) = datasets.by_producer.get(&producer.producer_id).cloned().unwrap_or_default();
                let nodes = |ids: &std::collections::BTreeSet<String>| -> Vec<&pb::Node> {
                    ids.iter().filter_map(|id| datasets.nodes.get(id)).collect()
                };
                render::openlineage_event(producer, &nodes(&inputs), &nodes(&outputs)).to_string()
            })
            .collect();
        Ok(pb::ExportOpenLineageResponse {
            run_events,
            truncated: graph.truncated,
            as_of_sequence: graph.as_of_sequence,
        })
    }

    async fn ingest(
        &self,
        caller: Principal,
        message: pb::IngestOpenLineageRequest,
    ) -> Result<pb::IngestOpenLineageResponse, ApiError> {
        let mut checks = Checks::default();
        let tenant = checks.take(gantry_service::tenancy::tenant("tenant", &message.tenant));
        let event = match openlineage::parse(tenant.as_deref().unwrap_or_default(), &message.event_json) {
            Ok(event) => Some(event),
            Err(violations) => {
                checks.0.extend(violations);
                None
            }
        };
        checks.finish()?;
        let (tenant, event) = (tenant.expect("checked"), event.expect("checked"));
        if !may_write(&caller, &tenant) {
            return Err(ApiError::PermissionDenied(format!(
                "only members of tenant {tenant} (group tenant:{tenant}) record its lineage"
            )));
        }
        let producer = ids::openlineage_run(&tenant, &event.run_id);
        let event_id = ids::openlineage_event(&tenant, &message.event_json);
        let new = NewEvent {
            aggregate_type: LINEAGE,
            aggregate_id: format!("{tenant}.{producer}"),
            payload: Payload::OpenLineageRunEvent(event),
            actor: caller,
            correlation_id: Uuid::now_v7().to_string(),
            causation_id: String::new(),
        };
        let subject = self.log.subject(LINEAGE, &new.aggregate_id);
        let envelope = new.into_envelope_with_id(event_id, SystemTime::now());
        let appended =
            self.log.append_envelope(subject, envelope, ExpectedSequence::Any).await.map_err(|error| match error {
                AppendError::Conflict { subject } => {
                    ApiError::Unexpected(anyhow::anyhow!("unexpected conflict on {subject}"))
                }
                AppendError::Unavailable(cause) => {
                    tracing::warn!(error = format!("{cause:#}"), "append failed");
                    ApiError::Unavailable("the event log is unavailable; retry".into())
                }
            })?;
        metrics::counter!("lineage_openlineage_events_total").increment(1);
        Ok(pb::IngestOpenLineageResponse { sequence: appended.sequence, producer_id: producer.to_string() })
    }

    fn query(&self, message: &pb::TraverseRequest, default_depth: u32) -> Result<Query, ApiError> {
        Query::parse("", message, &self.settings, default_depth).map_err(ApiError::Invalid)
    }
}

#[tonic::async_trait]
impl LineageService for LineageApi {
    async fn upstream(&self, request: Request<pb::TraverseRequest>) -> Result<Response<pb::Graph>, Status> {
        let caller = principal_of(&request)?;
        let query = self.query(request.get_ref(), self.settings.default_depth)?;
        Ok(Response::new(self.reads.bounded(self.walk(&caller, &query, Direction::Upstream, false)).await?))
    }

    async fn downstream(&self, request: Request<pb::TraverseRequest>) -> Result<Response<pb::Graph>, Status> {
        let caller = principal_of(&request)?;
        let query = self.query(request.get_ref(), self.settings.default_depth)?;
        Ok(Response::new(self.reads.bounded(self.walk(&caller, &query, Direction::Downstream, false)).await?))
    }

    async fn run(&self, request: Request<pb::RunRequest>) -> Result<Response<pb::Graph>, Status> {
        let caller = principal_of(&request)?;
        let query = RunQuery::parse("", request.get_ref()).map_err(ApiError::Invalid)?;
        Ok(Response::new(self.reads.bounded(self.run_graph(&caller, &query)).await?))
    }

    async fn impact(&self, request: Request<pb::TraverseRequest>) -> Result<Response<pb::ImpactResponse>, Status> {
        let caller = principal_of(&request)?;
        let query = self.query(request.get_ref(), self.settings.impact_depth)?;
        Ok(Response::new(self.reads.bounded(LineageApi::impact(self, &caller, &query)).await?))
    }

    async fn export_open_lineage(
        &self,
        request: Request<pb::ExportOpenLineageRequest>,
    ) -> Result<Response<pb::ExportOpenLineageResponse>, Status> {
        let caller = principal_of(&request)?;
        Ok(Response::new(self.reads.bounded(self.export(&caller, request.into_inner())).await?))
    }

    async fn ingest_open_lineage(
        &self,
        request: Request<pb::IngestOpenLineageRequest>,
    ) -> Result<Response<pb::IngestOpenLineageResponse>, Status> {
        let caller = principal_of(&request)?;
        Ok(Response::new(self.ingest(caller, request.into_inner()).await?))
    }
}
