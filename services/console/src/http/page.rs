//! The console page: `GET /` renders the summary tables on the server (so
//! it reads without JavaScript), and its script follows `/v1/events` with
//! `EventSource`, adds each event to the live table and fetches the
//! summary again (`GET /summary?min_sequence=N`, which waits briefly for
//! the view to reach the event). The login form sets the token cookie.

use super::render::{body_of, login_page, page_response, render_summary};
use super::{HttpState, Shared, TOKEN_COOKIE, unauthenticated};
use crate::lag::consumer_lags;
use crate::view::{VIEW_NAME, summary};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::time::Duration;

const SCRIPT: &str = include_str!("../../assets/console.js");
const STYLE: &str = include_str!("../../assets/console.css");
/// How long `/summary?min_sequence=` waits for the view.
const SUMMARY_WAIT: Duration = Duration::from_secs(2);

async fn summary_html(state: &HttpState) -> Result<String, Response> {
    let summary = summary(&state.pool).await.map_err(|error| {
        tracing::warn!(error = format!("{error:#}"), "console summary unavailable");
        (StatusCode::SERVICE_UNAVAILABLE, "the console's view is unavailable; retry").into_response()
    })?;
    let lags = consumer_lags(&state.log).await;
    Ok(render_summary(&summary, &lags))
}

/// The log's last sequence, if the log answers.
async fn last_sequence(state: &HttpState) -> Option<u64> {
    let name = &state.log.settings().name;
    let mut stream = state.log.jetstream().get_stream(name).await.ok()?;
    stream.info().await.ok().map(|info| info.state.last_sequence)
}

/// `GET /`: the page, or the login form.
pub(crate) async fn index(State(shared): State<Shared>, headers: HeaderMap) -> Response {
    let Some(principal) = shared.http.principal(&headers) else { return login_page("") };
    // The page follows the log from where its tables stand (from now when
    // the log does not answer: never a replay of the whole log).
    let from = last_sequence(&shared.http).await.map(|last| last + 1);
    match summary_html(&shared.http).await {
        Ok(summary) => page_response(StatusCode::OK, body_of(&principal, &summary, from)),
        Err(response) => response,
    }
}

/// The summary's query.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct SummaryQuery {
    #[serde(default)]
    min_sequence: u64,
}

/// `GET /summary`: the summary section alone, once the view has applied
/// `min_sequence` (or after a short wait, as it stands).
pub(crate) async fn summary_fragment(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<SummaryQuery>,
) -> Response {
    if shared.http.principal(&headers).is_none() {
        return unauthenticated();
    }
    if query.min_sequence > 0 {
        let _ = gantry_eventlog::projection::wait_for_checkpoint(
            &shared.http.pool,
            VIEW_NAME,
            query.min_sequence,
            SUMMARY_WAIT,
        )
        .await;
    }
    match summary_html(&shared.http).await {
        Ok(summary) => page_response(StatusCode::OK, summary),
        Err(response) => response,
    }
}

/// The login form.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct LoginForm {
    token: String,
}

/// True when a browser says the form was posted from another site (its
/// `Origin` names another host than the one it posts to): such a login
/// would plant someone else's token in the operator's browser.
fn cross_site(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|origin| origin.to_str().ok()) else { return false };
    let host = headers.get(header::HOST).and_then(|host| host.to_str().ok()).unwrap_or_default();
    origin.split_once("://").map(|(_, authority)| authority) != Some(host)
}

/// `POST /login`: checks the token and keeps it in the cookie.
pub(crate) async fn login(State(shared): State<Shared>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    if cross_site(&headers) {
        return (StatusCode::FORBIDDEN, "log in from the console's own page").into_response();
    }
    if shared.http.principal_of_token(&form.token).is_none() {
        return login_page("unknown token");
    }
    let secure = if shared.http.settings.cookie_secure { "; Secure" } else { "" };
    let cookie = format!("{TOKEN_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/{secure}", form.token.trim());
    let mut response = Redirect::to("/").into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(value) => response.headers_mut().insert(header::SET_COOKIE, value),
        Err(_) => return login_page("a token is printable text"),
    };
    response
}

/// `POST /logout`: forgets the cookie.
pub(crate) async fn logout(headers: HeaderMap) -> Response {
    if cross_site(&headers) {
        return (StatusCode::FORBIDDEN, "log out from the console's own page").into_response();
    }
    let mut response = Redirect::to("/").into_response();
    let expired = format!("{TOKEN_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    if let Ok(value) = HeaderValue::from_str(&expired) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /static/console.js`.
pub(crate) async fn script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], SCRIPT).into_response()
}

/// `GET /static/console.css`.
pub(crate) async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_posted_from_another_site_is_told_apart() {
        let headers = |origin: Option<&str>| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, "console.internal:8080".parse().unwrap());
            if let Some(origin) = origin {
                headers.insert(header::ORIGIN, origin.parse().unwrap());
            }
            headers
        };
        assert!(!cross_site(&headers(None)), "no Origin: not a browser's cross-site post");
        assert!(!cross_site(&headers(Some("https://console.internal:8080"))));
        assert!(cross_site(&headers(Some("https://evil.example"))));
        assert!(cross_site(&headers(Some("null"))));
    }
}
