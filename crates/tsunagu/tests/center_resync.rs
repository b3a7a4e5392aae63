//! The tenant actor when its step cannot be stored, or when it panics — while contacts and
//! calls are live. Crash recovery (closing calls) belongs to start-up only: here every
//! waiting contact keeps waiting, every conversation stays with its agent, and the calls'
//! side is told to check itself against the center (`VoiceDirective::Resync`).
//! On SQLite and PostgreSQL, with the demo center's configuration.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;
use tsunagu_acd::{Channel, Presence};
use tsunagu_runtime::center::{
    AgentCommand, Center, CenterError, Clock, LiveCall, NewContact, SystemClock, TenantHandle,
    VoiceCommand, VoiceDirective, VoiceReply,
};
use tsunagu_store::testdb::TestDb;
use tsunagu_store::{DbKind, Store};

/// Real time, and a panic on demand (a bug in the actor, as far as it can tell).
#[derive(Default)]
struct PanickyClock {
    panic_next: AtomicBool,
}

impl Clock for PanickyClock {
    fn now_ms(&self) -> i64 {
        if self.panic_next.swap(false, Ordering::SeqCst) {
            panic!("test: a bug in the middle of a step");
        }
        SystemClock.now_ms()
    }
}

struct Rig {
    _db: TestDb,
    store: Store,
    clock: Arc<PanickyClock>,
    center: Arc<Center>,
    h: TenantHandle,
    tenant: i64,
    directives: mpsc::Receiver<(i64, VoiceDirective)>,
}

impl Rig {
    async fn new(kind: DbKind) -> Rig {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(std::env::var("TEST_LOG").unwrap_or_else(|_| "warn".into()))
            .try_init();
        let db = TestDb::new(kind).await;
        let store = db.open().await.unwrap();
        tsunagu::demo::seed_if_empty(&store).await.unwrap();
        let tenant = store.tenant_by_slug("demo").await.unwrap().unwrap().id;
        let clock = Arc::new(PanickyClock::default());
        let center = Center::new(store.clone(), clock.clone());
        let (tx, directives) = mpsc::channel(4096);
        center.set_voice_sink(tx);
        center.start_all().await.unwrap();
        let h = center.tenant(tenant).await.unwrap();
        let mut rig = Rig {
            _db: db,
            store,
            clock,
            center,
            h,
            tenant,
            directives,
        };
        // Everyone signed out: the test decides who takes what.
        for a in rig.store.agents(tenant).await.unwrap() {
            rig.presence(&a.username, Presence::Offline).await;
        }
        rig.take_directives();
        rig
    }

    /// Shuts the center down (the actors stop once no handle is left).
    async fn finish(self) {
        let Rig { center, h, .. } = self;
        drop(h);
        center.shutdown().await;
    }

    async fn queue(&self, name: &str) -> i64 {
        let qs = self.store.queues(self.tenant).await.unwrap();
        qs.iter().find(|q| q.name == name).unwrap().id
    }

    async fn agent(&self, username: &str) -> (i64, i64) {
        let a = self.store.agents(self.tenant).await.unwrap();
        let a = a.iter().find(|a| a.username == username).unwrap();
        (a.agent.id, a.agent.user_id)
    }

    async fn presence(&self, username: &str, presence: Presence) {
        let (agent_id, user) = self.agent(username).await;
        self.h
            .agent(AgentCommand::SetPresence {
                agent_id,
                presence,
                reason: None,
                by_user: user,
            })
            .await
            .unwrap();
    }

    /// A call's contact, in the IVR and then queued in `queue`.
    async fn waiting_call(&self, queue: &str) -> i64 {
        let VoiceReply::Contact(c) = self
            .h
            .voice(VoiceCommand::NewCall {
                caller: "0312345678".into(),
                caller_name: None,
                called: "0501234567".into(),
            })
            .await
            .unwrap()
        else {
            panic!("a contact")
        };
        self.h
            .voice(VoiceCommand::Enqueue {
                contact: c.id,
                queue_id: self.queue(queue).await,
                priority: 0,
                requirements: vec![],
                attributes: json!({}),
            })
            .await
            .unwrap();
        c.id
    }

