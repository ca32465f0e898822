//! The client commands and how they reach the mesh. Intake and the
//! provisioner each have an address (`--server`, `--provisioner-server`);
//! every call to either carries the bearer token (checked here first, so a
//! missing one says how to get one), over the same TLS settings.
//!
//! # Layout
//!
//! - `request`: `gantry request ...` (intake).
//! - `catalog`: `gantry catalog export` (intake's or the provisioner's).
//! - `resources`: `gantry database ...` and `gantry bucket ...` (the provisioner).
//! - `audit`: `gantry audit export` (the provisioner).
//! - `reconcile`: `gantry admin reconcile` (the provisioner).
//! - `rotation`: `gantry rotation ...` (rotation).
//! - `artifacts`: `gantry artifact ...` and `gantry admin verify` (ingest).
//! - `lineage`: `gantry lineage ...` (lineage).
//! - `events`: `gantry events watch` (console).

mod artifacts;
mod audit;
mod catalog;
mod events;
mod lineage;
mod reconcile;
mod request;
mod resources;
mod rotation;

pub(crate) use artifacts::{artifact, verify};
pub(crate) use audit::audit;
pub(crate) use catalog::catalog;
pub(crate) use events::events;
pub(crate) use lineage::lineage;
pub(crate) use reconcile::reconcile;
pub(crate) use request::request;
pub(crate) use resources::{bucket, database};
pub(crate) use rotation::rotation;

use crate::cli::{ClientArgs, Environment};
use crate::failure::{Failure, TOKEN_HINT};
use gantry_proto::artifacts::artifact_service_client::ArtifactServiceClient;
use gantry_proto::events::event_service_client::EventServiceClient;
use gantry_proto::intake::intake_service_client::IntakeServiceClient;
use gantry_proto::lineage::lineage_service_client::LineageServiceClient;
use gantry_proto::provisioner::provisioner_service_client::ProvisionerServiceClient;
use gantry_proto::rotation::rotation_service_client::RotationServiceClient;
use gantry_proto::types;
use std::future::Future;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel whose every call carries the token.
type Authorised = InterceptedService<Channel, Bearer>;

/// The intake client of the `request` and `catalog` commands.
pub(crate) type IntakeClient = IntakeServiceClient<Authorised>;

/// The provisioner client of the `database`, `bucket`, `audit`, `catalog
/// export --from provisioner` and `admin reconcile` commands.
pub(crate) type ProvisionerClient = ProvisionerServiceClient<Authorised>;

/// The ingest client of the `artifact` and `admin verify` commands.
pub(crate) type IngestClient = ArtifactServiceClient<Authorised>;

/// The lineage client of the `lineage` commands.
pub(crate) type LineageClient = LineageServiceClient<Authorised>;

/// The rotation client of the `rotation` commands.
pub(crate) type RotationClient = RotationServiceClient<Authorised>;

/// Adds `authorization: Bearer <token>` to every call, and the caller's
/// trace context when the environment carries one (`TRACEPARENT`,
/// `TRACESTATE`, as OpenTelemetry's environment carrier names them: a CI
/// job's trace then runs through the call and every event it causes).
#[derive(Clone)]
pub(crate) struct Bearer {
    token: MetadataValue<Ascii>,
    trace: Vec<(&'static str, MetadataValue<Ascii>)>,
}

impl std::fmt::Debug for Bearer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Bearer(<redacted>)")
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.token.clone());
        for (name, value) in &self.trace {
            request.metadata_mut().insert(*name, value.clone());
        }
        Ok(request)
    }
}

/// The trace context of the environment (`TRACEPARENT`, `TRACESTATE`), as
/// gRPC metadata; a value a header cannot carry is left out.
fn trace_context() -> Vec<(&'static str, MetadataValue<Ascii>)> {
    [("traceparent", "TRACEPARENT"), ("tracestate", "TRACESTATE")]
        .into_iter()
        .filter_map(|(name, variable)| Some((name, std::env::var(variable).ok()?.trim().parse().ok()?)))
        .collect()
}

/// Returns the `authorization` value of the token; a missing or empty
/// token (an empty `GANTRY_TOKEN` too) says how to set one.
fn bearer(token: Option<&str>) -> anyhow::Result<Bearer> {
    let token = token.map(str::trim).filter(|token| !token.is_empty());
    let Some(token) = token else {
        return Err(Failure::new("UNAUTHENTICATED", "no token: every call needs one").with_hint(TOKEN_HINT).into());
    };
    let value = format!("Bearer {token}").parse().map_err(|_| {
        Failure::new("UNAUTHENTICATED", "the token has characters a header cannot carry").with_hint(TOKEN_HINT)
    })?;
    Ok(Bearer { token: value, trace: trace_context() })
}

/// A service the client commands call: where it is and which flag says so.
#[derive(Debug, Clone, Copy)]
enum Service {
    Intake,
    Provisioner,
    Ingest,
    Lineage,
    Rotation,
    Events,
}

impl Service {
    /// Returns its address from the command line.
    fn address(self, args: &ClientArgs) -> &str {
        match self {
            Self::Intake => &args.server,
            Self::Provisioner => &args.provisioner_server,
            Self::Ingest => &args.ingest_server,
            Self::Lineage => &args.lineage_server,
            Self::Rotation => &args.rotation_server,
            Self::Events => &args.events_server,
        }
    }

