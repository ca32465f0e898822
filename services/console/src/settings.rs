//! Console's own settings (config section `console`, beside the settings
//! every service has).

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

/// Console's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsoleSettings {
    /// Where the page and the SSE endpoint listen (port 0 picks one).
    pub http_listen: SocketAddr,
    /// Events buffered per watching client; a client whose buffer stays
    /// full for `slow_client_ms` is cut off (RESOURCE_EXHAUSTED).
    pub client_buffer_events: usize,
    /// How long a full client buffer is tolerated, in milliseconds.
    pub slow_client_ms: u64,
    /// Watches open at once per protocol (gRPC, SSE); more are refused
    /// with RESOURCE_EXHAUSTED.
    pub max_watches: usize,
    /// Marks the login cookie `Secure` (set it when the page is served
    /// over HTTPS, by a proxy in front).
    pub cookie_secure: bool,
    /// Seconds between SSE keep-alive comments.
    pub keep_alive_s: u64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            client_buffer_events: 1024,
            slow_client_ms: 2000,
            max_watches: 256,
            cookie_secure: false,
            keep_alive_s: 15,
        }
    }
}

impl ConsoleSettings {
    /// Returns how long a full client buffer is tolerated.
    pub fn slow_client(&self) -> Duration {
        Duration::from_millis(self.slow_client_ms)
    }
}
