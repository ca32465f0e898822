//! A view made before migration 0003 gets each node's copy of its
//! producer when it is migrated, and a node written as the code before it
//! wrote them (a replica not yet upgraded) gets its copy too, so an
//! upgraded view answers as a rebuilt one would.

use gantry_lineage::view::MIGRATOR;
use gantry_testkit::TestEnv;
use sqlx::migrate::Migrator;
use std::path::Path;
use uuid::Uuid;

#[tokio::test]
async fn migrating_a_view_made_before_0003_copies_every_producer_onto_its_nodes_old_and_new() {
    let env = TestEnv::new().await.unwrap();
    let pool = env.pool().await.unwrap();
    let before = tempfile::tempdir().unwrap();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for file in ["0001_graph.sql", "0002_walk.sql"] {
        std::fs::copy(migrations.join(file), before.path().join(file)).unwrap();
    }
    Migrator::new(before.path()).await.unwrap().run(&pool).await.unwrap();

    let (step, run, model, source) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO producers (producer_id, kind, tenant, run_id, step_id, agent, agent_version, job_namespace,
                                job_name, appeared_seq, appeared_at)
         VALUES ($1, 1, 'acme', 'run-1', 'train', 'trainer', '1.2.0', '', '', 3, to_timestamp(1000)),
                ($2, 2, 'acme', 'ol-run', '', '', '', 'airflow', 'nightly', 5, to_timestamp(2000))",
    )
    .bind(step)
    .bind(run)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO nodes (node_id, kind, tenant, name, producer_id, appeared_seq, appeared_at)
         VALUES ($1, 1, 'acme', 'model.bin', $2, 3, to_timestamp(1000)),
                ($3, 2, 'acme', 'orders', NULL, 4, to_timestamp(1500)),
                ($4, 2, 'acme', 'orders_daily', $5, 6, to_timestamp(2500))",
    )
    .bind(model)
    .bind(step)
    .bind(source)
    .bind(Uuid::now_v7())
    .bind(run)
    .execute(&pool)
    .await
    .unwrap();

    MIGRATOR.run(&pool).await.unwrap();
    // Written as before 0003, after it ran.
    sqlx::query(
        "INSERT INTO nodes (node_id, kind, tenant, name, producer_id, appeared_seq, appeared_at)
         VALUES ($1, 1, 'acme', 'report.html', $2, 7, to_timestamp(3000))",
    )
    .bind(Uuid::now_v7())
    .bind(step)
    .execute(&pool)
    .await
    .unwrap();
    type Copy = (String, i16, String, String, String, String, String, String, String, i64, Option<f64>);
    let copies: Vec<Copy> = sqlx::query_as(
        "SELECT name, producer_kind, producer_tenant, run_id, step_id, agent, agent_version, job_namespace, job_name,
                producer_seq, extract(epoch FROM producer_at)::float8
         FROM nodes ORDER BY appeared_seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let copy = |name: &str, kind, [tenant, run, step, agent, version, namespace, job]: [&str; 7], seq, at| -> Copy {
        let text = str::to_owned;
        let (tenant, run, step, agent, version) = (text(tenant), text(run), text(step), text(agent), text(version));
        (text(name), kind, tenant, run, step, agent, version, text(namespace), text(job), seq, at)
    };
    let expected = vec![
        copy("model.bin", 1, ["acme", "run-1", "train", "trainer", "1.2.0", "", ""], 3, Some(1000.0)),
        copy("orders", 0, [""; 7], 0, None),
        copy("orders_daily", 2, ["acme", "ol-run", "", "", "", "airflow", "nightly"], 5, Some(2000.0)),
        copy("report.html", 1, ["acme", "run-1", "train", "trainer", "1.2.0", "", ""], 3, Some(1000.0)),
    ];
    assert_eq!(copies, expected);
    pool.close().await;
    env.cleanup().await.unwrap();
}
