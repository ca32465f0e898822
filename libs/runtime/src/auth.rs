//! Identity: every call carries `authorization: Bearer <token>`; the server
//! hashes the token (SHA-256) and looks the hash up in the tokens file, which
//! holds only hashes, each mapped to a principal (subject and groups). A
//! missing or unknown token is `UNAUTHENTICATED`.
//!
//! The tokens file is YAML:
//!
//! ```yaml
//! tokens:
//!   - subject: alice
//!     groups: [databases-rds]
//!     sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8
//! ```
//!
//! A running service reads the file again when it changes (checked every
//! `auth.reload_interval_ms`), so tokens are added and revoked without a
//! restart; a file that no longer parses is logged and the tokens in force
//! stay.

use crate::Shutdown;
use anyhow::Context as _;
use gantry_proto::types::Principal;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tonic::{Request, Status};

/// One entry of the tokens file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// The principal's name.
    pub subject: String,
    /// The groups it belongs to (approval policy and admin checks use them).
    #[serde(default)]
    pub groups: Vec<String>,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
}

/// The tokens file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokensFile {
    /// Every known token.
    #[serde(default)]
    pub tokens: Vec<TokenEntry>,
}

/// Token hashes mapped to principals.
#[derive(Debug, Clone, Default)]
pub struct TokenStore {
    principals: HashMap<[u8; 32], Principal>,
    /// SHA-256 of the file text it was loaded from, to notice a change.
    source: Option<[u8; 32]>,
}

/// Returns the lowercase hex SHA-256 of a token, as the tokens file stores it.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl TokenStore {
    /// Loads the tokens file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read(path).with_context(|| format!("reading tokens file {}", path.display()))?;
        Self::parse(path, &text)
    }

    fn parse(path: &Path, text: &[u8]) -> anyhow::Result<Self> {
        let file: TokensFile =
            serde_yaml_ng::from_slice(text).with_context(|| format!("parsing tokens file {}", path.display()))?;
        Ok(Self { source: Some(Sha256::digest(text).into()), ..Self::from_file(file)? })
    }

    /// Returns how many tokens it knows.
    pub fn len(&self) -> usize {
        self.principals.len()
    }

    /// Returns true when it knows no token.
    pub fn is_empty(&self) -> bool {
        self.principals.is_empty()
    }

    /// Builds the store from parsed entries, checking every hash.
    pub fn from_file(file: TokensFile) -> anyhow::Result<Self> {
        let mut principals = HashMap::new();
        for entry in file.tokens {
            let mut digest = [0u8; 32];
            hex::decode_to_slice(&entry.sha256, &mut digest)
                .with_context(|| format!("token of {} is not a hex SHA-256", entry.subject))?;
            principals.insert(digest, Principal { subject: entry.subject, groups: entry.groups });
        }
        Ok(Self { principals, source: None })
    }

    /// Returns the principal of a clear token, if known.
    pub fn principal(&self, token: &str) -> Option<&Principal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.principals.get(&digest)
    }
}

/// A tonic interceptor that puts the caller's [`Principal`] into the
/// request's extensions, or refuses the call.
#[derive(Debug, Clone)]
pub struct Authenticator {
    current: watch::Receiver<Arc<TokenStore>>,
    checks: watch::Receiver<u64>,
}

impl Authenticator {
    /// Creates an authenticator over fixed tokens.
    pub fn new(store: TokenStore) -> Self {
        Self { current: watch::channel(Arc::new(store)).1, checks: watch::channel(0).1 }
    }

    /// Returns how many times the tokens file has been checked so far
    /// (changes when a check is done, whatever it found): a check counted
    /// after a write to the file has seen that write.
    pub fn checks(&self) -> watch::Receiver<u64> {
        self.checks.clone()
    }

    /// Creates an authenticator that starts with `store`, loaded from
    /// `path`, and reads `path` again whenever its text changes, checked
    /// every `every` (never when zero) until `shutdown`. A file that cannot
    /// be read or parsed is logged, and the tokens in force stay.
    pub fn watching(store: TokenStore, path: PathBuf, every: Duration, shutdown: Shutdown) -> Self {
        let source = store.source;
        let (sender, current) = watch::channel(Arc::new(store));
        let (checked, checks) = watch::channel(0);
        if !every.is_zero() {
            tokio::spawn(reload_on_change(sender, checked, source, path, every, shutdown));
        }
        Self { current, checks }
    }
}

