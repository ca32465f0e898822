//! OpenLineage run events at the edge: a JSON `RunEvent` checked field by
//! field into the event lineage records, every violation named by its JSON
//! path (`event_json.inputs[2].name`) and answered at once. Pure, no I/O.
//!
//! Beyond the OpenLineage schema, Gantry needs `eventType` (the run's
//! state drives when its outputs enter the graph) and a `run` (dataset and
//! job events are not recorded). Facets are accepted and not kept.

use gantry_proto::events::{OpenLineageDataset, OpenLineageEventType, OpenLineageRunEvent};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::str::FromStr as _;

/// The most inputs, and the most outputs, of one event.
pub const MAX_DATASETS: usize = 1000;
/// The longest namespace or name.
const MAX_NAME_BYTES: usize = 1024;
/// The longest producer or schema URL.
const MAX_URI_BYTES: usize = 2048;
/// The field the JSON arrives in; every path starts with it.
const FIELD: &str = "event_json";

/// A field violation: (field, what is wrong).
type Violation = (String, String);

/// The event types OpenLineage defines, as words.
const EVENT_TYPES: &[(&str, OpenLineageEventType)] = &[
    ("START", OpenLineageEventType::Start),
    ("RUNNING", OpenLineageEventType::Running),
    ("COMPLETE", OpenLineageEventType::Complete),
    ("ABORT", OpenLineageEventType::Abort),
    ("FAIL", OpenLineageEventType::Fail),
    ("OTHER", OpenLineageEventType::Other),
];

/// Returns the OpenLineage word of an event type (`COMPLETE`).
pub fn event_type_word(event_type: i32) -> &'static str {
    EVENT_TYPES.iter().find(|(_, known)| *known as i32 == event_type).map_or("OTHER", |(word, _)| word)
}

/// True for the states that end a run: its outputs enter the graph then.
pub fn is_terminal(event_type: i32) -> bool {
    [OpenLineageEventType::Complete, OpenLineageEventType::Abort, OpenLineageEventType::Fail]
        .iter()
        .any(|terminal| *terminal as i32 == event_type)
}

/// Collects the violations of one event.
#[derive(Default)]
struct Fields {
    violations: Vec<Violation>,
}

impl Fields {
    fn violation(&mut self, path: &str, why: impl Into<String>) {
        self.violations.push((format!("{FIELD}.{path}"), why.into()));
    }

    /// A required string of 1 to `max` bytes without control characters.
    fn text(&mut self, object: &Map<String, Value>, path: &str, key: &str, max: usize) -> Option<String> {
        let full = if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
        match object.get(key) {
            Some(Value::String(text))
                if !text.is_empty() && text.len() <= max && !text.chars().any(char::is_control) =>
            {
                Some(text.clone())
            }
            Some(Value::String(_)) => {
                self.violation(&full, format!("1 to {max} bytes, no control characters"));
                None
            }
            Some(_) => {
                self.violation(&full, "must be a string");
                None
            }
            None => {
                self.violation(&full, "required");
                None
            }
        }
    }

    /// A required object.
    fn object<'a>(&mut self, parent: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
        match parent.get(key) {
            Some(Value::Object(object)) => Some(object),
            Some(_) => {
                self.violation(key, "must be an object");
                None
            }
            None => {
                self.violation(key, "required (only run events are recorded)");
                None
            }
        }
    }

    /// A URI: a scheme, a colon and more.
    fn uri(&mut self, object: &Map<String, Value>, key: &str) -> Option<String> {
        let text = self.text(object, "", key, MAX_URI_BYTES)?;
        let scheme_end = text.find(':').unwrap_or(0);
        let scheme = &text[..scheme_end];
        let valid = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && text.len() > scheme_end + 1
            && !text.contains(char::is_whitespace);
        if valid {
            Some(text)
        } else {
            self.violation(key, "must be a URI (scheme:rest, no spaces)");
            None
        }
    }

    fn datasets(&mut self, event: &Map<String, Value>, key: &str) -> Vec<OpenLineageDataset> {
        let items = match event.get(key) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(items)) if items.len() <= MAX_DATASETS => items,
            Some(Value::Array(_)) => {
                self.violation(key, format!("at most {MAX_DATASETS} datasets"));
                return Vec::new();
            }
            Some(_) => {
                self.violation(key, "must be an array of datasets");
                return Vec::new();
            }
        };
        let mut seen = BTreeSet::new();
        let mut datasets = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let path = format!("{key}[{index}]");
            let Value::Object(dataset) = item else {
                self.violation(&path, "must be an object with namespace and name");
                continue;
            };
            let namespace = self.text(dataset, &path, "namespace", MAX_NAME_BYTES);
            let name = self.text(dataset, &path, "name", MAX_NAME_BYTES);
            if let (Some(namespace), Some(name)) = (namespace, name) {
                // The same dataset twice in a list is the same edge once.
                if seen.insert((namespace.clone(), name.clone())) {
                    datasets.push(OpenLineageDataset { namespace, name });
                }
            }
        }
        datasets
    }
}

