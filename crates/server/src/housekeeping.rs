//! Periodic housekeeping while the server runs: expired and revoked browser sessions are
//! deleted (at start, then every [`SESSION_PURGE_EVERY`]), so the tokens table does not
//! grow with every login for good. Stops with the server.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use tsunagu_store::Store;

use crate::center::Clock;

/// How often expired sessions are deleted.
pub const SESSION_PURGE_EVERY: Duration = Duration::from_secs(600);

/// Starts the housekeeping task; it ends when `stop` turns true.
pub fn start(
    store: Store,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match store.purge_expired_sessions(clock.now_ms()).await {
                Ok(0) => {}
                Ok(n) => info!(sessions = n, "expired sessions deleted"),
                Err(e) => warn!("expired sessions not deleted: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(SESSION_PURGE_EVERY) => {}
                _ = stop.wait_for(|v| *v) => return,
            }
        }
    })
}