/// Polls the tokens file and publishes a new store when its text changed,
/// counting each check.
async fn reload_on_change(
    sender: watch::Sender<Arc<TokenStore>>,
    checked: watch::Sender<u64>,
    in_force: Option<[u8; 32]>,
    path: PathBuf,
    every: Duration,
    shutdown: Shutdown,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    let stop = shutdown.wait();
    tokio::pin!(stop);
    let mut file = WatchedFile { path, in_force, refused: None, unreadable: false };
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = sender.closed() => return,
            _ = ticks.tick() => {}
        }
        if let Some(store) = file.check().await {
            sender.send_replace(Arc::new(store));
        }
        checked.send_modify(|checks| *checks += 1);
    }
}

/// What the reload loop knows of the tokens file.
struct WatchedFile {
    path: PathBuf,
    /// Digest of the text in force.
    in_force: Option<[u8; 32]>,
    /// Digest of a text refused already: a broken file is reported once,
    /// not at every check.
    refused: Option<[u8; 32]>,
    unreadable: bool,
}

impl WatchedFile {
    /// Reads the file once; returns its tokens if its text changed and parses.
    async fn check(&mut self) -> Option<TokenStore> {
        let path = &self.path;
        let text = match tokio::fs::read(path).await {
            Ok(text) => text,
            Err(error) => {
                if !self.unreadable {
                    tracing::warn!(path = %path.display(), %error, "cannot read the tokens file; the tokens in force stay");
                    self.unreadable = true;
                }
                return None;
            }
        };
        self.unreadable = false;
        let digest: [u8; 32] = Sha256::digest(&text).into();
        if Some(digest) == self.in_force || Some(digest) == self.refused {
            return None;
        }
        match TokenStore::parse(path, &text) {
            Ok(store) => {
                tracing::info!(path = %path.display(), tokens = store.len(), "tokens file changed; reloaded");
                self.in_force = Some(digest);
                self.refused = None;
                Some(store)
            }
            Err(error) => {
                tracing::warn!(
                    path = %path.display(),
                    error = format!("{error:#}"),
                    "tokens file changed but cannot be used; the tokens in force stay"
                );
                self.refused = Some(digest);
                None
            }
        }
    }
}

impl tonic::service::Interceptor for Authenticator {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let header =
            request.metadata().get("authorization").ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| Status::unauthenticated("authorization must be `Bearer <token>`"))?;
        let principal = self
            .current
            .borrow()
            .principal(token.trim())
            .cloned()
            .ok_or_else(|| Status::unauthenticated("unknown token"))?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}

/// Returns the principal the [`Authenticator`] attached to a request.
pub fn principal_of<T>(request: &Request<T>) -> Result<Principal, Status> {
    request.extensions().get::<Principal>().cloned().ok_or_else(|| Status::unauthenticated("no principal"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::service::Interceptor as _;

    fn authenticator() -> Authenticator {
        let file = TokensFile {
            tokens: vec![TokenEntry {
                subject: "bob".into(),
                groups: vec!["databases-rds".into()],
                sha256: hash_token("s3cret"),
            }],
        };
        Authenticator::new(TokenStore::from_file(file).unwrap())
    }

    fn call(authorization: Option<&str>) -> Result<Principal, Status> {
        let mut request = Request::new(());
        if let Some(value) = authorization {
            request.metadata_mut().insert("authorization", value.parse().unwrap());
        }
        let request = authenticator().call(request)?;
        principal_of(&request)
    }

    #[test]
    fn known_token_maps_to_its_principal() {
        let principal = call(Some("Bearer s3cret")).unwrap();
        assert_eq!(principal.subject, "bob");
        assert_eq!(principal.groups, vec!["databases-rds".to_string()]);
    }

    #[test]
    fn missing_malformed_or_unknown_token_is_unauthenticated() {
        for header in [None, Some("s3cret"), Some("Bearer nope"), Some("Basic s3cret")] {
            let status = call(header).unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unauthenticated, "{header:?}");
            assert!(!status.message().contains("s3cret"));
        }
    }

    #[test]
    fn a_bad_hash_is_refused_at_load() {
        let file = TokensFile { tokens: vec![TokenEntry { subject: "x".into(), groups: vec![], sha256: "zz".into() }] };
        assert!(TokenStore::from_file(file).is_err());
    }
}
