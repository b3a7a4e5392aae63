//! The call switch and a tenant's actor run together in one process under one fake clock,
//! with the messages between them held in queues, so a test decides in which order they
//! arrive. Built like the live system: the switch (`tsunagu_voice`, sans-IO) on one side;
//! the real tenant actor (router, rows, commits to a real SQLite database) on the other.
//!
//! What crosses the boundary, and how it travels live (`telephony::shell`,
//! `telephony::center_link`):
//! * switch → center: the switch's contact bookkeeping (`Out::CreateContact`, `Enqueue`,
//!   `Accept`, `Connected`, `Reject`, `EndContact`, `Event`) as `VoiceCommand`s, in order;
//! * center → switch, answers: each command's reply (contact created, queued, offer still
//!   stands), in order;
//! * center → switch, directives: offers, withdrawals, hang-ups, in order — on another
//!   channel than the answers, so the two may overtake each other.
//!
//! SIP and media facts that are not part of the boundary (a leg's media is ready, a phone is
//! located) are answered at once. The world remembers what happened on the wire: which legs
//! rang, which were hung up, whether the caller was ever connected to an agent.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot};
use tsunagu_domain::contact::EventKind;
use tsunagu_domain::role::Role;
use tsunagu_flow::{load, Checks, Flow};
use tsunagu_runtime::center::actor::{Rebuild, TenantActor};
use tsunagu_runtime::center::{
    AgentCommand, Clock, Command, VoiceCommand, VoiceDirective, VoiceReply,
};
use tsunagu_store::rows::TenantRow;
use tsunagu_store::Store;
use tsunagu_voice::{
    AgentId, CallId, CenterIn, ContactId, LegId, Out, Party, PhoneTarget, SipIn, SourceSpec,
    Switch, SwitchConfig,
};

pub const T0: i64 = 1_767_571_200_000;
pub const CUSTOMER: LegId = 1 << 48;

/// The clock both sides read: it moves only when the test moves it.
pub struct FakeClock(AtomicI64);

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A database with one tenant ready for calls: queue `one` (longest idle) and queue `all`
/// (ring-all), agents `a1` and `a2` in both, made once and copied for every run.
pub struct Template {
    _dir: tempfile::TempDir,
    file: PathBuf,
    pub tenant: TenantRow,
    pub queues: HashMap<String, i64>,
    pub agents: Vec<(AgentId, i64)>,
}

impl Template {
    pub async fn new() -> Template {
        let dir = scratch_dir();
        let file = dir.path().join("template.db");
        let store = Store::open(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        let tenant = tsunagu::provision::create_tenant(
            &store,
            tsunagu::provision::NewTenant {
                slug: "x",
                name: "crossing",
                time_zone: "Asia/Tokyo",
                region: "JP",
            },
        )
        .await
        .unwrap();
        let mut queues = HashMap::new();
        for (name, strategy) in [("one", "longest-idle"), ("all", "ring-all")] {
            let row = tsunagu_store::rows::QueueRow {
                id: store.next_id(T0),
                tenant_id: tenant.id,
                name: name.into(),
                display_name: name.into(),
                strategy: strategy.into(),
                priority: 0,
                sl_target_pct: 80,
                sl_threshold_secs: 20,
                max_wait_secs: None,
                overflow_queue_id: None,
                wrap_up_secs: Some(30),
                no_answer_timeout_secs: 20,
                max_no_answers: 100,
                requirements: "[]".into(),
                created_at: T0,
                updated_at: T0,
                record_calls: false,
            };
            store.create_queue(&row).await.unwrap();
            queues.insert(name.to_string(), row.id);
        }
        let mut agents = Vec::new();
        for name in ["a1", "a2"] {
            let (user, agent) = tsunagu::provision::create_user(
                &store,
                &tenant,
                tsunagu::provision::NewUser {
                    username: name,
                    display_name: name,
                    role: Role::Agent,
                    password: "crossing-agent",
                    agent: Some(tsunagu::provision::AgentSpec {
                        queues: queues.values().map(|&q| (q, 0)).collect(),
                        ..Default::default()
                    }),
                },
            )
            .await
            .unwrap();
            agents.push((agent.unwrap().agent.id, user.id));
        }
        // Everything into the main file, which is what gets copied.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(store.pool())
            .await
            .unwrap();
        store.close().await;
        Template {
            _dir: dir,
            file,
            tenant,
            queues,
            agents,
        }
    }
}

/// Somewhere fast to keep SQLite files that are made and thrown away by the hundred.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

/// How a command's answer returns to the switch.
pub enum Then {
    Nothing,
    Created { call: CallId },
    Enqueued { contact: ContactId },
    Accepted { contact: ContactId, agent: AgentId },
    Position { contact: ContactId },
}

/// A message on its way from the switch (or a screen) to the center.
pub enum ToCenter {
    Voice(VoiceCommand, Then),
    Agent(AgentCommand),
}

/// One of the things that may happen next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The center takes the next command.
    Center,
    /// The switch takes the next answer from the center.
    Answer,
    /// The switch takes the next directive from the center.
    Directive,
}

