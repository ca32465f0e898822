//! Protobuf ↔ domain at the edge of the API: forms in, requests out, ids,
//! enums, page tokens and timestamps.

use crate::domain::names::database_entity_name;
use crate::domain::policy::outstanding;
use crate::domain::validate::unknown_choice;
use crate::domain::wire::{choice_of, number_of, value_of};
use crate::domain::{
    BucketForm, BucketPurpose, DatabaseForm, DecommissionForm, Environment, RequestState, ResourceSpec, Risk,
    SecretPolicy, Size, Status,
};
use crate::error::Error;
use gantry_proto::intake as pb;
use gantry_proto::types::{ApprovalClause, Principal};
use gantry_runtime::grpc::page;
use uuid::Uuid;

/// Statuses in the order of `pb::RequestStatus` (1-based).
const STATUSES: &[Status] = Status::ALL;

pub(crate) fn database_form(request: &pb::RequestDatabaseRequest) -> DatabaseForm {
    DatabaseForm {
        database_name: request.database_name.clone(),
        username: request.username.clone(),
        owner: request.owner.clone(),
        requester: request.requester.clone(),
        environment: choice_of(Environment::ALL, request.environment),
        domain: request.domain.clone(),
        risk: choice_of(Risk::ALL, request.risk),
        size: choice_of(Size::ALL, request.size),
    }
}

pub(crate) fn bucket_form(request: &pb::RequestBucketRequest) -> BucketForm {
    BucketForm {
        bucket_name: request.bucket_name.clone(),
        purpose: choice_of(BucketPurpose::ALL, request.purpose),
        environment: choice_of(Environment::ALL, request.environment),
        region: request.region.clone(),
        owner: request.owner.clone(),
        requester: request.requester.clone(),
        retention_days: request.retention_days,
        kms_key_id: request.kms_key_id.clone(),
        replication_target: request.replication_target.clone(),
    }
}

pub(crate) fn decommission_form(request: &pb::RequestDecommissionRequest) -> DecommissionForm {
    DecommissionForm {
        confirm_name: request.confirm_name.clone(),
        reason: request.reason.clone(),
        secret_policy: choice_of(SecretPolicy::ALL, request.secret_policy),
        recovery_window_days: request.recovery_window_days,
    }
}

/// Parses a request id; the error describes the violation.
pub(crate) fn request_id(value: &str) -> Result<Uuid, String> {
    if value.is_empty() {
        return Err("required".into());
    }
    Uuid::parse_str(value).map_err(|_| "must be a request id (a UUID)".into())
}

/// Reads an optional status filter (0: any).
pub(crate) fn status_filter(number: i32) -> Result<Option<Status>, Error> {
    if number == 0 {
        return Ok(None);
    }
    value_of(STATUSES, number).map(Some).ok_or_else(|| Error::invalid("status", unknown_choice(number, STATUSES)))
}

/// Reads an optional environment filter (0: any).
pub(crate) fn environment_filter(number: i32) -> Result<Option<Environment>, Error> {
    if number == 0 {
        return Ok(None);
    }
    value_of(Environment::ALL, number)
        .map(Some)
        .ok_or_else(|| Error::invalid("environment", unknown_choice(number, Environment::ALL)))
}

/// Decodes a page token (empty: the first page).
pub(crate) fn parse_page_token(token: &str) -> Result<Option<u64>, Error> {
    page::parse(token).map_err(|error| Error::invalid("page_token", error.to_string()))
}

fn timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: (micros.rem_euclid(1_000_000) * 1000) as i32,
    }
}

/// The approval clauses a pending request, or a decommission waiting for
/// approval, still needs (none otherwise).
fn outstanding_approvals(state: &RequestState) -> Vec<Vec<String>> {
    match (state.status, &state.decommission) {
        (Status::PendingApproval, _) => {
            let approvers: Vec<&[String]> = state.approvals.iter().map(|approval| approval.groups.as_slice()).collect();
            outstanding(&state.required, &approvers)
        }
        // One approval decides a decommission.
        (Status::DecommissionRequested, Some(decommission)) => decommission.required.clone(),
        _ => Vec::new(),
    }
}

/// Returns the API form of a request.
pub(crate) fn request(state: &RequestState) -> pb::Request {
    let (kind, spec, catalog_entity) = match &state.spec {
        ResourceSpec::Database(database) => (
            pb::RequestKind::Database,
            pb::request::Spec::Database(database.into()),
            format!("resource:default/{}", database_entity_name(&database.database_name, database.environment)),
        ),
        ResourceSpec::Bucket(bucket) => {
            (pb::RequestKind::Bucket, pb::request::Spec::Bucket(bucket.into()), String::new())
        }
    };
    pb::Request {
        request_id: state.id.clone(),
        kind: kind as i32,
        status: number_of(STATUSES, &state.status),
        spec: Some(spec),
        submitted_by: Some(Principal { subject: state.submitted_by.clone(), groups: Vec::new() }),
        required_approvals: state
            .required
            .iter()
            .map(|groups| ApprovalClause { any_of_groups: groups.clone() })
            .collect(),
        approvals: state
            .approvals
            .iter()
            .map(|approval| pb::Approval {
                approver: Some(Principal { subject: approval.subject.clone(), groups: approval.groups.clone() }),
                comment: approval.comment.clone(),
                approved_at: Some(timestamp(approval.at_micros)),
            })
            .collect(),
        auto_approved_by_rule: state.auto_approved_by.clone().unwrap_or_default(),
        reason: state.reason.clone().unwrap_or_default(),
        secret_path: state.secret_path.clone().unwrap_or_default(),
        created_at: Some(timestamp(state.created_micros)),
        updated_at: Some(timestamp(state.updated_micros)),
        sequence: state.sequence,
        catalog_entity,
        outstanding_approvals: outstanding_approvals(state)
            .into_iter()
            .map(|groups| ApprovalClause { any_of_groups: groups })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_match_the_proto_enum() {
        assert_eq!(number_of(STATUSES, &Status::PendingApproval), pb::RequestStatus::PendingApproval as i32);
        assert_eq!(number_of(STATUSES, &Status::Failed), pb::RequestStatus::Failed as i32);
        assert_eq!(number_of(STATUSES, &Status::Decommissioned), pb::RequestStatus::Decommissioned as i32);
        assert_eq!(
            status_filter(pb::RequestStatus::DecommissionRequested as i32).unwrap(),
            Some(Status::DecommissionRequested)
        );
        assert_eq!(status_filter(pb::RequestStatus::Ready as i32).unwrap(), Some(Status::Ready));
        assert!(status_filter(42).is_err());
    }

    #[test]
    fn page_tokens_round_trip_and_reject_forgeries() {
        assert_eq!(parse_page_token(&page::token(1234)).unwrap(), Some(1234));
        assert_eq!(parse_page_token("").unwrap(), None);
        assert!(parse_page_token("garbage!").is_err());
    }

    #[test]
    fn timestamps_split_micros() {
        let converted = timestamp(1_500_000);
        assert_eq!((converted.seconds, converted.nanos), (1, 500_000_000));
    }
}
