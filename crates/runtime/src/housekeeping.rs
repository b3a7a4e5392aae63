//! Periodic housekeeping while the server runs (at start, then every
//! [`SESSION_PURGE_EVERY`]); stops with the server:
//!
//! * expired and revoked browser sessions are deleted, so the tokens table does not grow
//!   with every login for good;
//! * the KPI intervals of past days not stored yet are computed from their events and
//!   stored ([`crate::reports::store_missing_days`], the last [`KPI_BACKFILL_DAYS`] days up to
//!   the day before yesterday — yesterday is the tenant actor's to store as it ends), so the
//!   first long report after an upgrade or an outage at midnight does not read a month of
//!   events while a supervisor waits.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use tsunagu_store::Store;

use crate::center::Clock;

/// How often expired sessions are deleted.
pub const SESSION_PURGE_EVERY: Duration = Duration::from_secs(600);

/// How far back missing KPI days are filled: the longest report.
pub const KPI_BACKFILL_DAYS: i64 = 93;

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
            backfill(&store, clock.now_ms(), &stop).await;
            tokio::select! {
                _ = tokio::time::sleep(SESSION_PURGE_EVERY) => {}
                _ = stop.wait_for(|v| *v) => return,
            }
        }
    })
}

/// Stores the KPI days every tenant is missing, one day at a time, until done or stopped.
async fn backfill(store: &Store, now: i64, stop: &watch::Receiver<bool>) {
    let tenants = match store.tenants().await {
        Ok(t) => t,
        Err(e) => return warn!("KPI days not filled: {e}"),
    };
    for t in tenants {
        if *stop.borrow() {
            return;
        }
        match crate::reports::store_missing_days(store, &t, now, KPI_BACKFILL_DAYS).await {
            Ok(0) => {}
            Ok(n) => info!(tenant = %t.slug, days = n, "past KPI days stored"),
            Err(e) => warn!(tenant = %t.slug, "past KPI days not stored: {e}"),
        }
    }
}
