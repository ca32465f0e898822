//! Console's HTTP side: the event stream as Server-Sent Events
//! (`GET /v1/events`), the page (`GET /`, its summary fragment
//! `GET /summary` and its script and style), and the page's login.
//!
//! Authentication: every endpoint but the login and the assets takes the
//! same bearer tokens as the gRPC API — `Authorization: Bearer <token>`
//! (curl, scripts), or the cookie `gantry_token` that the page's login
//! form (`POST /login`) sets, because a browser's `EventSource` cannot send
//! headers. The cookie holds the token itself (`HttpOnly`,
//! `SameSite=Strict`, `Secure` when `console.cookie_secure`), so the server
//! keeps no sessions and a token revoked in the tokens file stops working
//! for the page at once. Tokens never go in URLs (they would end up in
//! logs and browser history).

mod page;
mod render;
mod sse;

use crate::app::Console;
use crate::settings::ConsoleSettings;
use crate::watch::Watches;
use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use gantry_eventlog::EventLog;
use gantry_proto::types::Principal;
use gantry_runtime::{Authenticator, Shutdown};
use gantry_service::Built;
use tokio::net::TcpListener;
use tonic::service::Interceptor as _;

/// The login cookie's name.
pub(crate) const TOKEN_COOKIE: &str = "gantry_token";

/// What the HTTP handlers share.
#[derive(Debug, Clone)]
pub(crate) struct HttpState {
    pub(crate) settings: ConsoleSettings,
    pub(crate) authenticator: Authenticator,
    pub(crate) pool: sqlx::PgPool,
    pub(crate) log: EventLog,
}

impl HttpState {
    pub(crate) fn new(built: &Built<Console>, settings: ConsoleSettings) -> Self {
        Self {
            settings,
            authenticator: built.authenticator().clone(),
            pool: built.pool().clone(),
            log: built.log().clone(),
        }
    }

    /// Returns the caller's principal from its bearer token or login cookie.
    pub(crate) fn principal(&self, headers: &HeaderMap) -> Option<Principal> {
        let token = bearer(headers).or_else(|| cookie(headers, TOKEN_COOKIE))?;
        self.principal_of_token(&token)
    }

    /// Returns the principal of a clear token, checked as the gRPC API does.
    pub(crate) fn principal_of_token(&self, token: &str) -> Option<Principal> {
        let mut request = tonic::Request::new(());
        request.metadata_mut().insert("authorization", format!("Bearer {}", token.trim()).parse().ok()?);
        let mut authenticator = self.authenticator.clone();
        let request = authenticator.call(request).ok()?;
        request.extensions().get::<Principal>().cloned()
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(|token| token.trim().to_owned())
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// An error as JSON (`code`, `message`, and the field violations of a bad request).
pub(crate) fn json_error(status: StatusCode, code: &str, message: &str, violations: &[(String, String)]) -> Response {
    let violations: Vec<serde_json::Value> = violations
        .iter()
        .map(|(field, description)| serde_json::json!({"field": field, "description": description}))
        .collect();
    let body = serde_json::json!({"code": code, "message": message, "field_violations": violations});
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// The answer to a call without a known token.
pub(crate) fn unauthenticated() -> Response {
    let mut response = json_error(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        "send `Authorization: Bearer <token>` or log in on the page",
        &[],
    );
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}

/// What every handler gets: the shared parts and the watches.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub(crate) http: HttpState,
    pub(crate) watches: Watches,
}

/// The routes.
pub(crate) fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/summary", get(page::summary_fragment))
        .route("/login", post(page::login))
        .route("/logout", post(page::logout))
        .route("/static/console.js", get(page::script))
        .route("/static/console.css", get(page::style))
        .route("/v1/events", get(sse::events))
        .with_state(shared)
}

/// Serves the routes on `listener` until `shutdown`.
pub(crate) async fn serve(
    listener: TcpListener,
    http: HttpState,
    watches: Watches,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let app = router(Shared { http, watches });
    axum::serve(listener, app).with_graceful_shutdown(shutdown.wait()).await?;
    Ok(())
}
