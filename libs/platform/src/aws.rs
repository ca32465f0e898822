//! The AWS configuration both clients (Secrets Manager, S3) are made from:
//! credentials from the standard AWS chain, the configured region and
//! endpoint (an S3-compatible store or an emulator), over rustls with ring.
//! Loaded on first use (it may read files and the environment).

use aws_config::SdkConfig;
use gantry_runtime::config::AwsSettings;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The shared AWS configuration, loaded once.
#[derive(Debug, Clone)]
pub struct Aws {
    settings: AwsSettings,
    config: Arc<OnceCell<SdkConfig>>,
}

impl Aws {
    /// The configuration of these settings (not loaded yet).
    pub fn new(settings: AwsSettings) -> Self {
        Self { settings, config: Default::default() }
    }

    /// True when an endpoint replaces AWS's own (S3 then uses path-style addressing).
    pub fn has_endpoint(&self) -> bool {
        self.settings.endpoint_url.is_some()
    }

    /// The loaded configuration.
    pub async fn config(&self) -> &SdkConfig {
        self.config
            .get_or_init(|| async {
                use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
                let http = aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::Ring))
                    .build_https();
                let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .http_client(http)
                    .region(aws_config::Region::new(self.settings.region.clone()));
                if let Some(endpoint) = &self.settings.endpoint_url {
                    loader = loader.endpoint_url(endpoint);
                }
                loader.load().await
            })
            .await
    }
}
