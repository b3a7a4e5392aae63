//! The digital twin: simulated traffic through the router and the contact core, read by
//! the live KPI figures.

use rustc_hash::FxHashMap;
use tsunagu_acd::sim::{Fact, NoProbe, SimStats, Simulation, Workload, START};
use tsunagu_acd::{AgentStatus, Router, RouterConfig, UnixMillis};
use tsunagu_contact::lifecycle::{self, Current, EndRequest, WrapUp};
use tsunagu_domain::contact::{ContactStatus, EventKind};
use tsunagu_domain::kpi::live::DayFigures;
use tsunagu_domain::kpi::{AgentStatusRecord, EventRecord, Kpis};

/// Service-level threshold (Y) of every simulated queue, ms.
pub const SL_THRESHOLD_MS: i64 = 20_000;
/// Abandons within this are short abandons, ms.
pub const SHORT_ABANDON_MS: i64 = 5_000;

/// A simulated contact as the contact core sees it.
#[derive(Clone, Copy, Debug)]
struct Contact {
    status: ContactStatus,
    queue: i64,
    agent: Option<i64>,
}

/// The center in simulated time. See the module docs.
pub struct Twin {
    sim: Simulation,
    router: Router,
    contacts: FxHashMap<u64, Contact>,
    figures: DayFigures,
    /// Timeline events made (every one read by the figures).
    pub events: u64,
    /// What the contact core refused (a fact the lifecycle rules do not allow): must stay 0.
    pub refused: u64,
    /// Every timeline event, when kept ([`Twin::keep_events`]).
    kept: Option<Vec<EventRecord>>,
    /// Every agent status change, when kept.
    kept_statuses: Option<Vec<AgentStatusRecord>>,
    /// The agents' states at the start.
    initial: Vec<AgentStatusRecord>,
}

impl Twin {
    /// A twin of `w`, starting at [`START`] (a local midnight in UTC terms).
    pub fn new(w: Workload) -> Twin {
        let queues = w.queues;
        let agents = w.agents as i64;
        let mut router = Router::new(RouterConfig::default());
        let mut sim = Simulation::new(w, &mut router);
        sim.record_facts();
        let mut figures = DayFigures::new(START, SHORT_ABANDON_MS);
        let mut members: Vec<Vec<i64>> = vec![Vec::new(); queues];
        for (q, a) in sim.members() {
            members[q.0 as usize - 1].push(a.0 as i64);
        }
        for (q, agents) in members.into_iter().enumerate() {
            figures.set_queue(q as i64 + 1, SL_THRESHOLD_MS, agents);
        }
        // The simulation makes every agent available at its start, before it records.
        let mut twin = Twin {
            sim,
            router,
            contacts: FxHashMap::default(),
            figures,
            events: 0,
            refused: 0,
            kept: None,
            kept_statuses: None,
            initial: Vec::new(),
        };
        for agent in 1..=agents {
            let s = AgentStatusRecord {
                agent,
                at: START,
                status: AgentStatus::Available,
            };
            twin.figures.handle_agent_status(&s);
            twin.initial.push(s);
        }
        twin
    }

    /// Keeps every timeline event and agent status change from now on, with the agents'
    /// states at [`START`] (for comparing with the recompute in tests).
    pub fn keep_events(&mut self) {
        self.kept.get_or_insert_with(Vec::new);
        self.kept_statuses
            .get_or_insert_with(|| self.initial.clone());
    }

    /// The timeline events kept so far.
    pub fn kept_events(&self) -> &[EventRecord] {
        self.kept.as_deref().unwrap_or_default()
    }

    /// The agent status changes kept so far.
    pub fn kept_statuses(&self) -> &[AgentStatusRecord] {
        self.kept_statuses.as_deref().unwrap_or_default()
    }

    pub fn now(&self) -> UnixMillis {
        self.sim.now()
    }

    /// What the simulation counted itself (arrivals, answers, abandons, …).
    pub fn sim_stats(&self) -> &SimStats {
        &self.sim.stats
    }

    /// Runs the simulation until `until` (simulated Unix ms).
    pub fn run_until(&mut self, until: UnixMillis) {
        while self.sim.now() < until {
            self.sim.step(&mut self.router, &mut NoProbe);
            for (at, fact) in self.sim.take_facts() {
                self.fact(at, fact);
            }
        }
    }

