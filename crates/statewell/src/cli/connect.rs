//! Which engine a verb talks to, and the first connection to it, with the
//! same optional retry budget as the SDKs' (`connect_retry`).

use std::time::Duration;

use statewell_client::{Client, ClientError};
use tokio::time::Instant;

use super::Failure;
use crate::duration::parse_duration;

/// The first wait between attempts; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const DEFAULT_URL: &str = "ws://127.0.0.1:49134";

/// Which engine to talk to.
#[derive(clap::Args)]
pub struct Target {
    /// The engine's address (ws://, wss://, http:// or https://, same port).
    /// Default: ws://127.0.0.1:49134.
    #[arg(long, env = "STATEWELL_URL")]
    url: Option<String>,
    /// Bearer token, when the engine runs with --token.
    #[arg(long, env = "STATEWELL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Keep trying to connect for this long while nothing listens (e.g.
    /// 10s), for an engine that is still starting. Default: one attempt.
    #[arg(long, env = "STATEWELL_CONNECT_RETRY", value_parser = parse_retry)]
    connect_retry: Option<Duration>,
}

fn parse_retry(text: &str) -> Result<Duration, String> {
    parse_duration(text, Duration::ZERO, Duration::from_secs(3600))
}

impl Target {
    /// Connects, retrying `connect_failed` (and only that: a refused token
    /// or a bad URL will not get better) until the budget is spent.
    pub async fn connect(&self) -> Result<Client, Failure> {
        // An empty STATEWELL_URL means "not set", as in the SDKs.
        let url = self
            .url
            .as_deref()
            .filter(|url| !url.is_empty())
            .unwrap_or(DEFAULT_URL);
        let token = self.token.as_deref().filter(|token| !token.is_empty());
        let budget = self.connect_retry.unwrap_or(Duration::ZERO);
        let deadline = Instant::now() + budget;
        let mut backoff = FIRST_BACKOFF;
        loop {
            match Client::connect(url, token).await {
                Err(ClientError::Connect { url, reason }) if !budget.is_zero() => {
                    let now = Instant::now();
                    if now >= deadline {
                        let reason = format!(
                            "{reason} (retried for {})",
                            humantime::format_duration(budget)
                        );
                        return Err(ClientError::Connect { url, reason }.into());
                    }
                    tokio::time::sleep(backoff.min(deadline - now)).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                other => return other.map_err(Failure::from),
            }
        }
    }
}
