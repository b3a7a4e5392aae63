//! A synthetic contact center that drives a router in simulated time: Poisson arrivals
//! over many queues and channels, agents who answer (or reject, or miss), talk, wrap up and
//! take breaks, customers who give up. Fully deterministic for a seed, so a run can be
//! replayed against the indexed and the naive router and the two compared.
//!
//! Like the router, the simulation never reads a clock. Benchmarks measure router calls
//! through a [`Probe`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashSet;

use crate::action::Action;
use crate::engine::Engine;
use crate::matcher::Matcher;
use crate::types::*;
use crate::world::mix64;

/// Shape of the simulated center.
#[derive(Clone, Debug)]
pub struct Workload {
    pub agents: usize,
    pub skills: usize,
    pub queues: usize,
    /// Skills per agent; the agent serves every queue whose main skill it has.
    pub skills_per_agent: usize,
    /// Contacts arriving per second over the whole center.
    pub arrivals_per_s: f64,
    pub mean_talk_s: f64,
    pub wrap_up_s: i64,
    pub mean_patience_s: f64,
    pub seed: u64,
}

impl Workload {
    /// 10,000 agents, 200 skills, 1,000 queues, loaded to roughly 90 % occupancy.
    pub fn large() -> Self {
        Workload {
            agents: 10_000,
            skills: 200,
            queues: 1_000,
            skills_per_agent: 5,
            arrivals_per_s: 58.0,
            mean_talk_s: 180.0,
            wrap_up_s: 20,
            mean_patience_s: 90.0,
            seed: 42,
        }
    }

    /// A few dozen agents: for tests.
    pub fn small() -> Self {
        Workload {
            agents: 40,
            skills: 6,
            queues: 12,
            skills_per_agent: 2,
            arrivals_per_s: 0.25,
            mean_talk_s: 120.0,
            wrap_up_s: 10,
            mean_patience_s: 60.0,
            seed: 7,
        }
    }
}

/// Measures router calls. The crate never reads a clock; a benchmark implements this with
/// one.
pub trait Probe {
    fn input<R>(&mut self, f: impl FnOnce() -> R) -> R;
}

/// A probe that measures nothing.
pub struct NoProbe;

impl Probe for NoProbe {
    fn input<R>(&mut self, f: impl FnOnce() -> R) -> R {
        f()
    }
}

/// A small deterministic generator (splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponentially distributed with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival,
    Patience(ContactId),
    Respond {
        contact: ContactId,
        agent: AgentId,
        accept: bool,
    },
    End(ContactId),
    BreakStart(AgentId),
    BreakEnd(AgentId),
}

/// What happened to a contact or an agent in the simulated center, in order, for a
/// simulation that follows the contacts' lifecycle beside the router (the digital twin in
/// `tsunagu-wfm`). Recorded only when asked ([`Simulation::record_facts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fact {
    /// Entered the queue.
    Arrived {
        contact: ContactId,
        queue: QueueId,
    },
    Offered {
        contact: ContactId,
        agent: AgentId,
    },
    /// The agent took it: they are in touch from now.
    Accepted {
        contact: ContactId,
        agent: AgentId,
    },
    /// The customer gave up waiting.
    Abandoned {
        contact: ContactId,
    },
    /// The conversation is over (after-call work follows).
    Ended {
        contact: ContactId,
    },
    /// After-call work is over.
    WrapUpDone {
        contact: ContactId,
        agent: AgentId,
    },
    Overflowed {
        contact: ContactId,
        to: QueueId,
    },
    /// Waited the maximum with nowhere to go.
    MaxWait {
        contact: ContactId,
    },
    AgentStatus {
        agent: AgentId,
        status: AgentStatus,
    },
}

/// Counters of what happened.
#[derive(Clone, Debug, Default)]
pub struct SimStats {
    pub inputs: u64,
    pub arrivals: u64,
    pub offers: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub timed_out: u64,
    pub abandoned: u64,
    pub overflowed: u64,
    pub max_wait: u64,
    pub completed: u64,
    /// A digest of every action in order: equal digests, equal decisions.
    pub digest: u64,
}

#[derive(Clone, Debug)]
pub struct Simulation {
    w: Workload,
    rng: Rng,
    now: UnixMillis,
    events: BinaryHeap<Reverse<(UnixMillis, u64, Event)>>,
    seq: u64,
    queue_weights: Vec<f64>,
    waiting: FxHashSet<ContactId>,
    connected: FxHashSet<ContactId>,
    offers: FxHashSet<(ContactId, AgentId)>,
    next_contact: u64,
    pub stats: SimStats,
    /// Facts recorded since last taken, when recording.
    facts: Option<Vec<(UnixMillis, Fact)>>,
    /// Which agents serve which queue, as configured (queue, agent), in that order.
    members: Vec<(QueueId, AgentId)>,
}

