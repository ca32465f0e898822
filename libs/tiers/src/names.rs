//! Names derived from validated ones, always legal themselves: when the
//! plain form would be too long, its first part is shortened and a digest
//! of the whole first part keeps names of different inputs apart. Intake
//! derives defaults with them; every export names Backstage entities with
//! [`entity_name`], so the same resource has the same entity everywhere.

use sha2::{Digest as _, Sha256};

/// Longest Backstage entity name (`metadata.name`).
pub const ENTITY_NAME_MAX_BYTES: usize = 63;
/// Hex digits of the digest a shortened name carries.
const DIGEST_CHARS: usize = 8;

/// Returns `{head}{separator}{tail}`, or, when that is longer than `max`
/// bytes, `{head cut short}{separator}{digest of head}{separator}{tail}`.
/// `head` and `tail` are ASCII (they come from validated names).
pub fn fit(head: &str, separator: char, tail: &str, max: usize) -> String {
    let plain = format!("{head}{separator}{tail}");
    if plain.len() <= max {
        return plain;
    }
    let digest = hex::encode(Sha256::digest(head.as_bytes()));
    let keep = max.saturating_sub(tail.len() + DIGEST_CHARS + 2);
    let kept = head[..keep.min(head.len())].trim_end_matches(['-', '_', '.']);
    format!("{kept}{separator}{}{separator}{tail}", &digest[..DIGEST_CHARS])
}

/// The Backstage `metadata.name` of a resource: `<name with - for _>-<environment>`,
/// shortened to Backstage's 63 characters for long names.
pub fn entity_name(resource: &str, environment: &str) -> String {
    fit(&resource.replace('_', "-"), '-', environment, ENTITY_NAME_MAX_BYTES)
}

/// Checks Backstage's rule for `metadata.name`: 1 to 63 characters of
/// `[a-zA-Z0-9]` separated by `-`, `_` or `.`, letters or digits at both ends.
pub fn check_entity_name(name: &str) -> Result<(), String> {
    let edges = [name.chars().next(), name.chars().last()];
    let well_formed = (1..=ENTITY_NAME_MAX_BYTES).contains(&name.len())
        && edges.iter().all(|c| c.is_some_and(|c| c.is_ascii_alphanumeric()))
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if well_formed { Ok(()) } else { Err(format!("{name:?} is not a valid Backstage entity name")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_stay_and_long_ones_fit() {
        assert_eq!(entity_name("orders_db", "prod"), "orders-db-prod");
        let long = format!("a{}", "b_".repeat(31));
        let name = entity_name(&long, "staging");
        assert_eq!(name.len(), ENTITY_NAME_MAX_BYTES);
        check_entity_name(&name).unwrap();
        assert_ne!(name, entity_name(&format!("a{}", "c_".repeat(31)), "staging"));
    }
}
