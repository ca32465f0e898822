//! The platform's tier tables (crate `gantry-tiers`) for the domain's risk
//! classes and sizes.

use super::spec::{Risk, Size};
use super::wire::number_of;
use gantry_proto::types as pb;
pub use gantry_tiers::{RiskTier, SizeTier};

/// Returns the tier of a risk class.
pub fn risk_tier(risk: Risk) -> RiskTier {
    pb::Risk::try_from(number_of(Risk::ALL, &risk)).ok().and_then(RiskTier::of).expect("every risk has a tier")
}

/// Returns the tier of a size.
pub fn size_tier(size: Size) -> SizeTier {
    pb::Size::try_from(number_of(Size::ALL, &size)).ok().and_then(SizeTier::of).expect("every size has a tier")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_value_has_its_tier() {
        assert_eq!(risk_tier(Risk::None).rotation_days, 90);
        assert!(risk_tier(Risk::Access).audit_logging);
        assert_eq!(size_tier(Size::Xlarge).connection_limit, 200);
        for risk in Risk::ALL {
            risk_tier(*risk);
        }
        for size in Size::ALL {
            size_tier(*size);
        }
    }
}
