//! The private servers of fault tests: each starts on ports of its own,
//! serves, keeps its data across a clean stop and a kill, and never outlives
//! the test (dropped, panicked, or its thread gone).

use async_nats::jetstream::{self, stream};
use gantry_testkit::{NatsCluster, PrivateNats, PrivatePostgres, within};
use sqlx::{Connection as _, PgConnection};
use std::time::Duration;

/// True when something accepts connections on the loopback port.
fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(1)).is_ok()
}

async fn rows(url: &str) -> anyhow::Result<Vec<String>> {
    let mut connection = PgConnection::connect(url).await?;
    let rows = sqlx::query_scalar("SELECT note FROM kept ORDER BY id").fetch_all(&mut connection).await?;
    connection.close().await?;
    Ok(rows)
}

async fn insert(url: &str, note: &str) {
    let mut connection = PgConnection::connect(url).await.unwrap();
    sqlx::query("INSERT INTO kept (note) VALUES ($1)").bind(note).execute(&mut connection).await.unwrap();
    connection.close().await.unwrap();
}

#[tokio::test]
async fn a_private_postgres_keeps_its_rows_across_a_stop_and_a_kill() {
    let mut postgres = within("starting Postgres", PrivatePostgres::start()).await.unwrap();
    assert_ne!(postgres.port(), 5432);
    let url = postgres.url();
    let mut connection = PgConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE kept (id serial PRIMARY KEY, note text NOT NULL)")
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    insert(&url, "before the stop").await;

    within("stopping Postgres", postgres.stop()).await.unwrap();
    assert!(!postgres.is_running());
    assert!(PgConnection::connect(&url).await.is_err(), "a stopped server refuses connections");
    within("starting Postgres again", postgres.start_again()).await.unwrap();
    assert_eq!(rows(&url).await.unwrap(), ["before the stop"]);

    insert(&url, "before the kill").await;
    postgres.kill();
    assert!(PgConnection::connect(&url).await.is_err(), "a killed server refuses connections");
    within("recovering Postgres", postgres.start_again()).await.unwrap();
    assert_eq!(rows(&url).await.unwrap(), ["before the stop", "before the kill"]);

    within("restarting Postgres", postgres.restart()).await.unwrap();
    let pool = postgres.pool("service").await.unwrap();
    let schema: String = sqlx::query_scalar("SELECT current_schema()").fetch_one(&pool).await.unwrap();
    assert_eq!(schema, "service");
    pool.close().await;

    let (port, directory) = (postgres.port(), postgres.directory().to_path_buf());
    drop(postgres);
    assert!(!port_open(port), "a dropped server is gone");
    assert!(!directory.exists(), "a dropped server leaves no files");
}

async fn stored(url: &str, stream: &str) -> anyhow::Result<Vec<String>> {
    let client = async_nats::connect(url).await?;
    let stream = jetstream::new(client).get_stream(stream).await?;
    let last = stream.cached_info().state.last_sequence;
    let mut payloads = Vec::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await?;
        payloads.push(String::from_utf8(message.payload.to_vec())?);
    }
    Ok(payloads)
}

async fn publish(url: &str, subject: &str, payload: &'static str) {
    let client = async_nats::connect(url).await.unwrap();
    jetstream::new(client).publish(subject.to_owned(), payload.into()).await.unwrap().await.unwrap();
}

