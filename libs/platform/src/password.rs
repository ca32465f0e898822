//! Passwords for database roles: made from the OS's randomness, and handed
//! to Postgres only as a SCRAM-SHA-256 verifier, so the password itself is
//! never in a statement the server could log.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use rand::TryRngCore as _;
use rand::distr::{Alphanumeric, SampleString as _};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

/// Characters in a generated password: letters and digits only (about 238
/// bits), so it needs no escaping in a connection URI, JSON or SQL.
pub const LENGTH: usize = 40;

/// SCRAM iterations, as Postgres uses by default (`scram_iterations`).
const ITERATIONS: u32 = 4096;

/// Returns a new password from the OS's random source.
pub fn generate() -> SecretString {
    SecretString::from(Alphanumeric.sample_string(&mut rand::rngs::OsRng.unwrap_err(), LENGTH))
}

/// Returns the SCRAM-SHA-256 verifier of `password` with a fresh salt, in
/// the form `CREATE ROLE … PASSWORD '…'` stores as is
/// (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, RFC 5802).
pub fn scram_verifier(password: &SecretString) -> String {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.try_fill_bytes(&mut salt).expect("the OS's random source works");
    verifier_with_salt(password.expose_secret().as_bytes(), &salt, ITERATIONS)
}

/// True when `verifier` (as `pg_authid.rolpassword` holds it) is the
/// SCRAM-SHA-256 verifier of `password`: the check that a role and its
/// secret agree, which does not depend on how the server authenticates.
pub fn matches(password: &SecretString, verifier: &str) -> bool {
    let parsed = verifier.strip_prefix("SCRAM-SHA-256$").and_then(|rest| {
        let (iterations, rest) = rest.split_once(':')?;
        let (salt, _) = rest.split_once('$')?;
        Some((iterations.parse::<u32>().ok()?, STANDARD.decode(salt).ok()?))
    });
    parsed.is_some_and(|(iterations, salt)| {
        verifier_with_salt(password.expose_secret().as_bytes(), &salt, iterations) == verifier
    })
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

fn verifier_with_salt(password: &[u8], salt: &[u8], iterations: u32) -> String {
    // Hi(password, salt, i): PBKDF2 with HMAC-SHA-256 and one block.
    let mut block = hmac(password, &[salt, &1u32.to_be_bytes()].concat());
    let mut salted = block;
    for _ in 1..iterations {
        block = hmac(password, &block);
        salted.iter_mut().zip(block).for_each(|(byte, next)| *byte ^= next);
    }
    let stored_key = Sha256::digest(hmac(&salted, b"Client Key"));
    let server_key = hmac(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_alphanumeric_and_different() {
        let (first, second) = (generate(), generate());
        assert_eq!(first.expose_secret().len(), LENGTH);
        assert!(first.expose_secret().chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(first.expose_secret(), second.expose_secret());
    }

    #[test]
    fn a_verifier_has_postgres_form_and_a_fresh_salt() {
        let password = SecretString::from("pencil");
        let (first, second) = (scram_verifier(&password), scram_verifier(&password));
        assert_ne!(first, second, "each verifier has its own salt");
        let (head, keys) = first.split_once('$').unwrap().1.split_once('$').unwrap();
        assert!(head.starts_with("4096:"), "{first}");
        let (stored, server) = keys.split_once(':').unwrap();
        assert_eq!(STANDARD.decode(stored).unwrap().len(), 32);
        assert_eq!(STANDARD.decode(server).unwrap().len(), 32);
        assert!(!first.contains("pencil"));
        assert!(matches(&password, &first) && matches(&password, &second));
        assert!(!matches(&SecretString::from("pen"), &first));
        assert!(!matches(&password, "md5abc"));
    }
}
