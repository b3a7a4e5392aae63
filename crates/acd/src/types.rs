//! The vocabulary the router speaks: identifiers, channels, strategies, agent presence and
//! the configuration of queues, agents and contacts as the router sees them.
//!
//! Time is always a plain `i64` of milliseconds since the Unix epoch (UTC), passed in by the
//! caller. Durations are `i64` milliseconds too.

use std::fmt;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. The router never reads a clock: every input
/// carries the current time.
pub type UnixMillis = i64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        #[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(transparent))]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// An agent (a person who can be offered contacts).
    AgentId
);
id_type!(
    /// A contact: one customer interaction on one channel (a call, a chat, an email, a task).
    ContactId
);
id_type!(
    /// A queue: where contacts wait and which agents serve.
    QueueId
);
id_type!(
    /// A skill agents have at a proficiency and contacts may require.
    SkillId
);

/// The channel a contact arrives on. Agents have a separate capacity per channel.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize, Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Channel {
    Voice,
    Chat,
    Email,
    Task,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Voice, Channel::Chat, Channel::Email, Channel::Task];

    /// Dense index, for per-channel arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Chat => "chat",
            Channel::Email => "email",
            Channel::Task => "task",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a queue picks among the agents free to take a contact.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize, Deserialize),
    serde(rename_all = "kebab-case")
)]
pub enum Strategy {
    /// The agent who has been idle longest (since last becoming ready or finishing work).
    LongestIdle,
    /// Agents in queue order, continuing after the agent offered last in this queue.
    RoundRobin,
    /// The agent who has answered the fewest contacts.
    FewestContacts,
    /// The agent with the least accumulated talk time.
    LeastTalkTime,
    /// Every eligible free agent at once; the first to accept wins.
    RingAll,
    /// A pseudo-random free agent (deterministic for a given seed).
    Random,
    /// Top-down by the agent's position in the queue: the first free agent in the list.
    Ordered,
}

impl Strategy {
    pub const ALL: [Strategy; 7] = [
        Strategy::LongestIdle,
        Strategy::RoundRobin,
        Strategy::FewestContacts,
        Strategy::LeastTalkTime,
        Strategy::RingAll,
        Strategy::Random,
        Strategy::Ordered,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Strategy::LongestIdle => "longest-idle",
            Strategy::RoundRobin => "round-robin",
            Strategy::FewestContacts => "fewest-contacts",
            Strategy::LeastTalkTime => "least-talk-time",
            Strategy::RingAll => "ring-all",
            Strategy::Random => "random",
            Strategy::Ordered => "ordered",
        }
    }

    pub fn parse(s: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the agent has said about themselves: logged off, ready for work, or not ready.
/// The reason for not-ready is the caller's business (the router only needs to know that no
/// new offers may be made).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize, Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Presence {
    Offline,
    Available,
    NotReady,
}

impl Presence {
    pub const fn as_str(self) -> &'static str {
        match self {
            Presence::Offline => "offline",
            Presence::Available => "available",
            Presence::NotReady => "not_ready",
        }
    }
}

/// The state an agent is shown in, derived from presence and current work.
/// Precedence when several apply: offered > busy > after-call work > presence.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize, Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum AgentStatus {
    Offline,
    Available,
    NotReady,
    Offered,
    Busy,
    AfterCallWork,
}

impl AgentStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Offline => "offline",
            AgentStatus::Available => "available",
            AgentStatus::NotReady => "not_ready",
            AgentStatus::Offered => "offered",
            AgentStatus::Busy => "busy",
            AgentStatus::AfterCallWork => "acw",
        }
    }

    /// The status [`AgentStatus::as_str`] wrote; `None` for anything else.
    pub fn parse(s: &str) -> Option<AgentStatus> {
        [
            AgentStatus::Offline,
            AgentStatus::Available,
            AgentStatus::NotReady,
            AgentStatus::Offered,
            AgentStatus::Busy,
            AgentStatus::AfterCallWork,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// Concurrent contacts an agent may hold per channel. Voice is exclusive: an agent on a
/// call is offered nothing else, and an agent holding any other work is not offered a call.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Capacity {
    pub voice: u8,
    pub chat: u8,
    pub email: u8,
    pub task: u8,
}

impl Capacity {
    pub const fn get(&self, channel: Channel) -> u8 {
        match channel {
            Channel::Voice => self.voice,
            Channel::Chat => self.chat,
            Channel::Email => self.email,
            Channel::Task => self.task,
        }
    }
}

impl Default for Capacity {
    fn default() -> Self {
        Capacity {
            voice: 1,
            chat: 3,
            email: 5,
            task: 1,
        }
    }
}

/// One step of a skill requirement: from `after_ms` of waiting in the queue on, an agent
/// needs at least `min_level` in the skill. `min_level == 0` means the skill is no longer
/// required at all.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct RelaxStep {
    pub after_ms: i64,
    pub min_level: u8,
}

/// A required skill whose minimum proficiency relaxes in steps over waiting time,
/// e.g. ≥4 for the first 30 s, then ≥2, then any agent.
#[derive(Clone, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct SkillRequirement {
    pub skill: SkillId,
    /// Sorted by `after_ms`, first step at 0. Validated by [`SkillRequirement::validate`].
    pub steps: Vec<RelaxStep>,
}