    /// The agents who serve `queue` (queues are numbered from 1).
    pub fn members(&self, queue: i64) -> Vec<i64> {
        self.sim
            .members()
            .into_iter()
            .filter(|(q, _)| q.0 as i64 == queue)
            .map(|(_, a)| a.0 as i64)
            .collect()
    }

    /// A queue's figures from the start until `now` (queues are numbered from 1).
    pub fn kpis(&self, queue: i64) -> Option<Kpis> {
        self.figures.kpis(queue, self.sim.now())
    }

    fn fact(&mut self, at: UnixMillis, fact: Fact) {
        match fact {
            Fact::Arrived { contact, queue } => {
                let queue = queue.0 as i64;
                self.contacts.insert(
                    contact.0,
                    Contact {
                        status: ContactStatus::Queued,
                        queue,
                        agent: None,
                    },
                );
                self.event(contact.0, at, EventKind::Queued, None);
            }
            Fact::Offered { contact, agent } => {
                if let Some(c) = self.contacts.get_mut(&contact.0) {
                    c.status = ContactStatus::Offered;
                }
                self.event(contact.0, at, EventKind::Offered, Some(agent.0 as i64));
            }
            Fact::Accepted { contact, agent } => {
                let agent = agent.0 as i64;
                if let Some(c) = self.contacts.get_mut(&contact.0) {
                    c.status = ContactStatus::Connected;
                    c.agent = Some(agent);
                }
                self.event(contact.0, at, EventKind::Accepted, Some(agent));
                self.event(contact.0, at, EventKind::Connected, Some(agent));
            }
            Fact::Abandoned { contact } | Fact::Ended { contact } => {
                self.end(contact.0, at, "customer:hangup");
            }
            Fact::WrapUpDone { contact, agent } => {
                let Some(c) = self.contacts.get(&contact.0).copied() else {
                    return;
                };
                match lifecycle::wrap_up(&current(contact.0, &c), agent.0 as i64, false) {
                    Ok(WrapUp::Complete) => {
                        self.event(contact.0, at, EventKind::AcwDone, c.agent);
                        self.contacts.remove(&contact.0);
                    }
                    Ok(_) => {}
                    Err(_) => self.refused += 1,
                }
            }
            Fact::Overflowed { contact, to } => {
                if let Some(c) = self.contacts.get_mut(&contact.0) {
                    c.queue = to.0 as i64;
                    c.status = ContactStatus::Queued;
                }
                self.event(contact.0, at, EventKind::Overflowed, None);
            }
            Fact::MaxWait { contact } => {
                self.event(contact.0, at, EventKind::MaxWaitReached, None);
                self.contacts.remove(&contact.0);
            }
            Fact::AgentStatus { agent, status } => self.agent_status(AgentStatusRecord {
                agent: agent.0 as i64,
                at,
                status,
            }),
        }
    }

    /// The contact core decides what the end makes of the contact.
    fn end(&mut self, id: u64, at: UnixMillis, reason: &str) {
        let Some(c) = self.contacts.get(&id).copied() else {
            return;
        };
        let request = EndRequest {
            reason: Some(reason.into()),
            ..EndRequest::default()
        };
        match lifecycle::end(&current(id, &c), &request) {
            Ok(ending) => {
                self.event(id, at, ending.event, ending.event_agent);
                if ending.status == ContactStatus::WrapUp {
                    if let Some(c) = self.contacts.get_mut(&id) {
                        c.status = ContactStatus::WrapUp;
                    }
                } else {
                    self.contacts.remove(&id);
                }
            }
            Err(_) => self.refused += 1,
        }
    }

    fn agent_status(&mut self, s: AgentStatusRecord) {
        self.figures.handle_agent_status(&s);
        if let Some(k) = &mut self.kept_statuses {
            k.push(s);
        }
    }

    fn event(&mut self, contact: u64, at: UnixMillis, kind: EventKind, agent: Option<i64>) {
        let queue = self.contacts.get(&contact).map(|c| c.queue);
        let e = EventRecord {
            contact: contact as i64,
            at,
            kind,
            queue,
            agent,
        };
        self.figures.handle_event(&e);
        while self.figures.poll_correction().is_some() {}
        if let Some(k) = &mut self.kept {
            k.push(e);
        }
        self.events += 1;
    }
}

fn current(id: u64, c: &Contact) -> Current {
    Current {
        id: id as i64,
        status: c.status,
        agent: c.agent,
        has_disposition: false,
    }
}
