//! The router's one timer queue.
//!
//! Timers are never removed: each owner remembers the sequence number of the timer it has
//! armed, and a popped timer whose number no longer matches is stale and ignored. That keeps
//! re-arming O(log n) and cancelling O(1).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::types::{AgentId, ContactId, UnixMillis};

/// Every kind of deadline the router has.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Timer {
    /// An offer rang too long without an answer.
    OfferExpiry { contact: ContactId },
    /// A contact's skill requirements relax one step.
    Relax { contact: ContactId },
    /// A contact reached its queue's maximum wait.
    MaxWait { contact: ContactId },
    /// An agent's after-call work time ran out.
    WrapUp { agent: AgentId, contact: ContactId },
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct Armed {
    pub(crate) at: UnixMillis,
    /// Arming order; also the identity the owner remembers.
    pub(crate) seq: u64,
    pub(crate) timer: Timer,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<Armed>>,
    next_seq: u64,
}

impl TimerQueue {
    /// Arms a timer and returns its sequence number (never 0).
    pub(crate) fn arm(&mut self, at: UnixMillis, timer: Timer) -> u64 {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.heap.push(Reverse(Armed { at, seq, timer }));
        seq
    }

    pub(crate) fn peek(&self) -> Option<&Armed> {
        self.heap.peek().map(|r| &r.0)
    }

    pub(crate) fn pop(&mut self) -> Option<Armed> {
        self.heap.pop().map(|r| r.0)
    }
}
