//! A fake-clock harness around the router for tests.
#![allow(dead_code)]

use tsunagu_acd::*;

pub const S: i64 = 1000;

pub struct Harness {
    pub r: Router,
    pub now: i64,
    pub log: Vec<Action>,
}

impl Harness {
    pub fn new() -> Self {
        Harness {
            r: Router::new(RouterConfig::default()),
            now: 1_000_000,
            log: Vec::new(),
        }
    }

    pub fn queue(&mut self, q: QueueConfig) {
        self.r.upsert_queue(self.now, q).unwrap();
        self.drain();
    }

    pub fn simple_queue(&mut self, id: u64, strategy: Strategy) {
        let mut q = QueueConfig::new(QueueId(id));
        q.strategy = strategy;
        self.queue(q);
    }

    pub fn agent(&mut self, id: u64, queues: &[(u64, u32)], skills: &[(u64, u8)]) {
        self.agent_cap(id, queues, skills, Capacity::default());
    }

    pub fn agent_cap(
        &mut self,
        id: u64,
        queues: &[(u64, u32)],
        skills: &[(u64, u8)],
        capacity: Capacity,
    ) {
        let cfg = AgentConfig {
            id: AgentId(id),
            skills: skills.iter().map(|&(s, l)| (SkillId(s), l)).collect(),
            capacity,
            queues: queues
                .iter()
                .map(|&(q, p)| Membership {
                    queue: QueueId(q),
                    position: p,
                })
                .collect(),
        };
        self.r.upsert_agent(self.now, cfg).unwrap();
        self.drain();
    }

    pub fn ready(&mut self, id: u64) -> Vec<Action> {
        self.r
            .handle_presence(self.now, AgentId(id), Presence::Available)
            .unwrap();
        self.drain()
    }

    pub fn not_ready(&mut self, id: u64) -> Vec<Action> {
        self.r
            .handle_presence(self.now, AgentId(id), Presence::NotReady)
            .unwrap();
        self.drain()
    }

    pub fn arrive(&mut self, id: u64, queue: u64, channel: Channel) -> Vec<Action> {
        self.arrive_with(id, queue, channel, 0, vec![])
    }

    pub fn arrive_with(
        &mut self,
        id: u64,
        queue: u64,
        channel: Channel,
        priority: i32,
        requirements: Vec<SkillRequirement>,
    ) -> Vec<Action> {
        let spec = ContactSpec {
            id: ContactId(id),
            queue: QueueId(queue),
            channel,
            priority,
            requirements,
            arrived_at: self.now,
            queue_entered_at: self.now,
        };
        self.r.handle_contact_arrived(self.now, spec).unwrap();
        self.drain()
    }

    pub fn accept(&mut self, contact: u64, agent: u64) -> Vec<Action> {
        self.r
            .handle_offer_accepted(self.now, ContactId(contact), AgentId(agent))
            .unwrap();
        self.drain()
    }

    pub fn reject(&mut self, contact: u64, agent: u64) -> Vec<Action> {
        self.r
            .handle_offer_rejected(self.now, ContactId(contact), AgentId(agent))
            .unwrap();
        self.drain()
    }

    pub fn end(&mut self, contact: u64) -> Vec<Action> {
        self.r
            .handle_contact_ended(self.now, ContactId(contact))
            .unwrap();
        self.drain()
    }

    pub fn wrap_up_done(&mut self, agent: u64, contact: u64) -> Vec<Action> {
        self.r
            .handle_wrap_up_done(self.now, AgentId(agent), ContactId(contact))
            .unwrap();
        self.drain()
    }

    /// Accept and end at once (a zero-length contact), for strategy tests.
    pub fn handle(&mut self, contact: u64, agent: u64) {
        self.accept(contact, agent);
        self.end(contact);
    }

    /// Accept and end at once; returns what ending it caused.
    pub fn complete(&mut self, contact: u64, agent: u64) -> Vec<Action> {
        self.accept(contact, agent);
        self.end(contact)
    }

    /// Moves the fake clock forward, firing every deadline on the way.
    pub fn advance(&mut self, ms: i64) -> Vec<Action> {
        let target = self.now + ms;
        self.r.handle_timeout(target);
        self.now = target;
        self.drain()
    }

    pub fn drain(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        while let Some(a) = self.r.poll_action() {
            out.push(a);
        }
        assert!(
            !self.r.has_eligible_pair(),
            "a routable pair was left unrouted"
        );
        self.log.extend(out.iter().cloned());
        out
    }
}

/// The (contact, agent) pairs offered in these actions, in order.
pub fn offers(actions: &[Action]) -> Vec<(u64, u64)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Offer { contact, agent, .. } => Some((contact.0, agent.0)),
            _ => None,
        })
        .collect()
}

pub fn offered_agent(actions: &[Action]) -> Option<u64> {
    let o = offers(actions);
    assert!(o.len() <= 1, "expected at most one offer, got {o:?}");
    o.first().map(|p| p.1)
}
