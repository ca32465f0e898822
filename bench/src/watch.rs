//! The event stream: events per second one `EventService/Watch` client
//! receives while it replays a backlog from the first event, beside a raw
//! JetStream ordered consumer reading the same stream in the same run; and
//! the time from an append to its delivery over SSE (`/v1/events`), p50
//! and p99, one append at a time.

use crate::catchup::write_backlog;
use async_nats::jetstream::consumer;
use futures::StreamExt as _;
use gantry_console::ConsoleServer;
use gantry_eventlog::{EventLog, ExpectedSequence, NewEvent, StreamSettings};
use gantry_proto::events::envelope::Payload;
use gantry_proto::events::event_service_client::EventServiceClient;
use gantry_proto::events::{RequestCancelled, WatchRequest, watch_request};
use gantry_proto::types::Principal;
use gantry_runtime::ShutdownTrigger;
use gantry_testkit::TestEnv;
use http_body_util::BodyExt as _;
use std::time::{Duration, Instant};

/// Reads the whole stream with a raw ordered consumer; returns events/s.
async fn raw_rate(log: &EventLog, events: u64) -> anyhow::Result<f64> {
    let stream = log.jetstream().get_stream(&log.settings().name).await?;
    let config = consumer::pull::OrderedConfig {
        filter_subject: format!("{}.>", log.settings().subject_prefix),
        deliver_policy: consumer::DeliverPolicy::All,
        ..Default::default()
    };
    let started = Instant::now();
    let mut messages = stream.create_consumer(config).await?.messages().await?;
    let mut received = 0;
    while received < events {
        messages.next().await.ok_or_else(|| anyhow::anyhow!("the raw consumer ended"))??;
        received += 1;
    }
    Ok(events as f64 / started.elapsed().as_secs_f64())
}

/// Replays the stream through one gRPC watch; returns events/s.
async fn watch_rate(console: std::net::SocketAddr, token: &str, events: u64) -> anyhow::Result<f64> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{console}"))?.connect().await?;
    let header: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse()?;
    let mut client = EventServiceClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        request.metadata_mut().insert("authorization", header.clone());
        Ok(request)
    });
    let request = WatchRequest { start: Some(watch_request::Start::FromSequence(1)), ..Default::default() };
    let started = Instant::now();
    let mut stream = client.watch(request).await?.into_inner();
    let mut last = 0;
    while last < events {
        let event = stream.message().await?.ok_or_else(|| anyhow::anyhow!("the watch ended at {last}"))?;
        anyhow::ensure!(event.sequence == last + 1, "sequence {} after {last}", event.sequence);
        last = event.sequence;
    }
    Ok(events as f64 / started.elapsed().as_secs_f64())
}

/// Appends `count` events one at a time, each after the previous one
/// arrived over SSE; returns the append→delivery histogram (µs).
async fn sse_latency(
    log: &EventLog,
    http: std::net::SocketAddr,
    token: &str,
    count: usize,
) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let request = hyper::Request::get(format!("http://{http}/v1/events"))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Empty::new())?;
    let mut body = client.request(request).await?.into_body();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut histogram = hdrhistogram::Histogram::<u64>::new(3)?;
    let mut buffer = String::new();
    for index in 0..count {
        let event = NewEvent {
            aggregate_type: "request",
            aggregate_id: uuid::Uuid::now_v7().to_string(),
            payload: Payload::RequestCancelled(RequestCancelled { reason: format!("latency {index}") }),
            actor: Principal { subject: "bench".into(), groups: vec![] },
            correlation_id: String::new(),
            causation_id: String::new(),
        };
        let started = Instant::now();
        let appended = log.append(event, ExpectedSequence::Any).await?;
        let wanted = format!("id: {}\n", appended.sequence);
        while !buffer.contains(&wanted) {
            let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
                .await?
                .ok_or_else(|| anyhow::anyhow!("the SSE stream ended"))??;
            if let Ok(data) = frame.into_data() {
                buffer.push_str(&String::from_utf8_lossy(&data));
            }
        }
        histogram.record(started.elapsed().as_micros() as u64)?;
        buffer.clear();
    }
    Ok(histogram)
}

pub(crate) async fn run(events: usize, latency_samples: usize) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let tokens = env.write_tokens(&[("root", &["platform-team"])])?;
    let settings = StreamSettings {
        name: env.stream_name.clone(),
        subject_prefix: env.subject_prefix.clone(),
        ..StreamSettings::default()
    };
    let log = EventLog::open(env.nats.clone(), settings).await?;
    let written = Instant::now();
    write_backlog(&log, events).await?;
    println!("\nwrote {events} events in {:.2} s", written.elapsed().as_secs_f64());

    let config = env
        .config()
        .with("console.schema", format!("{}_console", env.schema))
        .with("console.listen", "127.0.0.1:0")
        .with("console.http_listen", "127.0.0.1:0");
    let console = ConsoleServer::build(&config).await?;
    let (grpc, http) = (console.grpc_addr(), console.http_addr());
    let (trigger, shutdown) = ShutdownTrigger::new();
    let running = tokio::spawn(console.run(shutdown));

    let raw = raw_rate(&log, events as u64).await?;
    let watched = watch_rate(grpc, &tokens["root"], events as u64).await?;
    println!("raw JetStream ordered consumer  {events} events: {raw:>9.0} events/s");
    println!(
        "one EventService/Watch client   {events} events: {watched:>9.0} events/s (decoded, authorised, over gRPC)"
    );
    println!("watch / raw consumer: {:.2}x", watched / raw);
    let histogram = sse_latency(&log, http, &tokens["root"], latency_samples).await?;
    println!(
        "append → SSE delivery ({latency_samples} appends, one at a time): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0
    );
    trigger.trigger();
    let _ = running.await;
    // The console schema (`<schema>_console`) goes with the test env's cleanup.
    env.cleanup().await
}
