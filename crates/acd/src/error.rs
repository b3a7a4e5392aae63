//! Errors the router returns for inputs that do not fit its state. An input that is
//! rejected changes nothing.

use crate::types::{AgentId, ContactId, QueueId, SkillId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    #[error("unknown contact {0}")]
    UnknownContact(ContactId),
    #[error("contact {0} is already in the router")]
    DuplicateContact(ContactId),
    #[error("contact {contact} is not offered to agent {agent}")]
    NotOffered { contact: ContactId, agent: AgentId },
    #[error("agent {agent} has no after-call work for contact {contact}")]
    NotInWrapUp { contact: ContactId, agent: AgentId },
    #[error("contact {0} is not connected to an agent")]
    NotConnected(ContactId),
    #[error("agent {0} still has a connected contact or after-call work")]
    AgentBusy(AgentId),
    #[error("queue {0} still has contacts or members")]
    QueueInUse(QueueId),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}

/// Why a skill requirement's relaxation steps are refused
/// ([`crate::SkillRequirement::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelaxError {
    #[error("skill {0}: at least one step is needed")]
    NoSteps(SkillId),
    #[error("skill {0}: the first step must start at 0 s")]
    FirstStepLate(SkillId),
    #[error("skill {0}: step times must increase")]
    TimesNotIncreasing(SkillId),
    #[error("skill {0}: a later step may not require a higher level")]
    Tightening(SkillId),
    #[error("skill {skill}: level {level} is above the maximum {max}")]
    LevelTooHigh { skill: SkillId, level: u8, max: u8 },
}
