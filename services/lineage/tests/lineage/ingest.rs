//! End to end: the real ingest stores artifacts with their lineage inputs,
//! and lineage, reading the same log, answers where each came from.

use crate::helpers::{Harness, expect, ids_of, walk};
use bytes::Bytes;
use gantry_ingest::Ingest;
use gantry_proto::artifacts::artifact_service_client::ArtifactServiceClient;
use gantry_proto::artifacts::{UploadHeader, UploadRequest, UploadResponse, upload_request};
use gantry_runtime::ShutdownTrigger;
use tonic::transport::Channel;
use uuid::Uuid;

/// Uploads `bytes` as acme's artifact `name` of `run`/`step` made from `inputs`.
async fn upload(
    client: &mut ArtifactServiceClient<Channel>,
    token: &str,
    (run, step, name): (&str, &str, &str),
    inputs: &[&UploadResponse],
    bytes: &'static [u8],
) -> UploadResponse {
    let header = UploadHeader {
        tenant: "acme".into(),
        run_id: run.into(),
        step_id: step.into(),
        agent: "trainer".into(),
        agent_version: "2.1.0".into(),
        name: name.into(),
        media_type: "application/octet-stream".into(),
        input_artifact_ids: inputs.iter().map(|input| input.artifact.as_ref().unwrap().artifact_id.clone()).collect(),
        min_sequence: inputs.iter().map(|input| input.sequence).max().unwrap_or(0),
        ..Default::default()
    };
    let messages = vec![
        UploadRequest { message: Some(upload_request::Message::Header(header)) },
        UploadRequest { message: Some(upload_request::Message::Chunk(Bytes::from_static(bytes))) },
    ];
    let mut request = tonic::Request::new(futures::stream::iter(messages));
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    client.upload(request).await.expect("uploaded").into_inner()
}

#[tokio::test]
async fn artifacts_uploaded_to_ingest_appear_in_lineage_with_their_inputs() {
    let harness = Harness::start().await;
    let store = tempfile::tempdir().unwrap();
    let config = harness
        .config
        .clone()
        .with("ingest.schema", format!("{}_ingest", harness.env.schema))
        .with("ingest.listen", "127.0.0.1:0")
        .with("ingest.storage.kind", "filesystem")
        .with("ingest.storage.root", store.path());
    let ingest = gantry_service::build::<Ingest>(&config).await.expect("ingest builds");
    let address = ingest.local_addr();
    let (trigger, shutdown) = ShutdownTrigger::new();
    let running = tokio::spawn(ingest.run(shutdown));
    let mut artifacts = ArtifactServiceClient::connect(format!("http://{address}")).await.unwrap();
    let token = harness.tokens["agent"].clone();

    let raw = upload(&mut artifacts, &token, ("run-7", "extract", "raw.csv"), &[], b"a,b\n1,2\n").await;
    let model = upload(&mut artifacts, &token, ("run-7", "train", "model.bin"), &[&raw], b"weights").await;
    let report =
        upload(&mut artifacts, &token, ("run-8", "evaluate", "report.html"), &[&model, &raw], b"<p>ok</p>").await;
    let id = |response: &UploadResponse| -> Uuid { response.artifact.as_ref().unwrap().artifact_id.parse().unwrap() };

    let mut lineage = harness.client("agent").await;
    let upstream = lineage.upstream(walk(id(&report), report.sequence)).await.unwrap().into_inner();
    assert_eq!(ids_of(&upstream), expect(&[(id(&report), 0), (id(&model), 1), (id(&raw), 1)]));
    let node = upstream.nodes.iter().find(|node| node.node_id == id(&model).to_string()).unwrap();
    let stored = model.artifact.as_ref().unwrap();
    assert_eq!((node.name.as_str(), node.sha256.as_str(), node.size_bytes), ("model.bin", stored.sha256.as_str(), 7));
    assert_eq!(node.tenant, "acme");
    let train = upstream.producers.iter().find(|producer| producer.producer_id == node.producer_id).unwrap();
    assert_eq!((train.run_id.as_str(), train.step_id.as_str()), ("run-7", "train"));
    assert_eq!((train.agent.as_str(), train.agent_version.as_str()), ("trainer", "2.1.0"));

    trigger.trigger();
    running.await.unwrap().expect("ingest stops cleanly");
    harness.stop().await;
}