#[tokio::test]
async fn a_private_nats_keeps_its_stream_across_a_stop_and_a_kill() {
    let mut nats = within("starting NATS", PrivateNats::start()).await.unwrap();
    assert_ne!(nats.port(), 4222);
    let url = nats.url();
    let client = async_nats::connect(&url).await.unwrap();
    assert_eq!(client.server_info().server_name, nats.server_name());
    let config = stream::Config { name: "KEPT".into(), subjects: vec!["kept.>".into()], ..Default::default() };
    jetstream::new(client.clone()).create_stream(config).await.unwrap();
    drop(client);
    publish(&url, "kept.a", "before the stop").await;

    within("stopping NATS", nats.stop()).await.unwrap();
    assert!(!nats.is_running());
    assert!(!port_open(nats.port()), "a stopped server refuses connections");
    within("starting NATS again", nats.start_again()).await.unwrap();
    assert_eq!(stored(&url, "KEPT").await.unwrap(), ["before the stop"]);

    publish(&url, "kept.b", "before the kill").await;
    nats.kill();
    assert!(!port_open(nats.port()), "a killed server refuses connections");
    within("starting NATS after the kill", nats.start_again()).await.unwrap();
    assert_eq!(stored(&url, "KEPT").await.unwrap(), ["before the stop", "before the kill"]);

    let (port, directory) = (nats.port(), nats.directory().to_path_buf());
    drop(nats);
    assert!(!port_open(port), "a dropped server is gone");
    assert!(!directory.exists(), "a dropped server leaves no files");
}

#[tokio::test]
async fn a_nats_cluster_keeps_a_replicated_stream_across_the_loss_of_its_leader() {
    let mut cluster = within("starting the cluster", NatsCluster::start()).await.unwrap();
    assert_eq!(cluster.url_list().len(), 3);
    assert_eq!(cluster.urls().split(',').count(), 3);
    let client =
        async_nats::ConnectOptions::new().connect(cluster.server_addrs().unwrap()).await.expect("connecting to all");
    let connected = cluster.connected_node(&client).expect("connected to a node of the cluster");
    assert!(cluster.url(connected).ends_with(&client.server_info().port.to_string()));
    let context = jetstream::new(client);
    let config = stream::Config {
        name: "REPLICATED".into(),
        subjects: vec!["replicated.>".into()],
        num_replicas: 3,
        ..Default::default()
    };
    within("creating the stream", context.create_stream(config)).await.unwrap();
    context.publish("replicated.a", "before".into()).await.unwrap().await.unwrap();

    let leader = within("finding the leader", cluster.stream_leader("REPLICATED")).await.unwrap();
    cluster.kill(leader);
    assert!(!cluster.is_running(leader));
    let new_leader = within("the election", cluster.stream_leader("REPLICATED")).await.unwrap();
    assert_ne!(new_leader, leader);
    let survivor = cluster.url(new_leader);
    within("publishing after the election", publish(&survivor, "replicated.b", "after")).await;

    within("restarting the old leader", cluster.start_again(leader)).await.unwrap();
    within("the replicas catching up", cluster.wait_for_stream_replicas("REPLICATED")).await.unwrap();
    assert_eq!(stored(&cluster.url(leader), "REPLICATED").await.unwrap(), ["before", "after"]);

    let ports: Vec<u16> =
        cluster.url_list().iter().map(|url| url.rsplit(':').next().unwrap().parse().unwrap()).collect();
    drop(cluster);
    assert!(ports.iter().all(|port| !port_open(*port)), "a dropped cluster is gone");
}

#[test]
fn a_server_dies_with_a_test_that_panics_or_forgets_it() {
    let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // A panic unwinds through the server's Drop.
    let (sender, receiver) = std::sync::mpsc::channel();
    let panicked = std::thread::spawn(move || {
        runtime().block_on(async {
            let nats = PrivateNats::start().await.unwrap();
            sender.send(nats.port()).unwrap();
            panic!("the test fails with its server running");
        })
    })
    .join();
    assert!(panicked.is_err());
    let port = receiver.recv().unwrap();
    assert!(!port_open(port), "the panicking test's server is gone");

    // A server never dropped still dies with the thread that started it.
    let (port, directory) = std::thread::spawn(move || {
        runtime().block_on(async {
            let nats = PrivateNats::start().await.unwrap();
            let started = (nats.port(), nats.directory().to_path_buf());
            std::mem::forget(nats);
            started
        })
    })
    .join()
    .unwrap();
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        !port_open(port)
    });
    let _ = std::fs::remove_dir_all(directory);
    assert!(gone, "a forgotten server dies with its thread");
}