/// The simulation's epoch: 2026-01-05 09:00 JST, a Monday morning.
pub const START: UnixMillis = 1_767_571_200_000;

impl Simulation {
    /// Configures `router` with the workload's queues and agents, makes every agent
    /// available and schedules the first events.
    pub fn new<M: Matcher>(w: Workload, router: &mut Engine<M>) -> Self {
        let mut rng = Rng::new(w.seed);
        let now = START;
        let mut sim = Simulation {
            rng: Rng::new(w.seed ^ 0xA5A5),
            now,
            events: BinaryHeap::new(),
            seq: 0,
            queue_weights: Vec::new(),
            waiting: FxHashSet::default(),
            connected: FxHashSet::default(),
            offers: FxHashSet::default(),
            next_contact: 1,
            stats: SimStats::default(),
            facts: None,
            members: Vec::new(),
            w: w.clone(),
        };

        // Queues: each has a main skill, which relaxes ≥3 → ≥1 → any.
        let strategies = [
            Strategy::LongestIdle,
            Strategy::LongestIdle,
            Strategy::LongestIdle,
            Strategy::LongestIdle,
            Strategy::RoundRobin,
            Strategy::FewestContacts,
            Strategy::LeastTalkTime,
            Strategy::Ordered,
            Strategy::Random,
            Strategy::LongestIdle,
        ];
        let queue_config = |q: usize, overflow: bool| QueueConfig {
            id: QueueId(q as u64 + 1),
            strategy: if q % 100 == 99 {
                Strategy::RingAll
            } else {
                strategies[q % 10]
            },
            priority: i32::from(q.is_multiple_of(3)),
            max_wait_ms: Some(240_000),
            overflow: overflow.then(|| QueueId(((q + 1) % w.queues) as u64 + 1)),
            wrap_up_ms: Some(w.wrap_up_s * 1000),
            no_answer_timeout_ms: 15_000,
            max_no_answers: 3,
            requirements: vec![SkillRequirement {
                skill: SkillId((q % w.skills) as u64 + 1),
                steps: vec![
                    RelaxStep {
                        after_ms: 0,
                        min_level: 3,
                    },
                    RelaxStep {
                        after_ms: 20_000,
                        min_level: 1,
                    },
                    RelaxStep {
                        after_ms: 60_000,
                        min_level: 0,
                    },
                ],
            }],
        };
        for q in 0..w.queues {
            router
                .upsert_queue(now, queue_config(q, false))
                .expect("valid queue");
            sim.queue_weights.push(1.0 + rng.below(10) as f64);
        }
        // Every fifth queue overflows into the next one (once they all exist).
        if w.queues > 1 {
            for q in (0..w.queues).step_by(5) {
                router
                    .upsert_queue(now, queue_config(q, true))
                    .expect("valid overflow");
            }
        }
        let total: f64 = sim.queue_weights.iter().sum();
        let mut acc = 0.0;
        for x in sim.queue_weights.iter_mut() {
            acc += *x / total;
            *x = acc;
        }

        // Agents: a few skills each, serving every queue of those skills.
        for a in 0..w.agents {
            let mut skills: Vec<(SkillId, u8)> = Vec::new();
            while skills.len() < w.skills_per_agent.min(w.skills) {
                let s = SkillId(rng.below(w.skills as u64) + 1);
                if !skills.iter().any(|x| x.0 == s) {
                    skills.push((s, 1 + rng.below(5) as u8));
                }
            }
            let mut queues = Vec::new();
            for &(s, _) in &skills {
                let mut q = (s.0 - 1) as usize;
                while q < w.queues {
                    queues.push(Membership {
                        queue: QueueId(q as u64 + 1),
                        position: rng.below(100) as u32,
                    });
                    q += w.skills;
                }
            }
            let blended = rng.below(5) == 0;
            let capacity = if blended {
                Capacity {
                    voice: 1,
                    chat: 3,
                    email: 2,
                    task: 1,
                }
            } else {
                Capacity {
                    voice: 1,
                    chat: 0,
                    email: 0,
                    task: 1,
                }
            };
            let id = AgentId(a as u64 + 1);
            sim.members.extend(queues.iter().map(|m| (m.queue, id)));
            router
                .upsert_agent(
                    now,
                    AgentConfig {
                        id,
                        skills,
                        capacity,
                        queues,
                    },
                )
                .expect("valid agent");
            router
                .handle_presence(now, id, Presence::Available)
                .expect("known agent");
            let first_break = now + (rng.exp(7_200.0) * 1000.0) as i64;
            sim.schedule(first_break, Event::BreakStart(id));
        }
        while router.poll_action().is_some() {}
        let first = now + sim.interarrival();
        sim.schedule(first, Event::Arrival);
        sim
    }

