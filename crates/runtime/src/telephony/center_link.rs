//! The switch's bookkeeping, carried to the tenant actors. One worker per tenant keeps the
//! order of a call's commands (its contact is created before it is queued, queued before it
//! is answered, answered before it ends) and sends whatever has piled up as one batch — one
//! transaction — so a busy center does not pay a commit per IVR step.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tsunagu_flow::model::SkillStep;
use tsunagu_store::Store;

use super::Msg;
use crate::center::mapping::{Requirement, Step};
use crate::center::{Center, CenterError, CenterResult, VoiceCommand, VoiceReply};

/// What to do with the center's answer.
pub(crate) type Then = Option<Box<dyn FnOnce(CenterResult<VoiceReply>) -> Option<Msg> + Send>>;

/// A command, possibly naming queues and skills the worker turns into ids.
pub(crate) enum Pending {
    Ready(VoiceCommand),
    Enqueue {
        contact: i64,
        queue: String,
        priority: i64,
        requirements: Vec<SkillStep>,
        attributes: serde_json::Value,
    },
    Callback {
        contact: i64,
        queue: Option<String>,
        number: String,
    },
    Voicemail {
        contact: i64,
        queue: String,
        recording: i64,
        caller: String,
    },
}

struct Job {
    cmd: Pending,
    then: Then,
}

pub(crate) struct CenterLink {
    center: Arc<Center>,
    store: Store,
    shell: mpsc::Sender<Msg>,
    workers: HashMap<i64, (mpsc::UnboundedSender<Job>, JoinHandle<()>)>,
    /// Jobs sent and not yet answered, over all workers. Unbounded queues on purpose: the
    /// shell's loop must never wait (it serves every call), and a call's bookkeeping must
    /// never be dropped; instead the shell admits no new call while this is high (see
    /// `Shell::room_for_a_call`), which bounds it by the work of calls already admitted.
    backlog: Arc<AtomicUsize>,
}

