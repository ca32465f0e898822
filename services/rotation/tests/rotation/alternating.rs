//! Alternating users: `<user>` and `<user>_clone` take turns, so the
//! password an application holds keeps opening new connections while the
//! new one propagates; the clone acts as the user; both go with the database.

use crate::helpers::Mesh;
use crate::rotate;
use gantry_platform::target::{DatabasePlan, EnvironmentTarget, Target};
use gantry_proto::events::RotationStrategy;
use gantry_proto::rotation::{RotateNowRequest, SetRotationPolicyRequest};
use gantry_proto::types::Risk;
use secrecy::SecretString;

#[tokio::test]
async fn alternating_users_take_turns_and_the_old_password_keeps_working() {
    let mesh = Mesh::start(None).await;
    let made = mesh.provisioned("turns", Risk::Low).await;
    let clone = format!("{}_clone", made.role);
    let policy = SetRotationPolicyRequest {
        secret_name: made.secret_name.clone(),
        period_days: 0,
        strategy: RotationStrategy::AlternatingUsers as i32,
        reason: "the orders service caches its credentials".into(),
        min_sequence: made.sequence,
    };
    let set = mesh.client("bob").await.set_rotation_policy(policy).await.unwrap().into_inner();
    assert_eq!(set.rotation.unwrap().strategy, RotationStrategy::AlternatingUsers as i32);
    let mut application = mesh.login(&made, &made.password).await.expect("the application connects");

    // First turn: the clone is made and becomes current.
    let first = RotateNowRequest { min_sequence: set.sequence, ..rotate(&made) };
    mesh.client("bob").await.rotate_now(first).await.unwrap();
    mesh.wait_for_event(&made.request_id, "rotation.rotated.v1").await;
    let (first_password, _) = mesh.staged(&made.secret_name, "AWSCURRENT").await.unwrap();
    assert_eq!(mesh.staged_user(&made.secret_name, "AWSCURRENT").await.unwrap(), clone);
    assert!(mesh.user_has_password(&clone, &first_password).await, "the clone has the current password");
    assert!(mesh.role_has_password(&made, &made.password).await, "the user's password still works");
    assert_eq!(mesh.staged_user(&made.secret_name, "AWSPREVIOUS").await.unwrap(), made.role);
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut application).await.expect("the open connection works");
    assert_eq!(one, 1);
    let mut again = mesh.login(&made, &made.password).await.expect("a new connection with the old secret");
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&mut again).await.unwrap();
    assert_eq!(one, 1);

    // The clone acts as the user: what it creates is the user's.
    let mut as_clone = mesh.login_as(&made, &clone, &first_password).await.expect("the clone logs in");
    let acting: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&mut as_clone).await.unwrap();
    assert_eq!(acting, made.role);
    sqlx::raw_sql("CREATE TABLE orders (id bigint)").execute(&mut as_clone).await.unwrap();
    let owner: String = sqlx::query_scalar("SELECT tableowner::text FROM pg_tables WHERE tablename = 'orders'")
        .fetch_one(&mut as_clone)
        .await
        .unwrap();
    assert_eq!(owner, made.role);

    // Second turn: back to the user with a new password; the clone keeps its own.
    let second = RotateNowRequest { min_sequence: mesh.last_sequence(&made.request_id).await, ..rotate(&made) };
    mesh.client("bob").await.rotate_now(second).await.unwrap();
    mesh.wait_for_count(&made.request_id, "rotation.rotated.v1", 2).await;
    let (second_password, _) = mesh.staged(&made.secret_name, "AWSCURRENT").await.unwrap();
    assert_eq!(mesh.staged_user(&made.secret_name, "AWSCURRENT").await.unwrap(), made.role);
    assert!(mesh.role_has_password(&made, &second_password).await);
    assert!(mesh.user_has_password(&clone, &first_password).await, "the previous secret still opens connections");
    assert!(!mesh.stages(&made.secret_name).await.iter().any(|stage| stage == "AWSPENDING"));
    for connection in [application, again, as_clone] {
        sqlx::Connection::close(connection).await.unwrap();
    }

    // Decommissioning drops the clone with its user.
    let target = EnvironmentTarget {
        admin_url: SecretString::from(
            std::env::var("GANTRY_TEST_DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        ),
        host: None,
        port: None,
    };
    let plan = DatabasePlan {
        database: made.database.clone(),
        role: made.role.clone(),
        connection_limit: 20,
        audit_logging: false,
        request_id: made.request_id.clone(),
    };
    let mut admin = Target::connect("dev", &target).await.unwrap();
    admin.drop_database(&plan).await.expect("dropped");
    admin.close().await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_roles WHERE rolname = ANY($1)")
        .bind(vec![made.role.clone(), clone.clone()])
        .fetch_one(&mut mesh.admin().await)
        .await
        .unwrap();
    assert_eq!(left, 0, "both roles are gone");
    mesh.cleanup().await;
}
