//! Intake's `RequestDatabase` under load, beside the bare tonic floor and
//! the raw JetStream acknowledged-publish rate, all at one concurrency.

use crate::Bearer;
use crate::floor::BareIntake;
use crate::load::{LoadReport, drive};
use async_nats::jetstream::message::PublishMessage;
use gantry_intake::Intake;
use gantry_proto::intake::{
    self as pb, intake_service_client::IntakeServiceClient, intake_service_server::IntakeServiceServer,
};
use gantry_proto::types::{Environment, Risk, Size};
use gantry_runtime::ShutdownTrigger;
use gantry_testkit::TestEnv;
use std::net::SocketAddr;
use std::time::Duration;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type Client = IntakeServiceClient<InterceptedService<Channel, Bearer>>;

async fn clients(address: SocketAddr, connections: usize, token: &str) -> anyhow::Result<Vec<Client>> {
    let bearer = Bearer(format!("Bearer {token}").parse()?);
    let mut clients = Vec::new();
    for _ in 0..connections.max(1) {
        let channel = Channel::from_shared(format!("http://{address}"))?.tcp_nodelay(true).connect().await?;
        clients.push(IntakeServiceClient::with_interceptor(channel, bearer.clone()));
    }
    Ok(clients)
}

fn database_request(worker: usize, index: u64) -> pb::RequestDatabaseRequest {
    pb::RequestDatabaseRequest {
        idempotency_key: String::new(),
        database_name: format!("bench_{worker}_{index}"),
        username: String::new(),
        owner: "team-bench".into(),
        requester: "alice".into(),
        environment: Environment::Prod as i32,
        domain: "benchmarks".into(),
        risk: Risk::Medium as i32,
        size: Size::Small as i32,
    }
}

async fn drive_clients(label: &str, clients: Vec<Client>, concurrency: usize, duration: Duration) -> LoadReport {
    drive(label, concurrency, duration, move |worker, index| {
        let mut client = clients[worker % clients.len()].clone();
        async move {
            client.request_database(database_request(worker, index)).await?;
            Ok(())
        }
    })
    .await
}

pub(crate) async fn run(concurrency: usize, connections: usize, duration: Duration) -> anyhow::Result<()> {
    let env = TestEnv::new().await?;
    let tokens = env.write_tokens(&[("backstage", &["backstage"])])?;
    let intake = gantry_service::build::<Intake>(&env.config()).await?;
    let address = intake.local_addr();
    let (trigger, shutdown) = ShutdownTrigger::new();
    let served = tokio::spawn(intake.run(shutdown));
    let intake_clients = clients(address, connections, &tokens["backstage"]).await?;
    let intake_report = drive_clients("intake RequestDatabase (durable)", intake_clients, concurrency, duration).await;
    trigger.trigger();
    served.await??;

    let (floor_trigger, floor_shutdown) = ShutdownTrigger::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let floor_address = listener.local_addr()?;
    let floor = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(IntakeServiceServer::new(BareIntake))
            .serve_with_incoming_shutdown(tokio_stream_of(listener), floor_shutdown.wait()),
    );
    let floor_clients = clients(floor_address, connections, "unused").await?;
    let floor_report = drive_clients("bare tonic floor (same message)", floor_clients, concurrency, duration).await;
    floor_trigger.trigger();
    floor.await??;

    let publish_report = publish_rate(&env, concurrency, duration, false).await;
    let guarded_report = publish_rate(&env, concurrency, duration, true).await;
    println!();
    intake_report.print();
    floor_report.print();
    publish_report.print();
    guarded_report.print();
    println!(
        "intake / floor throughput: {:.2}x (goal ≥ 0.5x); intake p99 {:.2} ms (goal < 25 ms)",
        intake_report.rate() / floor_report.rate(),
        intake_report.latency_micros.value_at_quantile(0.99) as f64 / 1000.0
    );
    print_ceiling(&floor_report, &guarded_report);
    env.cleanup().await
}

/// Prints the best intake / floor ratio the machine allows when every
/// party shares its CPU: a new request costs at least a floor call plus two
/// guarded appends (the name reservation and the request).
fn print_ceiling(floor: &LoadReport, guarded: &LoadReport) {
    let per_call = |report: &LoadReport| report.cpu.map(|cpu| cpu.per_call(report.calls).total().as_secs_f64());
    if let (Some(floor_cpu), Some(append_cpu)) = (per_call(floor), per_call(guarded)) {
        println!(
            "CPU ceiling of intake / floor with two appends and no other work: {:.2}x \
             ({:.0} µs a floor call + 2 × {:.0} µs a guarded append)",
            floor_cpu / (floor_cpu + 2.0 * append_cpu),
            floor_cpu * 1e6,
            append_cpu * 1e6
        );
    }
}

fn tokio_stream_of(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| {
            let _ = stream.set_nodelay(true);
            stream
        });
        Some((accepted, listener))
    })
}

/// Each worker publishes a small message and waits for JetStream's ack;
/// `guarded` publishes as intake appends do: each to a new subject with
/// `Nats-Expected-Last-Subject-Sequence: 0`.
async fn publish_rate(env: &TestEnv, concurrency: usize, duration: Duration, guarded: bool) -> LoadReport {
    let context = async_nats::jetstream::new(env.nats.clone());
    let stream = async_nats::jetstream::stream::Config {
        name: format!("{}_RAW", env.stream_name),
        subjects: vec![format!("{}raw.>", env.subject_prefix)],
        ..Default::default()
    };
    context.get_or_create_stream(stream).await.expect("raw stream");
    let prefix = env.subject_prefix.clone();
    let label = if guarded { "JetStream publish, new subject, seq 0" } else { "raw JetStream acked publish" };
    let report = drive(label, concurrency, duration, move |worker, index| {
        let context = context.clone();
        let subject = if guarded { format!("{prefix}raw.{worker}.{index}") } else { format!("{prefix}raw.{worker}") };
        async move {
            let mut message =
                PublishMessage::build().payload(vec![0u8; 200].into()).message_id(format!("{worker}-{index}"));
            if guarded {
                message = message.expected_last_subject_sequence(0);
            }
            context.send_publish(subject, message).await?.await?;
            Ok(())
        }
    })
    .await;
    let _ = async_nats::jetstream::new(env.nats.clone()).delete_stream(format!("{}_RAW", env.stream_name)).await;
    report
}
