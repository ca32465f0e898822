//! The decommission form: the confirmation, the reason, and what becomes
//! of the secret (Secrets Manager's recovery window).

use crate::domain::spec::SecretPolicy;
use crate::domain::validate::{Choice, TEXT_MAX_BYTES, Violations, check_text};
use std::ops::RangeInclusive;

/// Days Secrets Manager keeps a deleted secret recoverable (AWS's range).
pub const RECOVERY_WINDOW_DAYS: RangeInclusive<u32> = 7..=30;
/// The recovery window when none is asked for.
pub const DEFAULT_RECOVERY_WINDOW_DAYS: u32 = 30;

/// A decommission as asked for, before validation.
#[derive(Debug, Clone, Default)]
pub struct DecommissionForm {
    /// Must equal the database's name.
    pub confirm_name: String,
    /// Why; required.
    pub reason: String,
    /// What becomes of the secret; unset means delete.
    pub secret_policy: Choice<SecretPolicy>,
    /// Recovery window in days; 0 means the default (delete) or none (retain).
    pub recovery_window_days: u32,
}

/// A valid decommission order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecommissionOrder {
    /// Why.
    pub reason: String,
    /// What becomes of the secret.
    pub secret_policy: SecretPolicy,
    /// Days the deleted secret stays recoverable (0 when it is retained).
    pub recovery_window_days: u32,
}

impl DecommissionForm {
    /// Checks every rule and returns the order, or every violation. The
    /// confirmation is compared with `database_name` when it is known (the
    /// request could be read), else only required.
    pub fn validate(&self, database_name: Option<&str>) -> Result<DecommissionOrder, Violations> {
        let mut violations = Violations::default();
        violations.check("confirm_name", check_confirmation(&self.confirm_name, database_name));
        violations.check("reason", check_text(&self.reason, TEXT_MAX_BYTES, true));
        let secret_policy = match self.secret_policy {
            Choice::Unset => Some(SecretPolicy::Delete),
            choice => violations.choose("secret_policy", choice, SecretPolicy::ALL),
        };
        let recovery_window_days =
            secret_policy.and_then(|policy| match recovery_window(policy, self.recovery_window_days) {
                Ok(days) => Some(days),
                Err(description) => {
                    violations.check("recovery_window_days", Err(description));
                    None
                }
            });
        violations.into_result(|| DecommissionOrder {
            reason: self.reason.clone(),
            secret_policy: secret_policy.expect("checked"),
            recovery_window_days: recovery_window_days.expect("checked"),
        })
    }
}

fn check_confirmation(confirm_name: &str, database_name: Option<&str>) -> Result<(), String> {
    match database_name {
        _ if confirm_name.is_empty() => Err("required: the database's name, to confirm".into()),
        Some(name) if confirm_name != name => Err(format!("must equal the database's name, {name:?}, exactly")),
        _ => Ok(()),
    }
}

fn recovery_window(policy: SecretPolicy, days: u32) -> Result<u32, String> {
    match (policy, days) {
        (SecretPolicy::Delete, 0) => Ok(DEFAULT_RECOVERY_WINDOW_DAYS),
        (SecretPolicy::Delete, days) if RECOVERY_WINDOW_DAYS.contains(&days) => Ok(days),
        (SecretPolicy::Delete, _) => Err(format!(
            "{} to {} days, or 0 for {DEFAULT_RECOVERY_WINDOW_DAYS}",
            RECOVERY_WINDOW_DAYS.start(),
            RECOVERY_WINDOW_DAYS.end()
        )),
        (SecretPolicy::Retain, 0) => Ok(0),
        (SecretPolicy::Retain, _) => Err("must be 0 when the secret is retained".into()),
    }
}