    /// Returns the flag and variable that set its address.
    fn flag(self) -> &'static str {
        match self {
            Self::Intake => "--server / GANTRY_SERVER",
            Self::Provisioner => "--provisioner-server / GANTRY_PROVISIONER_SERVER",
            Self::Ingest => "--ingest-server / GANTRY_INGEST_SERVER",
            Self::Lineage => "--lineage-server / GANTRY_LINEAGE_SERVER",
            Self::Rotation => "--rotation-server / GANTRY_ROTATION_SERVER",
            Self::Events => "--events-server / GANTRY_EVENTS_SERVER",
        }
    }
}

/// Connects to a service, after checking there is a token to send.
async fn connect(args: &ClientArgs, service: Service) -> anyhow::Result<Authorised> {
    let bearer = bearer(args.token.as_deref())?;
    let address = service.address(args);
    let endpoint = gantry_runtime::grpc::client_endpoint(address, args.ca_file.as_deref(), args.tls_domain.as_deref())
        .map_err(|error| {
            Failure::new("INVALID_ARGUMENT", format!("invalid {} or --ca-file: {error:#}", service.flag()))
        })?;
    let channel = endpoint.connect().await.map_err(|error| {
        Failure::new("UNAVAILABLE", format!("cannot connect to {address}: {}", error_chain(&error)))
            .with_hint(format!("is the mesh running (scripts/dev-up.sh), and is {} right?", service.flag()))
    })?;
    Ok(InterceptedService::new(channel, bearer))
}

/// Connects to intake.
pub(crate) async fn intake(args: &ClientArgs) -> anyhow::Result<IntakeClient> {
    Ok(IntakeServiceClient::new(connect(args, Service::Intake).await?))
}

/// Connects to the provisioner.
pub(crate) async fn provisioner(args: &ClientArgs) -> anyhow::Result<ProvisionerClient> {
    Ok(ProvisionerServiceClient::new(connect(args, Service::Provisioner).await?))
}

/// Connects to ingest; its messages may be as large as its chunks.
pub(crate) async fn ingest_client(args: &ClientArgs) -> anyhow::Result<IngestClient> {
    Ok(ArtifactServiceClient::new(connect(args, Service::Ingest).await?).max_decoding_message_size(16 * 1024 * 1024))
}

/// Connects to lineage; its answers may be large graphs.
pub(crate) async fn lineage_client(args: &ClientArgs) -> anyhow::Result<LineageClient> {
    Ok(LineageServiceClient::new(connect(args, Service::Lineage).await?).max_decoding_message_size(256 * 1024 * 1024))
}

/// Connects to rotation.
pub(crate) async fn rotation_client(args: &ClientArgs) -> anyhow::Result<RotationClient> {
    Ok(RotationServiceClient::new(connect(args, Service::Rotation).await?))
}

/// The console client of the `events` commands.
pub(crate) type EventsClient = EventServiceClient<Authorised>;

/// Connects to console (the event stream).
pub(crate) async fn events_client(args: &ClientArgs) -> anyhow::Result<EventsClient> {
    Ok(EventServiceClient::new(connect(args, Service::Events).await?))
}

/// Returns an error and its sources in one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Returns an environment flag's proto number (0: any).
fn environment_number(environment: Option<Environment>) -> i32 {
    environment.map_or(0, |environment| types::Environment::from(environment) as i32)
}

/// Returns the items of every page of a listing: `fetch_page` gets a page
/// token (empty for the first) and returns that page and the next token
/// (empty after the last).
async fn every_page<Item, Page>(mut fetch_page: impl FnMut(String) -> Page) -> anyhow::Result<Vec<Item>>
where
    Page: Future<Output = Result<(Vec<Item>, String), tonic::Status>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let (page, next_token) = fetch_page(token.clone()).await?;
        items.extend(page);
        if next_token.is_empty() {
            return Ok(items);
        }
        if next_token == token {
            return Err(Failure::new("INTERNAL", "the server answered the same page token twice").into());
        }
        token = next_token;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_token_says_how_to_set_one() {
        for token in [None, Some(""), Some("   ")] {
            let failure = crate::failure::from_error(bearer(token).unwrap_err());
            assert_eq!(failure.code, "UNAUTHENTICATED");
            let text = failure.to_text();
            assert!(text.contains("GANTRY_TOKEN") && text.contains("--token"), "{text}");
            assert!(text.contains("gantry admin token create"), "{text}");
        }
        assert!(bearer(Some("gty_abc")).is_ok());
    }

    #[tokio::test]
    async fn every_page_is_read_until_the_token_is_empty() {
        let pages = |token: String| async move {
            Ok(match token.as_str() {
                "" => (vec![1, 2], "b".to_owned()),
                "b" => (vec![3], "c".to_owned()),
                _ => (vec![4], String::new()),
            })
        };
        assert_eq!(every_page(pages).await.unwrap(), vec![1, 2, 3, 4]);
        let stuck = |_token: String| async { Ok((vec![0], "same".to_owned())) };
        assert_eq!(crate::failure::from_error(every_page(stuck).await.unwrap_err()).code, "INTERNAL");
    }

    #[tokio::test]
    async fn a_provisioner_that_does_not_answer_names_its_flag() {
        use clap::Parser as _;
        let args = crate::cli::Cli::try_parse_from([
            "gantry",
            "--token",
            "t",
            "--provisioner-server",
            "http://127.0.0.1:1",
            "bucket",
            "list",
        ])
        .unwrap()
        .client;
        let failure = crate::failure::from_error(provisioner(&args).await.unwrap_err());
        assert_eq!(failure.code, "UNAVAILABLE");
        assert!(
            failure.to_text().contains("--provisioner-server / GANTRY_PROVISIONER_SERVER"),
            "{}",
            failure.to_text()
        );
    }
}