pub struct World {
    _dir: tempfile::TempDir,
    pub clock: Arc<FakeClock>,
    pub store: Store,
    pub actor: TenantActor,
    sink: mpsc::Receiver<(i64, VoiceDirective)>,
    pub sw: Switch,
    pub tenant: i64,
    pub queues: HashMap<String, i64>,
    pub agents: Vec<(AgentId, i64)>,
    to_center: VecDeque<ToCenter>,
    answers: VecDeque<CenterIn>,
    directives: VecDeque<VoiceDirective>,
    /// Agents' phone legs the switch dialed, by leg.
    pub dialed: HashMap<LegId, AgentId>,
    pub hung_up: HashSet<LegId>,
    /// The agent the caller was connected to (heard), if ever.
    pub bridged_to: Option<AgentId>,
    pub contact: Option<ContactId>,
    /// Errors the center answered (a refused command is fine; it must change nothing).
    pub refused: Vec<String>,
    next_port: u16,
}

impl World {
    pub async fn new(t: &Template) -> World {
        let dir = scratch_dir();
        let file = dir.path().join("run.db");
        std::fs::copy(&t.file, &file).unwrap();
        let store = Store::open(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        let clock = Arc::new(FakeClock(AtomicI64::new(T0)));
        let (events, _) = broadcast::channel(1024);
        let (tx, sink) = mpsc::channel(4096);
        let mut actor = TenantActor::new(t.tenant.clone(), store.clone(), clock.clone(), events)
            .with_voice(Some(tx));
        actor.rebuild(Rebuild::Startup).await.unwrap();
        let mut w = World {
            _dir: dir,
            clock,
            store,
            actor,
            sink,
            sw: Switch::new(SwitchConfig::default()),
            tenant: t.tenant.id,
            queues: t.queues.clone(),
            agents: t.agents.clone(),
            to_center: VecDeque::new(),
            answers: VecDeque::new(),
            directives: VecDeque::new(),
            dialed: HashMap::new(),
            hung_up: HashSet::new(),
            bridged_to: None,
            contact: None,
            refused: Vec::new(),
            next_port: 20_000,
        };
        w.collect_directives();
        w
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn advance(&self, ms: i64) {
        self.clock.0.fetch_add(ms, Ordering::SeqCst);
    }

    // ----- what can happen next ------------------------------------------------------

    pub fn enabled(&self) -> Vec<Step> {
        let mut v = Vec::new();
        if !self.to_center.is_empty() {
            v.push(Step::Center);
        }
        if !self.answers.is_empty() {
            v.push(Step::Answer);
        }
        if !self.directives.is_empty() {
            v.push(Step::Directive);
        }
        v
    }

    pub async fn step(&mut self, s: Step) {
        match s {
            Step::Center => self.deliver_to_center().await,
            Step::Answer => {
                let a = self.answers.pop_front().unwrap();
                let now = self.now();
                self.sw.handle_center(a, now);
                self.drain_switch();
            }
            Step::Directive => {
                let d = self.directives.pop_front().unwrap();
                self.directive(d);
            }
        }
    }

    /// Delivers everything in flight, in a fixed order, until nothing moves.
    pub async fn settle(&mut self) {
        while let Some(&s) = self.enabled().first() {
            self.step(s).await;
        }
    }

    // ----- the switch's side -----------------------------------------------------------

    pub fn sip(&mut self, ev: SipIn) {
        let now = self.now();
        self.sw.handle_sip(ev, now);
        self.drain_switch();
    }

    /// A caller rings in; the flow puts them straight into `queue`.
    pub fn incoming(&mut self, queue: &str) {
        let src = format!(
            "name = \"q\"\nstart = \"q\"\nlanguage = \"ja\"\n\n[nodes.q]\ntype = \"queue\"\nqueue = \"{queue}\"\nannounce_secs = 0\n"
        );
        let flow: Arc<Flow> = Arc::new(load("q.toml", &src, &Checks::none()).unwrap());
        self.sip(SipIn::Incoming {
            leg: CUSTOMER,
            tenant_id: self.tenant,
            caller: "0312345678".into(),
            caller_name: None,
            called: "0501234567".into(),
            offer: Some(sdp(4000)),
            flow: Some(flow),
            call_id: "crossing".into(),
        });
    }

    /// The leg on which the switch rang `agent`'s phone (the latest).
    pub fn ring_leg(&self, agent: AgentId) -> Option<LegId> {
        self.dialed
            .iter()
            .filter(|(l, a)| **a == agent && !self.hung_up.contains(l))
            .map(|(l, _)| *l)
            .max()
    }

    /// A request to the switch from the API (hold, monitor, …), its outputs carried out.
    pub fn request<T>(&mut self, f: impl FnOnce(&mut Switch, i64) -> T) -> T {
        let now = self.now();
        let r = f(&mut self.sw, now);
        self.drain_switch();
        r
    }

    /// Delivers everything in flight except the center's directives (they stay queued).
    pub async fn settle_center_only(&mut self) {
        while let Some(s) = self.enabled().into_iter().find(|s| *s != Step::Directive) {
            self.step(s).await;
        }
    }

    pub fn answer_phone(&mut self, leg: LegId) {
        self.sip(SipIn::Answered {
            leg,
            answer: Some(sdp(6000)),
        });
    }

    pub fn caller_hangs_up(&mut self) {
        self.sip(SipIn::Ended {
            leg: CUSTOMER,
            cause: "bye".into(),
        });
    }

    fn drain_switch(&mut self) {
        while let Some(o) = self.sw.poll_output() {
            self.out(o);
        }
    }

    fn out(&mut self, o: Out) {
        let now = self.now();
        let cmd = |c: VoiceCommand, then: Then| ToCenter::Voice(c, then);
        match o {
            Out::MediaCreate { leg, .. } => {
                self.next_port += 2;
                self.sw.handle_leg_ready(leg, self.next_port, now);
            }
            Out::Locate {
                leg,
                party: Party::Agent(a),
                ..
            } => {
                self.dialed.insert(leg, a);
                let target = PhoneTarget {
                    uri: format!("sip:agent{a}@127.0.0.1:5060"),
                    destination: SocketAddr::from(([127, 0, 0, 1], 5060)),
                    tcp: false,
                    tls: false,
                    trunk: None,
                };
                self.sw.handle_located(leg, vec![target], now);
            }
            Out::SipHangup { leg } => {
                self.hung_up.insert(leg);
            }
            Out::MediaSource {
                leg: CUSTOMER,
                source: SourceSpec::Relay(other),
            } => {
                if let Some(&a) = self.dialed.get(&other) {
                    self.bridged_to = Some(a);
                }
            }
            Out::CreateContact {
                call,
                caller,
                caller_name,
                called,
                ..
            } => self.to_center.push_back(cmd(
                VoiceCommand::NewCall {
                    caller,
                    caller_name,
                    called,
                },
                Then::Created { call },
            )),
            Out::Enqueue {
                contact,
                queue,
                priority,
                attributes,
                ..
            } => self.to_center.push_back(cmd(
                VoiceCommand::Enqueue {
                    contact,
                    queue_id: self.queues[&queue],
                    priority,
                    requirements: vec![],
                    attributes,
                },
                Then::Enqueued { contact },
            )),
            Out::Accept { contact, agent } => self.to_center.push_back(cmd(
                VoiceCommand::Accept { contact, agent },
                Then::Accepted { contact, agent },
            )),
            Out::Connected { contact, agent } => self.to_center.push_back(cmd(
                VoiceCommand::Connected { contact, agent },
                Then::Nothing,
            )),
            Out::Reject {
                contact,
                agent,
                unreachable,
            } => self.to_center.push_back(cmd(
                VoiceCommand::Reject {
                    contact,
                    agent,
                    unreachable,
                },
                Then::Nothing,
            )),
            Out::EndContact {
                contact,
                side,
                cause,
            } => self.to_center.push_back(cmd(
                VoiceCommand::End {
                    contact,
                    side: side.as_str().into(),
                    cause,
                },
                Then::Nothing,
            )),
            Out::Event {
                contact,
                kind,
                agent,
                data,
            } => {
                if let Some(kind) = EventKind::parse(kind) {
                    self.to_center.push_back(cmd(
                        VoiceCommand::Event {
                            contact,
                            kind,
                            agent,
                            data,
                        },
                        Then::Nothing,
                    ))
                }
            }
            Out::AskPosition { contact } => self.to_center.push_back(cmd(
                VoiceCommand::Position { contact },
                Then::Position { contact },
            )),
            _ => {}
        }
    }

    fn directive(&mut self, d: VoiceDirective) {
        let now = self.now();
        match d {
            VoiceDirective::Offer {
                contact,
                agent,
                agent_name,
                callback,
                record,
            } => {
                let _ = self.sw.handle_offer(
                    contact,
                    agent,
                    agent_name,
                    callback.as_deref(),
                    record,
                    now,
                );
            }
            VoiceDirective::OfferWithdrawn { contact, agent } => self
                .sw
                .handle_center(CenterIn::OfferWithdrawn { contact, agent }, now),
            VoiceDirective::MaxWait { contact } => {
                self.sw.handle_center(CenterIn::MaxWait { contact }, now)
            }
            VoiceDirective::Ended { contact } => {
                self.sw.handle_center(CenterIn::Ended { contact }, now)
            }
            VoiceDirective::Transferred { contact } => self
                .sw
                .handle_center(CenterIn::Transferred { contact }, now),
            VoiceDirective::Resync { .. } => panic!("no resync in these tests"),
        }
        self.drain_switch();
    }

    // ----- the center's side -----------------------------------------------------------

    /// A command from a screen or the API (not from the switch).
    pub fn screen(&mut self, cmd: AgentCommand) {
        self.to_center.push_back(ToCenter::Agent(cmd));
    }

    pub fn presence(&mut self, agent: usize, p: tsunagu_acd::Presence) {
        let (agent_id, user) = self.agents[agent];
        self.screen(AgentCommand::SetPresence {
            agent_id,
            presence: p,
            reason: None,
            by_user: user,
        });
    }

    async fn deliver_to_center(&mut self) {
        match self.to_center.pop_front().unwrap() {
            ToCenter::Voice(c, then) => {
                let (tx, rx) = oneshot::channel();
                self.actor.handle(Command::Voice(c, tx)).await;
                let r = rx.await.expect("an answer");
                if let Err(e) = &r {
                    self.refused.push(e.to_string());
                }
                let back = match (then, r) {
                    (Then::Nothing, _) => None,
                    (Then::Created { call }, Ok(VoiceReply::Contact(row))) => {
                        self.contact = Some(row.id);
                        Some(CenterIn::ContactCreated {
                            call,
                            contact: row.id,
                        })
                    }
                    (Then::Enqueued { contact }, Ok(VoiceReply::Flag(record))) => {
                        Some(CenterIn::Enqueued { contact, record })
                    }
                    (Then::Enqueued { contact }, _) => Some(CenterIn::Ended { contact }),
                    (Then::Accepted { contact, agent }, r) => Some(CenterIn::AcceptResult {
                        contact,
                        agent,
                        ok: matches!(r, Ok(VoiceReply::Flag(true))),
                    }),
                    (
                        Then::Position { contact },
                        Ok(VoiceReply::Position {
                            position,
                            wait_secs,
                        }),
                    ) => Some(CenterIn::Position {
                        contact,
                        position,
                        wait_secs,
                    }),
                    (_, r) => panic!("unexpected answer {r:?}"),
                };
                self.answers.extend(back);
            }
            ToCenter::Agent(c) => {
                let (tx, rx) = oneshot::channel();
                self.actor.handle(Command::Agent(c, tx)).await;
                if let Err(e) = rx.await.expect("an answer") {
                    self.refused.push(e.to_string());
                }
            }
        }
        self.collect_directives();
    }

    /// Fires the router's next deadline, moving the clock there.
    pub async fn fire_next_timer(&mut self) -> bool {
        let Some(at) = self.actor.poll_timeout() else {
            return false;
        };
        self.clock.0.fetch_max(at, Ordering::SeqCst);
        self.actor.handle_timeout().await.unwrap();
        self.collect_directives();
        true
    }

    fn collect_directives(&mut self) {
        while let Ok((t, d)) = self.sink.try_recv() {
            assert_eq!(t, self.tenant);
            self.directives.push_back(d);
        }
    }

    // ----- what the records say --------------------------------------------------------

    pub async fn contact_row(&self) -> tsunagu_store::rows::ContactRow {
        self.store
            .contact(self.tenant, self.contact.expect("a contact"))
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn event_kinds(&self) -> Vec<String> {
        self.store
            .contact_events(self.tenant, self.contact.expect("a contact"))
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }

    /// (agent id, status) as stored.
    pub async fn agent_status(&self, agent: usize) -> String {
        let id = self.agents[agent].0;
        self.store
            .agent(self.tenant, id)
            .await
            .unwrap()
            .unwrap()
            .agent
            .status
    }
}

pub fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
}

/// Stateless exploration of every order in which the steps of a scenario can happen: the
/// scenario is run again from scratch for each order, following `choices` at each point
/// where several things could happen next and taking the first possibility past its end.
/// Returns the number of orders run.
pub struct Explorer {
    /// The choice made at each decision point of the current run, and how many there were.
    trail: Vec<(usize, usize)>,
    pos: usize,
}

impl Explorer {
    pub fn new() -> Explorer {
        Explorer {
            trail: Vec::new(),
            pos: 0,
        }
    }

    /// Picks one of `n` possibilities at the next decision point.
    pub fn choose(&mut self, n: usize) -> usize {
        assert!(n > 0);
        if self.pos == self.trail.len() {
            self.trail.push((0, n));
        }
        let (c, m) = self.trail[self.pos];
        assert_eq!(m, n, "the scenario is not deterministic");
        self.pos += 1;
        c
    }

    /// Moves to the next order; false when every order has been run.
    pub fn next(&mut self) -> bool {
        self.trail.truncate(self.pos);
        self.pos = 0;
        while let Some((c, n)) = self.trail.pop() {
            if c + 1 < n {
                self.trail.push((c + 1, n));
                return true;
            }
        }
        false
    }

    /// The choices of the current run, for a failure message.
    pub fn trail(&self) -> Vec<usize> {
        self.trail.iter().map(|&(c, _)| c).collect()
    }
}

/// Something a scenario makes happen while messages are in flight.
pub enum Event {
    /// A SIP message arrives, a screen sends a command, …
    Do(Box<dyn FnOnce(&mut World) + Send>),
    /// The router's next deadline comes (the clock moves to it).
    Timer,
}

impl Event {
    pub fn new(f: impl FnOnce(&mut World) + Send + 'static) -> Event {
        Event::Do(Box::new(f))
    }
}

/// Runs `events` (in any order) interleaved in every possible way with the deliveries they
/// cause, until nothing moves. `ex` picks among what is possible at each point.
pub async fn race(w: &mut World, mut events: Vec<Event>, ex: &mut Explorer) {
    loop {
        let steps = w.enabled();
        let n = events.len() + steps.len();
        if n == 0 {
            return;
        }
        let i = ex.choose(n);
        if i < events.len() {
            match events.remove(i) {
                Event::Do(f) => f(w),
                Event::Timer => {
                    w.fire_next_timer().await;
                }
            }
        } else {
            w.step(steps[i - events.len()]).await;
        }
    }
}
