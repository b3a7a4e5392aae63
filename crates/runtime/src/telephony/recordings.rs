//! Recording rows, written in order by one task so a recording's row exists before it is
//! finished or moved, and the call path never waits for the database.

use tokio::sync::mpsc;
use tracing::{info, warn};
use tsunagu_store::voice::RecordingRow;
use tsunagu_store::Store;

pub(crate) enum RecJob {
    Create(RecordingRow),
    Finish {
        id: i64,
        ended_at: i64,
        duration_ms: i64,
        status: &'static str,
    },
    /// A voicemail belongs to the task made from it.
    Move {
        id: i64,
        contact: i64,
    },
}

/// Starts the writer. Recordings a crash left open are closed as `interrupted` first: the
/// file holds the audio up to the crash.
pub(crate) async fn start(store: Store, now: i64) -> mpsc::UnboundedSender<RecJob> {
    match store.unfinished_recordings().await {
        Ok(open) => {
            for r in open {
                let _ = store
                    .finish_recording(r.id, now, now - r.started_at, "interrupted")
                    .await;
                info!(recording = r.id, "recording interrupted by a restart");
            }
        }
        Err(e) => warn!("cannot read unfinished recordings: {e}"),
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<RecJob>();
    tokio::spawn(async move {
        while let Some(job) = rx.recv().await {
            let r = match job {
                RecJob::Create(row) => store.create_recording(&row).await,
                RecJob::Finish {
                    id,
                    ended_at,
                    duration_ms,
                    status,
                } => {
                    store
                        .finish_recording(id, ended_at, duration_ms, status)
                        .await
                }
                RecJob::Move { id, contact } => store.move_recording(id, contact).await,
            };
            if let Err(e) = r {
                warn!("recording row not written: {e}");
            }
        }
    });
    tx
}