/// Parses and checks an OpenLineage `RunEvent` for `tenant`: the event to
/// record, or every field violation at once.
pub fn parse(tenant: &str, event_json: &str) -> Result<OpenLineageRunEvent, Vec<Violation>> {
    let value: Value =
        serde_json::from_str(event_json).map_err(|error| vec![(FIELD.to_owned(), format!("not JSON: {error}"))])?;
    let Value::Object(event) = value else {
        return Err(vec![(FIELD.to_owned(), "must be a JSON object (an OpenLineage RunEvent)".to_owned())]);
    };
    let mut fields = Fields::default();
    let event_type = match event.get("eventType") {
        Some(Value::String(word)) => match EVENT_TYPES.iter().find(|(known, _)| known == word) {
            Some((_, event_type)) => Some(*event_type),
            None => {
                fields.violation(
                    "eventType",
                    format!("unknown {word:?}; one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER"),
                );
                None
            }
        },
        _ => {
            fields.violation("eventType", "required: one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER");
            None
        }
    };
    let event_time = fields.text(&event, "", "eventTime", 64).and_then(|text| {
        prost_types::Timestamp::from_str(&text)
            .map_err(|_| fields.violation("eventTime", "must be an RFC 3339 date-time, e.g. 2025-01-31T12:00:00Z"))
            .ok()
    });
    let producer = fields.uri(&event, "producer");
    fields.uri(&event, "schemaURL");
    let run_id = fields.object(&event, "run").and_then(|run| {
        let text = fields.text(run, "run", "runId", 64)?;
        match uuid::Uuid::try_parse(&text) {
            Ok(id) => Some(id.to_string()),
            Err(_) => {
                fields.violation("run.runId", "must be a UUID");
                None
            }
        }
    });
    let job = fields.object(&event, "job").map(|job| {
        (fields.text(job, "job", "namespace", MAX_NAME_BYTES), fields.text(job, "job", "name", MAX_NAME_BYTES))
    });
    let inputs = fields.datasets(&event, "inputs");
    let outputs = fields.datasets(&event, "outputs");
    match (event_type, event_time, producer, run_id, job) {
        (
            Some(event_type),
            Some(event_time),
            Some(producer),
            Some(run_id),
            Some((Some(job_namespace), Some(job_name))),
        ) if fields.violations.is_empty() => Ok(OpenLineageRunEvent {
            tenant: tenant.to_owned(),
            event_type: event_type as i32,
            event_time: Some(event_time),
            run_id,
            job_namespace,
            job_name,
            inputs,
            outputs,
            producer,
        }),
        _ => Err(fields.violations),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "eventType": "COMPLETE",
            "eventTime": "2025-03-01T10:15:00.123+01:00",
            "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/integration/airflow",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": "0195a1c2-7b3e-7c3a-9f00-5d2b6a1e0c11", "facets": {}},
            "job": {"namespace": "airflow", "name": "etl.load_orders"},
            "inputs": [{"namespace": "postgres://db:5432", "name": "shop.orders"}],
            "outputs": [{"namespace": "s3://lake", "name": "orders.parquet", "facets": {}},
                        {"namespace": "s3://lake", "name": "orders.parquet"}],
        })
    }

    fn fields_of(event: &Value) -> Vec<String> {
        let mut fields: Vec<String> =
            parse("acme", &event.to_string()).unwrap_err().into_iter().map(|(field, _)| field).collect();
        fields.sort();
        fields
    }

    #[test]
    fn a_valid_run_event_is_read_with_its_datasets_once_each() {
        let event = parse("acme", &valid().to_string()).unwrap();
        assert_eq!(event.event_type, OpenLineageEventType::Complete as i32);
        assert_eq!(event.event_time.unwrap().seconds, 1_740_820_500);
        assert_eq!((event.job_namespace.as_str(), event.job_name.as_str()), ("airflow", "etl.load_orders"));
        assert_eq!(event.inputs.len(), 1);
        assert_eq!(event.outputs.len(), 1, "a dataset listed twice is one output");
        assert!(is_terminal(event.event_type));
        assert_eq!(event_type_word(event.event_type), "COMPLETE");
    }

    #[test]
    fn every_bad_field_is_named_by_its_path() {
        let mut event = valid();
        event["eventType"] = json!("DONE");
        event["eventTime"] = json!("yesterday");
        event["producer"] = json!("not a uri");
        event["run"]["runId"] = json!("42");
        event["job"] = json!({"namespace": ""});
        event["inputs"][0] = json!({"namespace": "pg"});
        event["outputs"] = json!("orders");
        assert_eq!(
            fields_of(&event),
            [
                "event_json.eventTime",
                "event_json.eventType",
                "event_json.inputs[0].name",
                "event_json.job.name",
                "event_json.job.namespace",
                "event_json.outputs",
                "event_json.producer",
                "event_json.run.runId",
            ]
        );
    }

    #[test]
    fn dataset_and_job_events_and_non_objects_are_refused() {
        let mut event = valid();
        event.as_object_mut().unwrap().remove("run");
        assert_eq!(fields_of(&event), ["event_json.run"]);
        assert_eq!(parse("acme", "[1]").unwrap_err()[0].0, "event_json");
        assert_eq!(parse("acme", "{").unwrap_err()[0].0, "event_json");
    }
}
