//! Rebuilding the graph from the log gives the same graph, row for row.

use crate::helpers::{Artifact, Harness};
use crate::openlineage::{run_event, send};
use gantry_lineage::Lineage;
use gantry_lineage::view::checksum;
use uuid::Uuid;

#[tokio::test]
async fn rebuilding_the_view_from_the_log_gives_the_same_graph() {
    let mut harness = Harness::start().await;
    let (raw, _) = harness.store(Artifact::acme("run-1", "extract", "raw.csv", &[])).await;
    let (clean, _) = harness.store(Artifact::acme("run-1", "clean", "clean.csv", &[raw])).await;
    harness.store(Artifact::acme("run-2", "train", "model.bin", &[clean, raw])).await;
    harness.expire(clean).await;
    let mut client = harness.client("agent").await;
    let run = Uuid::now_v7();
    send(&mut client, &run_event("START", run, "load", &[("pg", "orders")], &[])).await;
    let last = send(&mut client, &run_event("COMPLETE", run, "load", &[], &[("s3://lake", "orders")])).await;
    assert!(
        gantry_eventlog::projection::wait_for_checkpoint(
            &harness.pool,
            "graph",
            last,
            std::time::Duration::from_secs(10)
        )
        .await
        .unwrap()
    );
    let before = checksum(&harness.pool).await.unwrap();
    let edges: i64 = sqlx::query_scalar("SELECT count(*) FROM edges").fetch_one(&harness.pool).await.unwrap();
    assert_eq!(edges, 4, "clean←raw, model←clean, model←raw, orders@load←orders");

    harness.stop_service().await;
    sqlx::query("DELETE FROM edges WHERE input_id = $1").bind(raw).execute(&harness.pool).await.unwrap();
    assert_ne!(checksum(&harness.pool).await.unwrap(), before, "the checksum sees a lost edge");
    let rebuilt = gantry_service::rebuild::<Lineage>(&harness.config).await.unwrap();
    assert_eq!(rebuilt.len(), 1);
    assert!(rebuilt[0].replayed_here && rebuilt[0].checkpoint >= last);
    assert_eq!(checksum(&harness.pool).await.unwrap(), before);
    harness.stop().await;
}