impl SkillRequirement {
    /// A requirement that never relaxes.
    pub fn fixed(skill: SkillId, min_level: u8) -> Self {
        SkillRequirement {
            skill,
            steps: vec![RelaxStep {
                after_ms: 0,
                min_level,
            }],
        }
    }

    /// Checks the step list: non-empty, first step at 0, strictly increasing times,
    /// levels 0..=5 and never tightening.
    pub fn validate(&self) -> Result<(), crate::error::RelaxError> {
        use crate::error::RelaxError as E;
        let Some(first) = self.steps.first() else {
            return Err(E::NoSteps(self.skill));
        };
        if first.after_ms != 0 {
            return Err(E::FirstStepLate(self.skill));
        }
        for w in self.steps.windows(2) {
            if w[1].after_ms <= w[0].after_ms {
                return Err(E::TimesNotIncreasing(self.skill));
            }
            if w[1].min_level > w[0].min_level {
                return Err(E::Tightening(self.skill));
            }
        }
        if let Some(s) = self.steps.iter().find(|s| s.min_level > MAX_PROFICIENCY) {
            return Err(E::LevelTooHigh {
                skill: self.skill,
                level: s.min_level,
                max: MAX_PROFICIENCY,
            });
        }
        Ok(())
    }

    /// The level required after waiting `waited_ms`, and the waiting time at which the
    /// next relaxation happens (if any).
    pub fn level_at(&self, waited_ms: i64) -> (u8, Option<i64>) {
        let mut level = 0;
        let mut next = None;
        for s in &self.steps {
            if s.after_ms <= waited_ms {
                level = s.min_level;
            } else {
                next = Some(s.after_ms);
                break;
            }
        }
        (level, next)
    }
}

/// Highest proficiency an agent can have in a skill.
pub const MAX_PROFICIENCY: u8 = 5;

/// A queue as the router sees it.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct QueueConfig {
    pub id: QueueId,
    pub strategy: Strategy,
    /// Added to each contact's own priority; higher is more urgent.
    pub priority: i32,
    /// After this long waiting in the queue the contact overflows (or the caller is told).
    pub max_wait_ms: Option<i64>,
    /// Where contacts go when they have waited `max_wait_ms`. None: the router reports
    /// [`crate::Action::MaxWaitExceeded`] and forgets the contact.
    pub overflow: Option<QueueId>,
    /// After-call work time. None: until the agent finishes it; Some(0): none at all.
    pub wrap_up_ms: Option<i64>,
    /// How long an offer rings before it counts as a no-answer.
    pub no_answer_timeout_ms: i64,
    /// After this many no-answers in a row the agent is made not-ready. 0 disables it.
    pub max_no_answers: u32,
    /// Required skills for every contact of this queue (a contact may add or override).
    pub requirements: Vec<SkillRequirement>,
}

impl QueueConfig {
    /// A queue with common defaults: longest-idle, 20 s no-answer, 3 misses, no wrap-up.
    pub fn new(id: QueueId) -> Self {
        QueueConfig {
            id,
            strategy: Strategy::LongestIdle,
            priority: 0,
            max_wait_ms: None,
            overflow: None,
            wrap_up_ms: Some(0),
            no_answer_timeout_ms: 20_000,
            max_no_answers: 3,
            requirements: Vec::new(),
        }
    }
}

/// An agent's membership of a queue; `position` orders agents for the ordered and
/// round-robin strategies (ties broken by agent id).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Membership {
    pub queue: QueueId,
    pub position: u32,
}

/// An agent as the router sees it.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct AgentConfig {
    pub id: AgentId,
    /// Skill and proficiency 1..=5.
    pub skills: Vec<(SkillId, u8)>,
    pub capacity: Capacity,
    pub queues: Vec<Membership>,
}

/// Counters that strategies rank agents by; restored after a restart so that fewest-contacts
/// and least-talk-time stay fair across it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct AgentStats {
    pub handled: u64,
    pub talk_ms: i64,
    pub idle_since: Option<UnixMillis>,
}

/// A contact entering the router.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct ContactSpec {
    pub id: ContactId,
    pub queue: QueueId,
    pub channel: Channel,
    /// Higher is more urgent; each point counts as `priority_step_ms` of extra waiting.
    pub priority: i32,
    /// Added to (or overriding, per skill) the queue's requirements.
    pub requirements: Vec<SkillRequirement>,
    /// When the contact first entered the ACD. Age is measured from here; it survives
    /// requeue, overflow and restarts.
    pub arrived_at: UnixMillis,
    /// When the contact entered its current queue. Relaxation and max wait count from here.
    pub queue_entered_at: UnixMillis,
}

/// Router-wide settings.
#[derive(Clone, Copy, Debug)]
pub struct RouterConfig {
    /// How much waiting one point of priority is worth. A contact of priority p is ranked
    /// as if it had arrived `p * priority_step_ms` earlier. Use a huge value for strict
    /// priority.
    pub priority_step_ms: i64,
    /// Seed for the random strategy.
    pub seed: u64,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            priority_step_ms: 60_000,
            seed: 0x0074_7375_6e61_6775,
        }
    }
}
