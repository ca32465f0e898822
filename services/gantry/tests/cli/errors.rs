//! Errors: field violations, tokens, usage, as text and as JSON on stderr.

use crate::helpers::spawn_app;

const INVALID_DB: &[&str] = &[
    "request",
    "db",
    "--name",
    "Orders",
    "--owner",
    "",
    "--requester",
    "alice",
    "--env",
    "prod",
    "--domain",
    "payments",
    "--risk",
    "high",
    "--size",
    "small",
];

#[tokio::test(flavor = "multi_thread")]
async fn field_violations_come_back_as_text_or_as_a_json_object_on_stderr() {
    let app = spawn_app().await;
    let text = app.gantry(Some("alice"), INVALID_DB).await;
    assert_eq!(text.code, Some(1), "{text:?}");
    assert!(text.stderr.contains("(INVALID_ARGUMENT)"), "{text:?}");
    assert!(text.stderr.contains("\n  database_name: ") && text.stderr.contains("\n  owner: "), "{text:?}");

    let json = app.gantry(Some("alice"), &[&["--output", "json"], INVALID_DB].concat()).await;
    assert_eq!((json.code, json.stdout.as_str()), (Some(1), ""), "{json:?}");
    let error = json.error_json();
    assert_eq!(error["code"], "INVALID_ARGUMENT");
    assert!(error["message"].as_str().is_some_and(|message| !message.is_empty()), "{error}");
    let fields: Vec<&str> =
        error["field_violations"].as_array().unwrap().iter().map(|v| v["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"database_name") && fields.contains(&"owner"), "{error}");
    assert!(error["field_violations"][0]["description"].as_str().is_some_and(|d| !d.is_empty()));

    let missing = uuid_like();
    let not_found = app.gantry(Some("alice"), &["--output", "json", "request", "show", &missing]).await;
    assert_eq!((not_found.code, not_found.error_json()["code"].as_str()), (Some(1), Some("NOT_FOUND")));
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_empty_token_says_how_to_set_one() {
    let app = spawn_app().await;
    for token in [None, Some(""), Some("  ")] {
        let run = app.gantry_with_token(token, &["request", "list"]).await;
        assert_eq!(run.code, Some(1), "{run:?}");
        for advice in ["GANTRY_TOKEN", "--token", "gantry admin token create"] {
            assert!(run.stderr.contains(advice), "{advice} missing for {token:?}: {run:?}");
        }
        assert!(!run.stderr.contains("unknown token"), "an empty token is missing, not unknown: {run:?}");
        let json = app.gantry_with_token(token, &["--output", "json", "request", "list"]).await;
        assert_eq!(json.error_json()["code"], "UNAUTHENTICATED", "{json:?}");
    }
    let refused = app.gantry_with_token(Some("gty_not_a_real_token"), &["request", "list"]).await;
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(refused.stderr.contains("(UNAUTHENTICATED)"), "{refused:?}");
    assert!(refused.stderr.contains("gantry admin token create"), "{refused:?}");
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_parser_refuses_unknown_words_and_says_so_in_json_when_asked() {
    let app = spawn_app().await;
    let mut args = INVALID_DB.to_vec();
    args[9] = "production";
    let text = app.gantry(Some("alice"), &args).await;
    assert_eq!(text.code, Some(2), "{text:?}");
    assert!(text.stderr.contains("possible values: dev, test, staging, prod"), "{text:?}");

    let json = app.gantry(Some("alice"), &[&["--output", "json"], &args[..]].concat()).await;
    assert_eq!(json.code, Some(2), "{json:?}");
    let error = json.error_json();
    assert_eq!(error["code"], "INVALID_ARGUMENT");
    assert_eq!(error["field_violations"][0]["field"], "--env");
    assert!(error["field_violations"][0]["description"].as_str().unwrap().contains("dev, test, staging, prod"));
    app.cleanup().await;
}

fn uuid_like() -> String {
    "01936b2e-0000-7000-8000-000000000000".into()
}
