//! # tsunagu-api — the HTTP API over the runtime
//!
//! The only crate that knows HTTP and the API's JSON shapes; the center itself runs in
//! `tsunagu-runtime`.
//!
//! * `http` — the axum API: authentication, role and tenant checks, validation, OpenAPI,
//!   the WebSocket event stream, health and metrics. Handlers never route.
//! * `auth` — password hashing, tokens, login throttling (no HTTP inside).
//! * `dto` — the JSON shapes of the API, including the live events' (`dto::live`).
//!
//! [`start`] wires it together and returns a [`RunningServer`] with graceful shutdown: stop
//! accepting requests, let in-flight ones and every actor's queued commands finish and
//! commit, close WebSockets, close the database.

pub mod auth;
pub mod dto;
pub mod http;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::info;
use tsunagu_store::Store;

use crate::auth::throttle::{LoginThrottle, ThrottlePolicy};
pub use crate::http::HttpConfig;
use tsunagu_runtime::center::{Center, Clock, SystemClock};
use tsunagu_runtime::{housekeeping, metrics_handle, telephony};

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub http_addr: SocketAddr,
    pub http: HttpConfig,
    /// SIP and media; None runs the center without telephony.
    pub telephony: Option<telephony::TelephonyConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("recovery failed: {0}")]
    Recovery(#[from] tsunagu_runtime::center::CenterError),
    #[error("telephony: {0}")]
    Telephony(#[from] telephony::TelephonyError),
}

pub struct RunningServer {
    pub http_addr: SocketAddr,
    /// Where SIP listens, when telephony runs.
    pub sip_addr: Option<SocketAddr>,
    telephony: Option<telephony::Telephony>,
    shutdown_tx: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    center: Arc<Center>,
    store: Store,
}

impl RunningServer {
    /// Graceful shutdown; returns when every write has finished.
    pub async fn shutdown(self) {
        let _ = self.shutdown_tx.send(true);
        let _ = self.task.await;
        // Calls end first, so their contacts are closed with a cause before the actors stop.
        if let Some(t) = &self.telephony {
            t.shutdown().await;
        }
        self.center.shutdown().await;
        self.store.close().await;
        info!("stopped");
    }

    /// Waits until the server stops by itself (it does not, unless the listener fails).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        (&mut self.task).await.unwrap_or(Ok(()))
    }
}

/// Recovers every tenant from the store and starts serving HTTP.
pub async fn start(config: ServerConfig, store: Store) -> Result<RunningServer, ServerError> {
    start_with_clock(config, store, Arc::new(SystemClock)).await
}

pub async fn start_with_clock(
    config: ServerConfig,
    store: Store,
    clock: Arc<dyn Clock>,
) -> Result<RunningServer, ServerError> {
    let started_at = Instant::now();
    let center = Center::new(store.clone(), clock.clone());
    // Telephony first: the tenant actors learn at start where to send call directives.
    let telephony = match &config.telephony {
        Some(t) => {
            Some(telephony::Telephony::start(t.clone(), store.clone(), center.clone()).await?)
        }
        None => None,
    };
    center.start_all().await?;
    let listener = TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: config.http_addr,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(|source| ServerError::Bind {
        addr: config.http_addr,
        source,
    })?;
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);
    housekeeping::start(store.clone(), clock.clone(), shutdown_rx.clone());
    let (router, openapi) = http::routes();
    let app = Arc::new(http::App {
        store: store.clone(),
        center: center.clone(),
        throttle: LoginThrottle::new(ThrottlePolicy::default()),
        config: config.http.clone(),
        metrics: metrics_handle(),
        clock,
        openapi_json: openapi.to_pretty_json().unwrap_or_default(),
        started_at,
        shutdown: shutdown_rx.clone(),
        telephony: telephony.clone(),
    });
    let service = http::finish(router, app).into_make_service_with_connect_info::<SocketAddr>();
    let mut stop = shutdown_rx;
    let task = tokio::spawn(async move {
        axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|v| *v).await;
            })
            .await
    });
    info!(%http_addr, "listening");
    Ok(RunningServer {
        http_addr,
        sip_addr: telephony.as_ref().map(|t| t.sip_addr),
        telephony,
        shutdown_tx,
        task,
        center,
        store,
    })
}
