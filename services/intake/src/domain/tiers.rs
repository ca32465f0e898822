//! The platform's tier tables: what a risk class and a size imply.

use super::spec::{Risk, Size};

/// Controls implied by a risk class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskTier {
    /// Backup retention in days.
    pub backup_retention_days: u32,
    /// Credential rotation period in days.
    pub rotation_days: u32,
    /// Monitoring level (`none`, `basic`, `standard`, `enhanced`).
    pub monitoring: &'static str,
    /// Whether audit logging is on.
    pub audit_logging: bool,
}

impl RiskTier {
    /// Returns the tier of a risk class.
    pub fn of(risk: Risk) -> Self {
        match risk {
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
        }
    }
}

/// What a size implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizeTier {
    /// Postgres connection limit of the role.
    pub connection_limit: u32,
    /// Instance class recorded in the catalog.
    pub instance_class: &'static str,
}

impl SizeTier {
    /// Returns the tier of a size.
    pub fn of(size: Size) -> Self {
        match size {
            Size::Small => Self { connection_limit: 20, instance_class: "db.t3.micro" },
            Size::Medium => Self { connection_limit: 50, instance_class: "db.t3.small" },
            Size::Large => Self { connection_limit: 100, instance_class: "db.t3.medium" },
            Size::Xlarge => Self { connection_limit: 200, instance_class: "db.t3.large" },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_match_the_platform_standard() {
        assert_eq!(RiskTier::of(Risk::None).rotation_days, 90);
        assert_eq!(RiskTier::of(Risk::Medium).backup_retention_days, 14);
        assert!(RiskTier::of(Risk::Access).audit_logging);
        assert_eq!(RiskTier::of(Risk::High).rotation_days, 14);
        assert_eq!(SizeTier::of(Size::Xlarge).connection_limit, 200);
        assert_eq!(SizeTier::of(Size::Small).instance_class, "db.t3.micro");
    }
}
