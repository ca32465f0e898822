//! TLS for the gRPC server: the certificate and key are read from PEM files
//! and read again when they change (a renewed certificate is served to new
//! connections without a restart); client certificates are verified
//! against a CA when one is configured, required or optional.

use crate::Shutdown;
use anyhow::Context as _;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

/// TLS of the gRPC server (section `grpc.tls`); plaintext when unset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key of the leaf certificate.
    pub key_file: PathBuf,
    /// PEM CA that signs client certificates; clients may present one when
    /// set (and must, with `require_client_cert`).
    #[serde(default)]
    pub client_ca_file: Option<PathBuf>,
    /// Refuses clients without a certificate signed by `client_ca_file`.
    #[serde(default)]
    pub require_client_cert: bool,
    /// How often the files are checked for changes, in milliseconds.
    #[serde(default = "default_reload_interval_ms")]
    pub reload_interval_ms: u64,
}

fn default_reload_interval_ms() -> u64 {
    5000
}

/// Accepts TLS connections with the current certificate.
pub(crate) type TlsAcceptor = tokio_rustls::TlsAcceptor;

/// Serves the newest certificate read from the files.
#[derive(Debug)]
struct ReloadingCertificate {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().map(|key| key.clone()).unwrap_or_else(|poisoned| poisoned.into_inner().clone()))
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_key(settings: &TlsSettings, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(&settings.cert_file)
        .and_then(|certificates| certificates.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading certificate {}", settings.cert_file.display()))?;
    anyhow::ensure!(!chain.is_empty(), "{} holds no certificate", settings.cert_file.display());
    let key = PrivateKeyDer::from_pem_file(&settings.key_file)
        .with_context(|| format!("reading private key {}", settings.key_file.display()))?;
    CertifiedKey::from_der(chain, key, provider).context("the certificate and the key do not match")
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|metadata| metadata.modified()).ok()
}

/// Builds the acceptor and starts watching the files until `shutdown`.
pub(crate) fn acceptor(settings: &TlsSettings, shutdown: Shutdown) -> anyhow::Result<TlsAcceptor> {
    let provider = provider();
    let resolver = Arc::new(ReloadingCertificate { current: RwLock::new(Arc::new(load_key(settings, &provider)?)) });
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    anyhow::ensure!(
        settings.client_ca_file.is_some() || !settings.require_client_cert,
        "grpc.tls.require_client_cert needs grpc.tls.client_ca_file (the CA client certificates are checked against)"
    );
    let builder = match &settings.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(file) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in
                CertificateDer::pem_file_iter(file).with_context(|| format!("reading client CA {}", file.display()))?
            {
                roots.add(certificate.with_context(|| format!("reading client CA {}", file.display()))?)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = if settings.require_client_cert { verifier } else { verifier.allow_unauthenticated() };
            builder.with_client_cert_verifier(verifier.build().context("client certificate verifier")?)
        }
    };
    let mut config = builder.with_cert_resolver(resolver.clone());
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio::spawn(watch(settings.clone(), resolver, provider, shutdown));
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Reads the files again whenever either changes; a pair that does not
/// load (half-written, mismatched) is logged and the one in force stays.
async fn watch(
    settings: TlsSettings,
    resolver: Arc<ReloadingCertificate>,
    provider: Arc<CryptoProvider>,
    shutdown: Shutdown,
) {
    let every = Duration::from_millis(settings.reload_interval_ms.max(100));
    let stamp = || (modified(&settings.cert_file), modified(&settings.key_file));
    let mut seen = stamp();
    let stopping = shutdown.wait();
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            _ = &mut stopping => return,
            _ = tokio::time::sleep(every) => {}
        }
        let now = stamp();
        if now == seen {
            continue;
        }
        match load_key(&settings, &provider) {
            Ok(key) => {
                *resolver.current.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(key);
                seen = now;
                tracing::info!(cert = %settings.cert_file.display(), "TLS certificate reloaded");
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), "TLS certificate not reloaded; keeping the current one")
            }
        }
    }
}