impl CenterLink {
    pub fn new(center: Arc<Center>, store: Store, shell: mpsc::Sender<Msg>) -> CenterLink {
        CenterLink {
            center,
            store,
            shell,
            workers: HashMap::new(),
            backlog: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Commands waiting for the center (sent, not yet answered).
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    pub fn send(&mut self, tenant_id: i64, cmd: Pending, then: Then) {
        let (tx, _) = self.workers.entry(tenant_id).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let w = Worker {
                tenant_id,
                center: self.center.clone(),
                store: self.store.clone(),
                shell: self.shell.clone(),
                backlog: self.backlog.clone(),
                queues: HashMap::new(),
                skills: HashMap::new(),
            };
            (tx, tokio::spawn(w.run(rx)))
        });
        if tx.send(Job { cmd, then }).is_ok() {
            self.backlog.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits until everything sent so far has reached the center.
    pub async fn close(self) {
        for (_, (tx, task)) in self.workers {
            drop(tx);
            let _ = task.await;
        }
    }
}

struct Worker {
    tenant_id: i64,
    center: Arc<Center>,
    store: Store,
    shell: mpsc::Sender<Msg>,
    backlog: Arc<AtomicUsize>,
    queues: HashMap<String, i64>,
    skills: HashMap<String, i64>,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        while let Some(first) = rx.recv().await {
            let mut jobs = vec![first];
            while jobs.len() < 256 {
                match rx.try_recv() {
                    Ok(j) => jobs.push(j),
                    Err(_) => break,
                }
            }
            let mut resolved: Vec<Result<VoiceCommand, CenterError>> =
                Vec::with_capacity(jobs.len());
            for j in &mut jobs {
                let cmd = std::mem::replace(
                    &mut j.cmd,
                    Pending::Ready(VoiceCommand::Position { contact: 0 }),
                );
                resolved.push(self.resolve(cmd).await);
            }
            let cmds: Vec<VoiceCommand> = resolved
                .iter()
                .filter_map(|r| r.as_ref().ok().cloned())
                .collect();
            let mut answers = match self.center.tenant(self.tenant_id).await {
                Ok(h) => match h.voice_batch(cmds).await {
                    Ok(a) => a.into_iter().map(Some).collect::<Vec<_>>(),
                    Err(e) => {
                        tracing::error!(
                            tenant = self.tenant_id,
                            "call bookkeeping not stored: {e}"
                        );
                        let n = resolved.iter().filter(|r| r.is_ok()).count();
                        (0..n)
                            .map(|_| Some(Err(CenterError::Unavailable(e.to_string()))))
                            .collect()
                    }
                },
                Err(e) => {
                    let n = resolved.iter().filter(|r| r.is_ok()).count();
                    (0..n)
                        .map(|_| Some(Err(CenterError::Unavailable(e.to_string()))))
                        .collect()
                }
            }
            .into_iter();
            self.backlog.fetch_sub(jobs.len(), Ordering::Relaxed);
            for (job, r) in jobs.into_iter().zip(resolved) {
                let result = match r {
                    Ok(_) => answers
                        .next()
                        .flatten()
                        .unwrap_or(Err(CenterError::ShuttingDown)),
                    Err(e) => Err(e),
                };
                if let Err(e) = &result {
                    tracing::warn!(tenant = self.tenant_id, "call command refused: {e}");
                }
                if let Some(msg) = job.then.and_then(|f| f(result)) {
                    let _ = self.shell.send(msg).await;
                }
            }
        }
    }

    async fn resolve(&mut self, p: Pending) -> Result<VoiceCommand, CenterError> {
        Ok(match p {
            Pending::Ready(c) => c,
            Pending::Enqueue {
                contact,
                queue,
                priority,
                requirements,
                attributes,
            } => {
                let queue_id = self.queue(&queue).await?;
                let mut reqs = Vec::new();
                for r in requirements {
                    reqs.push(Requirement {
                        skill_id: self.skill(&r.skill).await?,
                        steps: r
                            .steps
                            .iter()
                            .map(|&(after_secs, min_level)| Step {
                                after_secs,
                                min_level,
                            })
                            .collect(),
                    });
                }
                VoiceCommand::Enqueue {
                    contact,
                    queue_id,
                    priority,
                    requirements: reqs,
                    attributes,
                }
            }
            Pending::Callback {
                contact,
                queue,
                number,
            } => {
                let queue_id = match queue {
                    Some(q) => Some(self.queue(&q).await?),
                    None => None,
                };
                VoiceCommand::Callback {
                    contact,
                    queue_id,
                    number,
                }
            }
            Pending::Voicemail {
                contact,
                queue,
                recording,
                caller,
            } => VoiceCommand::Voicemail {
                contact,
                queue_id: self.queue(&queue).await?,
                recording,
                caller,
            },
        })
    }

    async fn queue(&mut self, name: &str) -> Result<i64, CenterError> {
        if !self.queues.contains_key(name) {
            let all = self
                .store
                .queues(self.tenant_id)
                .await
                .map_err(|e| CenterError::Unavailable(e.to_string()))?;
            self.queues = all.into_iter().map(|q| (q.name, q.id)).collect();
        }
        self.queues
            .get(name)
            .copied()
            .ok_or_else(|| CenterError::NotFound(format!("queue {name}")))
    }

    async fn skill(&mut self, name: &str) -> Result<i64, CenterError> {
        if !self.skills.contains_key(name) {
            let all = self
                .store
                .skills(self.tenant_id)
                .await
                .map_err(|e| CenterError::Unavailable(e.to_string()))?;
            self.skills = all.into_iter().map(|s| (s.name, s.id)).collect();
        }
        self.skills
            .get(name)
            .copied()
            .ok_or_else(|| CenterError::NotFound(format!("skill {name}")))
    }
}
