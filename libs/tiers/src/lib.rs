//! The platform's standards shared by every service (DESIGN.md): the tier
//! tables (what a risk class and a size imply, keyed by the contract's enums)
//! and the names derived from validated ones ([`names`]).

pub mod names;

use gantry_proto::types::{Risk, Size};

/// Controls implied by a risk class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskTier {
    /// Backup retention in days.
    pub backup_retention_days: u32,
    /// Credential rotation period in days.
    pub rotation_days: u32,
    /// Monitoring level (`none`, `basic`, `standard`, `enhanced`).
    pub monitoring: &'static str,
    /// Whether audit logging (every statement logged) is on.
    pub audit_logging: bool,
}

impl RiskTier {
    /// Returns the tier of a risk class; `None` for `RISK_UNSPECIFIED`.
    pub fn of(risk: Risk) -> Option<Self> {
        Some(match risk {
            Risk::Unspecified => return None,
            Risk::None => {
                Self { backup_retention_days: 7, rotation_days: 90, monitoring: "none", audit_logging: false }
            }
            Risk::Low => {
                Self { backup_retention_days: 7, rotation_days: 30, monitoring: "basic", audit_logging: false }
            }
            Risk::Medium => {
                Self { backup_retention_days: 14, rotation_days: 30, monitoring: "standard", audit_logging: false }
            }
            Risk::High | Risk::Access => {
                Self { backup_retention_days: 35, rotation_days: 14, monitoring: "enhanced", audit_logging: true }
            }
        })
    }
}

/// What a size implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeTier {
    /// Postgres connection limit of the role and its database.
    pub connection_limit: u32,
    /// Instance class recorded in the catalog.
    pub instance_class: &'static str,
}

impl SizeTier {
    /// Returns the tier of a size; `None` for `SIZE_UNSPECIFIED`.
    pub fn of(size: Size) -> Option<Self> {
        Some(match size {
            Size::Unspecified => return None,
            Size::Small => Self { connection_limit: 20, instance_class: "db.t3.micro" },
            Size::Medium => Self { connection_limit: 50, instance_class: "db.t3.small" },
            Size::Large => Self { connection_limit: 100, instance_class: "db.t3.medium" },
            Size::Xlarge => Self { connection_limit: 200, instance_class: "db.t3.large" },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_the_platform_standard() {
        let risk = |risk| RiskTier::of(risk).unwrap();
        assert_eq!(risk(Risk::None).rotation_days, 90);
        assert_eq!(risk(Risk::Medium).backup_retention_days, 14);
        assert!(risk(Risk::Access).audit_logging);
        assert_eq!(risk(Risk::High).rotation_days, 14);
        assert_eq!(SizeTier::of(Size::Xlarge).unwrap().connection_limit, 200);
        assert_eq!(SizeTier::of(Size::Small).unwrap().instance_class, "db.t3.micro");
        assert_eq!((RiskTier::of(Risk::Unspecified), SizeTier::of(Size::Unspecified)), (None, None));
    }
}
