//! `GET /v1/events`: the event stream as Server-Sent Events. Each event's
//! `id:` is its stream sequence and its `data:` the event as JSON (see
//! [`crate::json`]); a client that reconnects sends `Last-Event-ID` (the
//! browser's `EventSource` does by itself) and resumes after it. A client
//! cut off for reading too slowly gets one `event: cutoff` with the reason
//! before the stream ends.
//!
//! Query: `from=SEQ` (first sequence, inclusive) or `since=RFC3339`
//! (neither: from now); `type`, `aggregate_type`, `environment`, `tenant`,
//! each repeatable or comma-separated.

use super::{Shared, json_error, unauthenticated};
use crate::filter::{AskedFilter, WatchFilter, parse_since};
use crate::grpc::response;
use crate::json::event_json;
use crate::watch::WatchEnd;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use gantry_eventlog::StartAt;
use gantry_service::api::ApiError;
use std::convert::Infallible;
use std::time::Duration;

/// Reads the query and `Last-Event-ID` into a filter, every violation at once.
pub(crate) fn filter_of(pairs: Vec<(String, String)>, headers: &HeaderMap) -> Result<WatchFilter, ApiError> {
    let mut asked = AskedFilter::default();
    let mut violations = Vec::new();
    let split = |value: &str| -> Vec<String> {
        value.split(',').map(str::trim).filter(|value| !value.is_empty()).map(str::to_owned).collect()
    };
    for (key, value) in pairs {
        match key.as_str() {
            "type" => asked.event_types.extend(split(&value)),
            "aggregate_type" => asked.aggregate_types.extend(split(&value)),
            "environment" => asked.environments.extend(split(&value)),
            "tenant" => asked.tenants.extend(split(&value)),
            "from" | "since" if asked.start.is_some() => {
                violations.push((key, "give one of from and since, once".to_owned()));
            }
            "from" => match value.parse::<u64>() {
                Ok(sequence) => asked.start = Some(StartAt::Sequence(sequence)),
                Err(_) => violations.push((key, format!("{value:?} is not a sequence number"))),
            },
            "since" => match parse_since("since", &value) {
                Ok(start) => asked.start = Some(start),
                Err(violation) => violations.push(violation),
            },
            _ => violations.push((
                key,
                "unknown parameter; one of from, since, type, aggregate_type, environment, tenant".to_owned(),
            )),
        }
    }
    if let Some(last) = headers.get("last-event-id") {
        match last.to_str().ok().and_then(|value| value.trim().parse::<u64>().ok()) {
            Some(last) => asked.start = Some(StartAt::Sequence(last + 1)),
            None => violations.push(("Last-Event-ID".to_owned(), "not a sequence number".to_owned())),
        }
    }
    let checked = asked.check();
    match checked {
        Err(ApiError::Invalid(more)) => violations.extend(more),
        Err(other) => return Err(other),
        Ok(filter) if violations.is_empty() => return Ok(filter),
        Ok(_) => {}
    }
    Err(ApiError::Invalid(violations))
}

fn sse_event(item: Result<crate::watch::Watched, WatchEnd>) -> Result<Event, Infallible> {
    Ok(match item {
        Ok(watched) => {
            let event = response(watched);
            Event::default().id(event.sequence.to_string()).data(event_json(&event).to_string())
        }
        Err(end) => {
            let body = serde_json::json!({"code": "RESOURCE_EXHAUSTED", "message": end.to_string()});
            Event::default().event("cutoff").data(body.to_string())
        }
    })
}

/// `GET /v1/events`.
pub(crate) async fn events(
    State(shared): State<Shared>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Response {
    let Some(caller) = shared.http.principal(&headers) else { return unauthenticated() };
    let filter = match filter_of(pairs, &headers) {
        Ok(filter) => filter,
        Err(ApiError::Invalid(violations)) => {
            return json_error(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "invalid query", &violations);
        }
        Err(other) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", &other.to_string(), &[]),
    };
    let events = match shared.watches.start(caller, filter) {
        Ok(events) => events,
        Err(refused) => {
            return json_error(StatusCode::TOO_MANY_REQUESTS, "RESOURCE_EXHAUSTED", &refused.to_string(), &[]);
        }
    };
    let keep_alive = KeepAlive::new().interval(Duration::from_secs(shared.http.settings.keep_alive_s.max(1)));
    Sse::new(events.map(sse_event)).keep_alive(keep_alive).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    #[test]
    fn the_query_and_last_event_id_make_the_filter() {
        let query = pairs(&[("from", "5"), ("type", "intake.request_rejected.v1,intake.request_cancelled.v1")]);
        let filter = filter_of(query.clone(), &HeaderMap::new()).unwrap();
        assert_eq!(filter.start, StartAt::Sequence(5));
        assert_eq!(filter.event_types.len(), 2);
        let mut headers = HeaderMap::new();
        headers.insert("last-event-id", "41".parse().unwrap());
        assert_eq!(filter_of(query, &headers).unwrap().start, StartAt::Sequence(42), "Last-Event-ID resumes after it");
    }

    #[test]
    fn bad_parameters_are_all_named() {
        let query = pairs(&[("from", "x"), ("environment", "moon"), ("colour", "red")]);
        let ApiError::Invalid(violations) = filter_of(query, &HeaderMap::new()).unwrap_err() else { panic!() };
        let fields: Vec<&str> = violations.iter().map(|(field, _)| field.as_str()).collect();
        assert_eq!(fields, ["from", "colour", "environments"]);
    }
}
