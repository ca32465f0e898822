//! The graph's ids, derived from what the events name (UUIDv5), so a
//! replay gives every node and producer the same id again. Parts are
//! joined with a newline, which no label may hold, so two different
//! tuples never join to the same text.

use uuid::Uuid;

/// The namespace of every id lineage derives.
const NAMESPACE: Uuid = Uuid::from_u128(0x4d1c_9a3e_27b5_4f0e_9c61_b8a0_53e2_7f14);

fn derive(parts: &[&str]) -> Uuid {
    Uuid::new_v5(&NAMESPACE, parts.join("\n").as_bytes())
}

/// The producer of a pipeline run's step.
pub fn step(tenant: &str, run_id: &str, step_id: &str) -> Uuid {
    derive(&["step", tenant, run_id, step_id])
}

/// The producer of an OpenLineage run (its runId is unique only within
/// the tenant that sent it).
pub fn openlineage_run(tenant: &str, run_id: &str) -> Uuid {
    derive(&["openlineage-run", tenant, run_id])
}

/// The version of a dataset that `producer` wrote.
pub fn dataset_version(tenant: &str, producer: Uuid, namespace: &str, name: &str) -> Uuid {
    derive(&["dataset", tenant, &producer.to_string(), namespace, name])
}

/// The version of a dataset first seen as an input, before any known run wrote it.
pub fn dataset_source(tenant: &str, namespace: &str, name: &str) -> Uuid {
    derive(&["dataset-source", tenant, namespace, name])
}

/// The pipeline run of steps (the parent of their OpenLineage runs on export).
pub fn pipeline_run(tenant: &str, run_id: &str) -> Uuid {
    derive(&["run", tenant, run_id])
}

/// The event id of an OpenLineage event sent for `tenant`: the same JSON
/// sent again (a client's retry) is the same event, stored once.
pub fn openlineage_event(tenant: &str, event_json: &str) -> Uuid {
    derive(&["openlineage-event", tenant, event_json])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_parts_do_not_run_together() {
        assert_eq!(step("acme", "r1", "train"), step("acme", "r1", "train"));
        assert_ne!(step("acme", "r1/x", "y"), step("acme", "r1", "x/y"));
        assert_ne!(openlineage_run("acme", "r"), openlineage_run("globex", "r"));
        let producer = openlineage_run("acme", "r");
        assert_ne!(dataset_version("acme", producer, "ns", "t"), dataset_source("acme", "ns", "t"));
    }
}
