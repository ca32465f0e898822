//! Tenants: which principal sees and stores which tenant's data (ingest's
//! artifacts, lineage's graph), and what a tenant's name may be.
//!
//! - a member of group `tenant:<name>` writes and reads tenant `<name>`;
//! - a member of `platform-team` reads every tenant (support, audits) but
//!   writes only for tenants it is a member of;
//! - nobody else sees anything of a tenant: its data answers NOT_FOUND,
//!   as if it did not exist.

use gantry_proto::types::Principal;

/// The group prefix that makes a principal a member of a tenant.
pub const TENANT_GROUP_PREFIX: &str = "tenant:";
/// The group that reads every tenant.
pub const PLATFORM_TEAM: &str = "platform-team";

/// Returns true when `caller` may write `tenant`'s data.
pub fn may_write(caller: &Principal, tenant: &str) -> bool {
    caller.groups.iter().any(|group| group.strip_prefix(TENANT_GROUP_PREFIX) == Some(tenant))
}

/// Returns true when `caller` may read `tenant`'s data.
pub fn may_read(caller: &Principal, tenant: &str) -> bool {
    may_write(caller, tenant) || reads_every_tenant(caller)
}

/// Returns true when `caller` reads every tenant (`platform-team`).
pub fn reads_every_tenant(caller: &Principal) -> bool {
    caller.groups.iter().any(|group| group == PLATFORM_TEAM)
}

/// Checks a tenant name: `^[a-z][a-z0-9-]{0,62}$`.
pub fn tenant(field: &str, value: &str) -> Result<String, (String, String)> {
    let valid = value.len() <= 63
        && value.starts_with(|first: char| first.is_ascii_lowercase())
        && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(value.to_owned())
    } else {
        Err((field.into(), "required: a lower-case letter, then up to 62 of a-z, 0-9 and -".into()))
    }
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
        assert!(may_read(&platform, "acme") && reads_every_tenant(&platform));
        assert!(!may_write(&platform, "acme"));
    }

    #[test]
    fn tenant_names_are_lower_case_words() {
        assert!(tenant("tenant", "team-ml2").is_ok());
        for bad in ["", "Acme", "1acme", "acme_eu", &"a".repeat(64)] {
            assert_eq!(tenant("tenant", bad).unwrap_err().0, "tenant", "{bad}");
        }
    }
}
