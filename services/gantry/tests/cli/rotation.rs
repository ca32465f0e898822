//! `gantry rotation ...`: a credential's status, and the daily report that
//! exits 6 while anything is overdue.

use crate::helpers::spawn_mesh_with_rotation;
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

#[tokio::test]
async fn the_report_lists_overdue_and_due_credentials_and_exits_6_while_one_is_overdue() {
    let app = spawn_mesh_with_rotation().await;
    // Low risk: 30 days. Stored 100 days ago: overdue. 25 days ago: due in 5 days.
    let late_name = app.unique("late").replace('-', "_");
    let soon_name = app.unique("soon").replace('-', "_");
    let fresh_name = app.unique("fresh").replace('-', "_");
    let late = app.provisioned_database_ago(&late_name, "dev", 100 * DAY).await;
    app.provisioned_database_ago(&soon_name, "dev", 25 * DAY).await;
    let fresh = app.provisioned_database(&fresh_name, "dev").await;

    let waited =
        app.gantry(Some("carol"), &["--output", "json", "rotation", "list", "--min-sequence", &fresh.sequence]).await;
    assert_eq!(waited.code, Some(0), "{waited:?}");
    assert_eq!(waited.json()["rotations"].as_array().unwrap().len(), 3, "{waited:?}");

    let markdown = app.gantry(Some("carol"), &["rotation", "report", "--within", "7d", "--format", "markdown"]).await;
    assert_eq!(markdown.code, Some(6), "overdue: exit 6: {markdown:?}");
    assert!(markdown.stdout.starts_with("## Credential rotation: 1 overdue, 1 due within 7d"), "{markdown:?}");
    let overdue_section = markdown.stdout.split("### Due within").next().unwrap();
    assert!(overdue_section.contains(&format!("goldenpath/dev/{late_name}/postgres")), "{markdown:?}");
    assert!(markdown.stdout.contains(&format!("goldenpath/dev/{soon_name}/postgres")), "{markdown:?}");
    assert!(!markdown.stdout.contains(&fresh_name), "not due: {markdown:?}");
    assert!(markdown.stderr.contains("1 credential is overdue"), "{markdown:?}");

    let json = app.gantry(Some("carol"), &["rotation", "report", "--within", "3d", "--format", "json"]).await;
    assert_eq!(json.code, Some(6));
    let report = json.json();
    assert_eq!(report["overdue"][0]["request_id"], late.id.as_str());
    assert_eq!(report["due"].as_array().unwrap().len(), 0, "5 days is not within 3d");

    let status = app
        .gantry(
            Some("carol"),
            &["--output", "json", "rotation", "status", &format!("goldenpath/dev/{soon_name}/postgres")],
        )
        .await;
    assert_eq!(status.code, Some(0), "{status:?}");
    assert_eq!(status.json()["state"], "due-soon");
    assert_eq!(status.json()["period_days"], 30);

    // Only platform-team or the owners may set a policy; a bound is a field error.
    let refused = app
        .gantry(
            Some("carol"),
            &["rotation", "policy", &format!("goldenpath/dev/{soon_name}/postgres"), "--period-days", "31"],
        )
        .await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("period_days") && refused.stderr.contains("at most 30"), "{refused:?}");
    app.cleanup().await;
}
