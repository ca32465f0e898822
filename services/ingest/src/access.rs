//! Who may see and store which tenant's artifacts, from the caller's
//! principal (its bearer token's subject and groups):
//!
//! - a member of group `tenant:<name>` uploads, reads and lists tenant
//!   `<name>`'s artifacts;
//! - a member of `platform-team` reads and lists every tenant's artifacts
//!   (support, audits) but uploads only for tenants it is a member of;
//! - nobody else sees anything of a tenant: its artifacts answer
//!   NOT_FOUND, as if they did not exist, and an input id of another tenant
//!   is reported missing.

use gantry_proto::types::Principal;

/// The group prefix that makes a principal a member of a tenant.
pub const TENANT_GROUP_PREFIX: &str = "tenant:";
/// The group that reads every tenant.
pub const PLATFORM_TEAM: &str = "platform-team";

/// Returns true when `caller` may store artifacts for `tenant`.
pub(crate) fn may_write(caller: &Principal, tenant: &str) -> bool {
    caller.groups.iter().any(|group| group.strip_prefix(TENANT_GROUP_PREFIX) == Some(tenant))
}

/// Returns true when `caller` may read `tenant`'s artifacts.
pub(crate) fn may_read(caller: &Principal, tenant: &str) -> bool {
    may_write(caller, tenant) || caller.groups.iter().any(|group| group == PLATFORM_TEAM)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(groups: &[&str]) -> Principal {
        Principal { subject: "agent".into(), groups: groups.iter().map(|group| group.to_string()).collect() }
    }

    #[test]
    fn members_write_and_read_their_tenant_only() {
        let member = principal(&["developers", "tenant:acme"]);
        assert!(may_write(&member, "acme") && may_read(&member, "acme"));
        assert!(!may_write(&member, "globex") && !may_read(&member, "globex"));
        // A group named like the tenant is not membership.
        assert!(!may_read(&principal(&["acme"]), "acme"));
        assert!(!may_read(&principal(&["tenant:acme-eu"]), "acme"));
    }

    #[test]
    fn the_platform_team_reads_everything_and_writes_nothing_by_itself() {
        let platform = principal(&[PLATFORM_TEAM]);
        assert!(may_read(&platform, "acme"));
        assert!(!may_write(&platform, "acme"));
    }
}