    /// A task in `queue` taken by `username` (who becomes available for it).
    async fn connected_task(&self, queue: &str, username: &str) -> i64 {
        let c = self
            .h
            .create_contact(NewContact {
                channel: Channel::Task,
                direction: "inbound".into(),
                queue_id: self.queue(queue).await,
                customer_id: None,
                customer_address: None,
                priority: 0,
                subject: Some("テスト".into()),
                attributes: json!({}),
                requirements: vec![],
                created_by: None,
            })
            .await
            .unwrap();
        self.presence(username, Presence::Available).await;
        let (agent_id, _) = self.agent(username).await;
        self.h
            .agent(AgentCommand::Accept {
                contact_id: c.id,
                agent_id,
            })
            .await
            .unwrap();
        c.id
    }

    async fn status(&self, contact: i64) -> String {
        self.store
            .contact(self.tenant, contact)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    async fn event_kinds(&self, contact: i64) -> Vec<String> {
        self.store
            .contact_events(self.tenant, contact)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    fn take_directives(&mut self) -> Vec<VoiceDirective> {
        let mut v = Vec::new();
        while let Ok((t, d)) = self.directives.try_recv() {
            assert_eq!(t, self.tenant);
            v.push(d);
        }
        v
    }

    async fn sql(&self, statement: &str) {
        sqlx::query(statement)
            .execute(self.store.pool())
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

fn resync_of(directives: &[VoiceDirective]) -> Vec<(i64, LiveCall)> {
    let found: Vec<_> = directives
        .iter()
        .filter_map(|d| match d {
            VoiceDirective::Resync { live } => Some(live.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "one resync directive in {directives:?}");
    found.into_iter().next().unwrap()
}

async fn panic_in_the_actor_keeps_live_contacts(kind: DbKind) {
    let mut rig = Rig::new(kind).await;
    let call = rig.waiting_call("support").await;
    let task = rig.connected_task("orders", "sato").await;
    rig.take_directives();

    rig.clock.panic_next.store(true, Ordering::SeqCst);
    assert!(
        rig.h.snapshot().await.is_err(),
        "the panicking command gets no answer"
    );
    // The tenant answers again at once: no 503 until a restart.
    let snap = rig.h.snapshot().await.expect("the actor is back");
    let support = rig.queue("support").await;
    let waiting = snap.queues.iter().find(|q| q.0 == support).unwrap().1;
    assert_eq!(waiting, 1, "the caller still waits in support");
    let (sato, _) = rig.agent("sato").await;
    let sato_state = snap.agents.iter().find(|a| a.agent_id == sato).unwrap();
    assert_eq!(
        sato_state.status.as_str(),
        "busy",
        "sato still has the task"
    );

    assert_eq!(rig.status(call).await, "queued");
    assert_eq!(rig.status(task).await, "connected");
    let k = rig.event_kinds(call).await;
    assert!(
        !k.iter().any(|x| x == "abandoned" || x == "recovered"),
        "{k:?}"
    );
    let live = resync_of(&rig.take_directives());
    assert_eq!(live, vec![(call, LiveCall::Waiting)]);

    // Routing goes on: the caller is offered to the agent who becomes available.
    rig.presence("suzuki", Presence::Available).await;
    let (suzuki, _) = rig.agent("suzuki").await;
    let d = rig.take_directives();
    assert!(
        d.iter().any(|d| matches!(d, VoiceDirective::Offer { contact, agent, .. } if *contact == call && *agent == suzuki)),
        "{d:?}"
    );
    rig.finish().await;
}

#[tokio::test]
async fn a_panic_in_the_actor_keeps_live_contacts_sqlite() {
    panic_in_the_actor_keeps_live_contacts(DbKind::Sqlite).await;
}

#[tokio::test]
async fn a_panic_in_the_actor_keeps_live_contacts_postgres() {
    panic_in_the_actor_keeps_live_contacts(DbKind::Postgres).await;
}

async fn refused_step_resyncs_without_closing_calls(kind: DbKind) {
    let mut rig = Rig::new(kind).await;
    // A note may be written once: the second wrap-up with the same note is refused.
    rig.sql(
        "CREATE UNIQUE INDEX test_refuse_repeated_note ON contact_notes (body) WHERE body = 'once'",
    )
    .await;
    let (sato, sato_user) = rig.agent("sato").await;
    let first = rig.connected_task("orders", "sato").await;
    rig.h
        .agent(AgentCommand::WrapUp {
            contact_id: first,
            agent_id: sato,
            disposition: None,
            note: Some("once".into()),
            by_user: sato_user,
        })
        .await
        .unwrap();
    let call = rig.waiting_call("support").await;
    let second = rig.connected_task("orders", "sato").await;
    rig.take_directives();

    let refused = rig
        .h
        .agent(AgentCommand::WrapUp {
            contact_id: second,
            agent_id: sato,
            disposition: None,
            note: Some("once".into()),
            by_user: sato_user,
        })
        .await;
    assert!(
        matches!(refused, Err(CenterError::Unavailable(_))),
        "{refused:?}"
    );
    // Nothing of the refused step happened; everything else is where it was.
    assert_eq!(rig.status(second).await, "connected");
    assert_eq!(rig.status(call).await, "queued");
    let k = rig.event_kinds(call).await;
    assert!(
        !k.iter().any(|x| x == "abandoned" || x == "recovered"),
        "{k:?}"
    );
    assert_eq!(
        resync_of(&rig.take_directives()),
        vec![(call, LiveCall::Waiting)]
    );
    // The agent can still finish the work (with another note).
    let done = rig
        .h
        .agent(AgentCommand::WrapUp {
            contact_id: second,
            agent_id: sato,
            disposition: None,
            note: Some("twice".into()),
            by_user: sato_user,
        })
        .await
        .unwrap();
    assert_eq!(done.unwrap().status, "completed");
    rig.finish().await;
}

#[tokio::test]
async fn a_refused_step_resyncs_without_closing_calls_sqlite() {
    refused_step_resyncs_without_closing_calls(DbKind::Sqlite).await;
}

#[tokio::test]
async fn a_refused_step_resyncs_without_closing_calls_postgres() {
    refused_step_resyncs_without_closing_calls(DbKind::Postgres).await;
}

async fn outage_holds_the_step_until_stored(kind: DbKind) {
    let mut rig = Rig::new(kind).await;
    // While a row is in `test_outage`, inserting a timeline event fails the way a busy or
    // unreachable database does (a transient error).
    rig.sql("CREATE TABLE test_outage (x INTEGER)").await;
    match kind {
        DbKind::Sqlite => {
            rig.sql(
                "CREATE TRIGGER test_outage BEFORE INSERT ON contact_events \
                 WHEN EXISTS (SELECT 1 FROM test_outage) BEGIN SELECT RAISE(ABORT, 'outage'); END",
            )
            .await
        }
        DbKind::Postgres => {
            rig.sql(
                "CREATE FUNCTION test_outage() RETURNS trigger AS $$ BEGIN \
                 IF EXISTS (SELECT 1 FROM test_outage) THEN \
                 RAISE EXCEPTION 'outage' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$ \
                 LANGUAGE plpgsql",
            )
            .await;
            rig.sql(
                "CREATE TRIGGER test_outage BEFORE INSERT ON contact_events \
                 FOR EACH ROW EXECUTE FUNCTION test_outage()",
            )
            .await;
        }
    }
    let call = rig.waiting_call("support").await;
    rig.take_directives();

    rig.sql("INSERT INTO test_outage (x) VALUES (1)").await;
    let (suzuki, suzuki_user) = rig.agent("suzuki").await;
    let h = rig.h.clone();
    let pending = tokio::spawn(async move {
        h.agent(AgentCommand::SetPresence {
            agent_id: suzuki,
            presence: Presence::Available,
            reason: None,
            by_user: suzuki_user,
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !pending.is_finished(),
        "nothing is answered before it is stored"
    );
    assert!(
        rig.take_directives().is_empty(),
        "no phone rings for an offer that is not stored"
    );
    assert_eq!(rig.status(call).await, "queued");

    rig.sql("DELETE FROM test_outage").await;
    pending
        .await
        .unwrap()
        .expect("stored once the database is back");
    assert_eq!(rig.status(call).await, "offered");
    let d = rig.take_directives();
    assert!(
        d.iter().any(|d| matches!(d, VoiceDirective::Offer { contact, agent, .. } if *contact == call && *agent == suzuki)),
        "{d:?}"
    );
    assert!(!d.iter().any(|d| matches!(d, VoiceDirective::Resync { .. })));
    let k = rig.event_kinds(call).await;
    assert!(
        !k.iter().any(|x| x == "abandoned" || x == "recovered"),
        "{k:?}"
    );
    rig.finish().await;
}

#[tokio::test]
async fn a_database_outage_holds_the_step_until_stored_sqlite() {
    outage_holds_the_step_until_stored(DbKind::Sqlite).await;
}

#[tokio::test]
async fn a_database_outage_holds_the_step_until_stored_postgres() {
    outage_holds_the_step_until_stored(DbKind::Postgres).await;
}