    /// Which agents serve which queue (queue, agent), sorted. Every agent is made
    /// available at [`START`].
    pub fn members(&self) -> Vec<(QueueId, AgentId)> {
        let mut m = self.members.clone();
        m.sort_unstable();
        m.dedup();
        m
    }

    pub fn now(&self) -> UnixMillis {
        self.now
    }

    /// From now on, keep what happens as [`Fact`]s for [`Simulation::take_facts`].
    pub fn record_facts(&mut self) {
        self.facts.get_or_insert_with(Vec::new);
    }

    /// The facts recorded since the last call, in order.
    pub fn take_facts(&mut self) -> Vec<(UnixMillis, Fact)> {
        self.facts.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn fact(&mut self, f: Fact) {
        if let Some(v) = &mut self.facts {
            v.push((self.now, f));
        }
    }

    fn schedule(&mut self, at: UnixMillis, e: Event) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, e)));
    }

    fn interarrival(&mut self) -> i64 {
        (self.rng.exp(1.0 / self.w.arrivals_per_s) * 1000.0).max(1.0) as i64
    }

    /// Processes the next event (a router deadline or a simulated event, whichever is
    /// first) and returns its time.
    pub fn step<M: Matcher, P: Probe>(&mut self, r: &mut Engine<M>, probe: &mut P) -> UnixMillis {
        let next_event = self.events.peek().map(|e| e.0 .0).unwrap_or(i64::MAX);
        match r.poll_timeout() {
            Some(t) if t <= next_event => {
                self.now = t;
                probe.input(|| r.handle_timeout(t));
                self.stats.inputs += 1;
            }
            _ => {
                let Reverse((t, _, e)) = self.events.pop().expect("arrivals never stop");
                self.now = t;
                self.event(r, probe, e);
            }
        }
        self.drain(r);
        self.now
    }

    /// Runs until simulated time `until`.
    pub fn run_until<M: Matcher, P: Probe>(
        &mut self,
        r: &mut Engine<M>,
        probe: &mut P,
        until: UnixMillis,
    ) {
        while self.now < until {
            self.step(r, probe);
        }
    }

    fn event<M: Matcher, P: Probe>(&mut self, r: &mut Engine<M>, probe: &mut P, e: Event) {
        let now = self.now;
        match e {
            Event::Arrival => {
                let next = now + self.interarrival();
                self.schedule(next, Event::Arrival);
                let u = self.rng.unit();
                let q = self
                    .queue_weights
                    .partition_point(|&c| c < u)
                    .min(self.w.queues - 1);
                let roll = self.rng.below(100);
                let channel = match roll {
                    0..=79 => Channel::Voice,
                    80..=94 => Channel::Chat,
                    _ => Channel::Email,
                };
                let id = ContactId(self.next_contact);
                self.next_contact += 1;
                let spec = ContactSpec {
                    id,
                    queue: QueueId(q as u64 + 1),
                    channel,
                    priority: i32::from(self.rng.below(20) == 0),
                    requirements: Vec::new(),
                    arrived_at: now,
                    queue_entered_at: now,
                };
                probe
                    .input(|| r.handle_contact_arrived(now, spec))
                    .expect("valid contact");
                self.stats.inputs += 1;
                self.stats.arrivals += 1;
                self.fact(Fact::Arrived {
                    contact: id,
                    queue: QueueId(q as u64 + 1),
                });
                self.waiting.insert(id);
                if channel != Channel::Email {
                    let patience = now + (self.rng.exp(self.w.mean_patience_s) * 1000.0) as i64;
                    self.schedule(patience, Event::Patience(id));
                }
            }
            Event::Patience(c) => {
                if self.waiting.remove(&c) {
                    probe
                        .input(|| r.handle_contact_ended(now, c))
                        .expect("live contact");
                    self.stats.inputs += 1;
                    self.stats.abandoned += 1;
                    self.fact(Fact::Abandoned { contact: c });
                }
            }
            Event::Respond {
                contact,
                agent,
                accept,
            } => {
                if self.offers.contains(&(contact, agent)) {
                    if accept {
                        probe
                            .input(|| r.handle_offer_accepted(now, contact, agent))
                            .expect("offered");
                        self.stats.accepted += 1;
                        self.fact(Fact::Accepted { contact, agent });
                        self.offers.remove(&(contact, agent));
                        self.waiting.remove(&contact);
                        self.connected.insert(contact);
                        let talk = now + (self.rng.exp(self.w.mean_talk_s) * 1000.0) as i64;
                        self.schedule(talk, Event::End(contact));
                    } else {
                        probe
                            .input(|| r.handle_offer_rejected(now, contact, agent))
                            .expect("offered");
                        self.stats.rejected += 1;
                    }
                    self.stats.inputs += 1;
                }
            }
            Event::End(c) => {
                if self.connected.remove(&c) {
                    probe
                        .input(|| r.handle_contact_ended(now, c))
                        .expect("connected");
                    self.stats.inputs += 1;
                    self.stats.completed += 1;
                    self.fact(Fact::Ended { contact: c });
                }
            }
            Event::BreakStart(a) => {
                probe
                    .input(|| r.handle_presence(now, a, Presence::NotReady))
                    .expect("agent");
                self.stats.inputs += 1;
                let back = now + 300_000 + self.rng.below(600_000) as i64;
                self.schedule(back, Event::BreakEnd(a));
            }
            Event::BreakEnd(a) => {
                probe
                    .input(|| r.handle_presence(now, a, Presence::Available))
                    .expect("agent");
                self.stats.inputs += 1;
                let next = now + (self.rng.exp(7_200.0) * 1000.0) as i64;
                self.schedule(next, Event::BreakStart(a));
            }
        }
    }

    fn drain<M: Matcher>(&mut self, r: &mut Engine<M>) {
        while let Some(action) = r.poll_action() {
            self.stats.digest = mix64(self.stats.digest ^ digest(&action));
            match action {
                Action::Offer { contact, agent, .. } => {
                    self.stats.offers += 1;
                    self.fact(Fact::Offered { contact, agent });
                    self.offers.insert((contact, agent));
                    let roll = self.rng.below(100);
                    if roll < 97 {
                        let delay = 1_000 + self.rng.below(6_000) as i64;
                        let accept = roll < 94;
                        self.schedule(
                            self.now + delay,
                            Event::Respond {
                                contact,
                                agent,
                                accept,
                            },
                        );
                    }
                }
                Action::OfferWithdrawn { contact, agent, .. } => {
                    self.offers.remove(&(contact, agent));
                }
                Action::OfferTimedOut { contact, agent } => {
                    self.offers.remove(&(contact, agent));
                    self.stats.timed_out += 1;
                }
                Action::Overflowed { contact, to, .. } => {
                    self.stats.overflowed += 1;
                    self.fact(Fact::Overflowed { contact, to });
                }
                Action::MaxWaitExceeded { contact, .. } => {
                    self.waiting.remove(&contact);
                    self.stats.max_wait += 1;
                    self.fact(Fact::MaxWait { contact });
                }
                Action::AgentAutoNotReady { agent } => {
                    self.schedule(self.now + 60_000, Event::BreakEnd(agent));
                }
                Action::WrapUpExpired { contact, agent } => {
                    self.fact(Fact::WrapUpDone { contact, agent });
                }
                Action::AgentStatus { agent, status } => {
                    self.fact(Fact::AgentStatus { agent, status });
                }
                Action::Requeued { .. } => {}
            }
        }
    }
}

fn digest(a: &Action) -> u64 {
    match *a {
        Action::Offer {
            contact,
            agent,
            expires_at,
            ..
        } => 1 ^ mix64(contact.0) ^ mix64(agent.0 << 1) ^ (expires_at as u64),
        Action::OfferWithdrawn { contact, agent, .. } => 2 ^ mix64(contact.0) ^ mix64(agent.0 << 1),
        Action::OfferTimedOut { contact, agent } => 3 ^ mix64(contact.0) ^ mix64(agent.0 << 1),
        Action::Requeued { contact, .. } => 4 ^ mix64(contact.0),
        Action::AgentAutoNotReady { agent } => 5 ^ mix64(agent.0),
        Action::Overflowed { contact, to, .. } => 6 ^ mix64(contact.0) ^ to.0,
        Action::MaxWaitExceeded { contact, .. } => 7 ^ mix64(contact.0),
        Action::WrapUpExpired { contact, agent } => 8 ^ mix64(contact.0) ^ mix64(agent.0 << 1),
        Action::AgentStatus { agent, status } => 9 ^ mix64(agent.0) ^ status as u64,
    }
}
