//! How the router finds the next (contact, agents) match.
//!
//! The routing rule itself is fixed and shared (see the crate docs): repeatedly, the most
//! urgent waiting contact that some free agent may take is offered to the agent(s) its
//! queue's strategy picks. A matcher only answers "what is the next match?" and may keep
//! indexes to answer fast; the engine tells it before and after every change to an agent or
//! a contact so those indexes stay true.
//!
//! * [`IndexedMatcher`]: per-queue, per-channel ordered sets; looks only at what changed.
//! * [`NaiveMatcher`]: the reference — a linear scan of every (contact, agent) pair.
//!
//! The property tests hold the two to the same decisions.

mod indexed;
mod naive;

pub use indexed::IndexedMatcher;
pub use naive::NaiveMatcher;

use crate::types::{AgentId, ContactId};
use crate::world::{AgentIdx, ContactIdx, QueueIdx, World};

/// Contacts and agents whose eligibility may have grown since the last routing pass. Every
/// (contact, free agent) pair that may now match involves one of them: that is what lets the
/// indexed matcher avoid a global scan.
#[derive(Debug, Default, Clone)]
pub struct Touched {
    pub(crate) contacts: Vec<(ContactIdx, ContactId)>,
    pub(crate) agents: Vec<(AgentIdx, AgentId)>,
}

impl Touched {
    pub(crate) fn clear(&mut self) {
        self.contacts.clear();
        self.agents.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.contacts.is_empty() && self.agents.is_empty()
    }
}

/// A decision: offer `contact` to `agents` (one, or several for ring-all).
pub struct Match {
    pub(crate) contact: ContactIdx,
    pub(crate) agents: Vec<AgentIdx>,
}

/// The part of routing that may be done cleverly. Implemented by the indexed and the naive
/// matcher only.
pub trait Matcher: Default {
    /// Called before anything that affects agent `a`'s free capacity, presence, strategy
    /// keys or memberships changes.
    fn agent_leaving(&mut self, w: &World, a: AgentIdx);
    /// Called after such a change.
    fn agent_entered(&mut self, w: &World, a: AgentIdx);
    /// Called before contact `c` stops waiting, or before its queue or rank change.
    fn contact_leaving(&mut self, w: &World, c: ContactIdx);
    /// Called after contact `c` starts waiting (again).
    fn contact_entered(&mut self, w: &World, c: ContactIdx);
    /// A queue slot came into use.
    fn queue_added(&mut self, w: &World, q: QueueIdx);
    /// The next match, if any pair is eligible.
    fn next_match(&mut self, w: &World, touched: &Touched) -> Option<Match>;
}
