//! Which events a principal may see — what the services that own them let
//! it read:
//!
//! - `platform-team` sees every event;
//! - any authenticated principal sees the request lifecycle (aggregates
//!   `request` and `name`: intake lets every caller read every request,
//!   and no event carries a secret);
//! - artifact events (`blob`, `run`) are a tenant's: members of group
//!   `tenant:<name>` see the events that name their tenant, as ingest lets
//!   them read its artifacts; an event of the store that names no tenant
//!   (a blob verified or deleted) is platform-team's only;
//! - an aggregate type this build does not know is platform-team's only.

use gantry_proto::types::Principal;

/// The group that sees everything.
const PLATFORM_TEAM: &str = "platform-team";
/// The prefix of tenant membership groups.
const TENANT_GROUP_PREFIX: &str = "tenant:";

/// Returns true when `caller` may see an event of `aggregate_type` that
/// names `tenant` (empty: none).
pub(crate) fn may_see(caller: &Principal, aggregate_type: &str, tenant: &str) -> bool {
    if caller.groups.iter().any(|group| group == PLATFORM_TEAM) {
        return true;
    }
    match aggregate_type {
        "request" | "name" => true,
        "blob" | "run" if !tenant.is_empty() => {
            caller.groups.iter().any(|group| group.strip_prefix(TENANT_GROUP_PREFIX) == Some(tenant))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(groups: &[&str]) -> Principal {
        Principal { subject: "someone".into(), groups: groups.iter().map(|group| group.to_string()).collect() }
    }

    #[test]
    fn requests_are_everyones_artifacts_their_tenants() {
        let member = principal(&["tenant:acme"]);
        assert!(may_see(&member, "request", ""));
        assert!(may_see(&member, "blob", "acme"));
        assert!(may_see(&member, "run", "acme"));
        assert!(!may_see(&member, "blob", "globex"));
        assert!(!may_see(&member, "blob", ""), "blob events without a tenant are the platform's");
        assert!(!may_see(&principal(&["tenant:acme-eu"]), "run", "acme"));
        assert!(!may_see(&member, "lineage", ""), "unknown aggregates are the platform's");
        let platform = principal(&["platform-team"]);
        assert!(may_see(&platform, "blob", "") && may_see(&platform, "lineage", ""));
    }
}
