//! Where the figures that touch the platform find it: the local Postgres as
//! every environment's platform Postgres, and the AWS API emulator as
//! Secrets Manager (the same defaults and variables as the tests).

/// The admin URL of the platform Postgres (`GANTRY_TEST_DATABASE_URL`).
pub(crate) fn admin_url() -> String {
    std::env::var("GANTRY_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The AWS API emulator (`GANTRY_TEST_AWS_ENDPOINT`).
pub(crate) fn aws_endpoint() -> String {
    std::env::var("GANTRY_TEST_AWS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

/// A plain Secrets Manager client of the emulator, for the bare calls.
pub(crate) async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(aws_endpoint())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&aws)
}
